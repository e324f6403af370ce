"""Prove that a release (a folder or a Hub repo) was built from given inputs, by rebuilding it.

``verify_release`` checks, in order:

1. every data file against its name and the manifest (a file changed after the build);
2. every input against the manifest (:mod:`stepinst_data.dataset.provenance`);
3. when the inputs match: a rebuild with the recorded parameters, in a temporary folder, whose
   data files must equal the release's byte for byte (for a file that differs, the first
   differing row is named).

A Hub repo is read with ``huggingface_hub``: the manifest first, then only the data files it
lists (``snapshot_download`` with ``allow_patterns``), all at one commit. The rebuild is one
:func:`~stepinst_data.card.release.release` of the recorded plan, in a folder under the cache.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..card.croissant import CROISSANT, croissant_problems
from ..card.release import release
from ..dataset.configs import PRESETS
from ..dataset.manifest import MANIFEST, Manifest, read_manifest, versions
from ..dataset.outdir import rebuild_folder
from ..dataset.plan import config_parameters
from ..dataset.provenance import check_inputs
from ..source.natinst import Sampling
from ..source.digest import sha256_file
from ..source.fetch import default_cache_dir

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"


class VerifyError(ValueError):
    """A release that cannot be read or downloaded; the message says why and what to do."""


@dataclass
class Release:
    """A built folder on disk (a Hub repo is downloaded first) and its manifest."""

    folder: Path
    where: str  # the folder path, or datasets/ORG/NAME@commit
    manifest: Manifest
    data_files: list[str]  # every file under data/ the folder or repo holds (relative paths)


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)  # one line per difference
    notes: list[str] = field(default_factory=list)
    files_compared: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# --- the release ---------------------------------------------------------------------------------


def _looks_like_repo_id(target: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(target)
    except HFValidationError:
        return False
    return target.count("/") == 1


def open_release(
    target: str | os.PathLike,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    manifest_only: bool = False,
) -> Release:
    """The local folder ``target``, or the Hub dataset repo ``target`` (ORG/NAME) downloaded."""
    path = Path(target)
    if path.exists():
        if not path.is_dir():
            raise VerifyError(f"{target} is a file; pass a folder built by `stepinst build` or a Hub repo ORG/NAME")
        data = sorted(p.relative_to(path).as_posix() for p in (path / "data").rglob("*") if p.is_file())
        return Release(path, str(path), read_manifest(path), data)
    if not _looks_like_repo_id(str(target)):
        raise VerifyError(f"{target}: no such folder, and not a Hub repo id (ORG/NAME)")
    return _download(str(target), revision, endpoint, token, manifest_only)


def _download(repo_id: str, revision: str | None, endpoint: str | None, token: str | None, manifest_only: bool) -> Release:
    """The manifest, then only the data files it lists, all at the commit ``revision`` resolves to."""
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    name = f"datasets/{repo_id}" + (f"@{revision}" if revision else "")
    try:
        info = HfApi(endpoint=endpoint, token=token).repo_info(repo_id, repo_type=REPO_TYPE, revision=revision)
        where = f"datasets/{repo_id}@{info.sha[:12]}"
        manifest_path = Path(hf_hub_download(repo_id, MANIFEST, repo_type=REPO_TYPE, revision=info.sha, endpoint=endpoint, token=token))
        manifest = read_manifest(manifest_path.parent, where=where)
        listed = sorted(manifest.written_files())
        folder = manifest_path.parent
        if not manifest_only:
            logger.info("downloading %d data files of %s", len(listed), where)
            folder = Path(snapshot_download(
                repo_id, repo_type=REPO_TYPE, revision=info.sha, allow_patterns=[MANIFEST, CROISSANT, *listed], endpoint=endpoint, token=token
            ))
    except EntryNotFoundError:
        raise VerifyError(f"{name}: no {MANIFEST}; this repo was not built by `stepinst build`, so there is nothing to verify it against") from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise VerifyError(f"{name}: {type(e).__name__}; check the repo id and --revision (a private repo needs HF_TOKEN or `hf auth login`)") from None
    except (OSError, HfHubHTTPError) as e:
        raise VerifyError(f"{name}: download failed ({type(e).__name__}: {e}); check the connection and rerun") from e
    data = sorted(s.rfilename for s in info.siblings or [] if s.rfilename.startswith("data/"))
    return Release(folder, where, manifest, data)


# --- data files ----------------------------------------------------------------------------------


def _data_entries(manifest: Manifest) -> Iterator[tuple[str, str, str, str | None]]:
    """(config, split, relative path, recorded sha256) of every data file a manifest lists."""
    for config, entry in manifest.configs.items():
        for split, path in entry.files.items():
            yield config, split, path, entry.sha256.get(split)


def _name_digest(path: str) -> str:
    return Path(path).stem.rpartition("-")[2]


def check_files(release: Release) -> list[str]:
    """Every listed data file present and unchanged since the build; no data file the build did not write."""
    problems = []
    listed = set()
    for config, split, path, recorded in _data_entries(release.manifest):
        listed.add(path)
        file = release.folder / path
        if not file.is_file():
            problems.append(f"{config} {split} {path}: missing from {release.where}")
            continue
        actual = sha256_file(file)
        if not actual.startswith(_name_digest(path)) or (recorded and actual != recorded):
            problems.append(
                f"{config} {split} {path}: changed after the build: sha256 {actual[:16]}…, "
                f"its name says {_name_digest(path)}…" + (f", the manifest {recorded[:16]}…" if recorded else "")
            )
    for path in release.data_files:
        if path not in listed:
            problems.append(f"{path}: in {release.where} but not in its {MANIFEST} (not written by this build)")
    return problems


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        yield from batch.to_pylist()


def _row_id(row: dict[str, Any]) -> str:
    if "id" in row:
        return str(row["id"])
    return f"{row.get('task_name')}/{row.get('annotator')}"  # the ratings configuration


def first_difference(released: Path, rebuilt: Path) -> str:
    """Where two data files first differ, by row id (or why they cannot be compared)."""
    try:
        for index, (a, b) in enumerate(itertools.zip_longest(_rows(released), _rows(rebuilt))):
            if a == b:
                continue
            if a is None or b is None:
                return f"the rebuild has {'more' if a is None else 'fewer'} rows; first unmatched row id {_row_id(a or b)} (row {index})"
            columns = [c for c in b if a.get(c) != b.get(c)]
            return f"first differing row id {_row_id(a)} (row {index}; column(s) {', '.join(columns)})"
    except Exception as e:  # a damaged Parquet file: name it instead of a traceback
        return f"cannot be read for a row comparison ({type(e).__name__}: {e})"
    return "same rows, different bytes (Parquet encoding: compare the pyarrow versions)"


def compare_rebuild(release: Release, rebuilt: Path, rebuilt_manifest: Manifest) -> tuple[list[str], int]:
    """One line per data file of the release that the rebuild does not reproduce byte for byte."""
    problems, compared = [], 0
    rebuilt_files = {(c, s): (p, sha) for c, s, p, sha in _data_entries(rebuilt_manifest)}
    for config, split, path, recorded in _data_entries(release.manifest):
        new = rebuilt_files.pop((config, split), None)
        if new is None:
            problems.append(f"{config} {split} {path}: the rebuild writes no {split} split for {config}")
            continue
        compared += 1
        new_path, new_sha = new
        if new_sha == (recorded or sha256_file(release.folder / path)):
            continue
        where = first_difference(release.folder / path, rebuilt / new_path) if (release.folder / path).is_file() else "missing"
        problems.append(f"{config} {split} {path}: differs from the rebuild ({new_path}): {where}{_parameter_hint(release.manifest, config)}")
    for (config, split), (new_path, _) in rebuilt_files.items():
        problems.append(f"{config} {split}: the rebuild writes {new_path}, which the release does not have")
    return problems, compared


def _parameter_hint(manifest: Manifest, config: str) -> str:
    """The recorded parameters of ``config`` that differ from the preset of that name, and the
    recorded sampling where it differs from the default, if any."""
    recorded = next((c for c in manifest.plan.configs or () if c["name"] == config), None)
    preset = config_parameters(PRESETS[config]) if config in PRESETS else {}
    changed = [f"{k}={v!r} (preset: {preset[k]!r})" for k, v in (recorded or {}).items() if k != "description" and k in preset and preset[k] != v]
    default = Sampling()
    changed += [f"{k}={getattr(manifest.plan.sampling, k)!r} (default: {getattr(default, k)!r})"
                for k in ("max_num_instances_per_task", "max_num_instances_per_eval_task", "seed")
                if getattr(manifest.plan.sampling, k) != getattr(default, k)]
    return f"; rebuilt with the recorded {', '.join(changed)}" if changed else ""


# --- rebuilding ----------------------------------------------------------------------------------


def _version_notes(manifest: Manifest) -> list[str]:
    now = versions()
    return [
        f"built with {name} {version}, this is {name} {now.get(name)}: the Parquet bytes may differ; "
        f"install {name}=={version} to reproduce them"
        for name, version in manifest.versions.items()
        if now.get(name) != version
    ]


def verify_release(
    target: str | os.PathLike,
    natinst: str,
    steps: str | None = None,
    ratings: str | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int = 1,
    endpoint: str | None = None,
    token: str | None = None,
) -> VerifyReport:
    """Check the release ``target`` (folder or Hub repo) against ``natinst``, ``steps`` and ``ratings``."""
    published = open_release(target, revision=revision, endpoint=endpoint, token=token)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    report = VerifyReport(notes=_version_notes(published.manifest))
    report.problems += check_files(published)
    report.problems += croissant_problems(published.folder, published.manifest)
    inputs = check_inputs(published.manifest, natinst, steps, ratings, cache)
    report.problems += inputs.problems
    report.notes += inputs.notes
    if inputs.problems:
        report.notes.append("rebuild skipped: the inputs differ from those the manifest records")
        return report
    recorded = published.manifest.inputs
    rebuilt = rebuild_folder(cache)  # under the cache; a killed run's rebuild is removed by the next one
    try:
        built = release(published.manifest.plan, natinst, rebuilt, steps if recorded.steps else None,
                        ratings if recorded.ratings else None, cache_dir=cache, num_proc=num_proc, progress=False)
        problems, report.files_compared = compare_rebuild(published, rebuilt, built.manifest)
    finally:
        shutil.rmtree(rebuilt, ignore_errors=True)
    report.problems += problems
    return report
