"""The build manifest (``stepinst_build.json``): what a release was built from, and with what.

People read the card; machines read the manifest. It names every input by its content — the
SUP-NATINST archive's sha256 and the sha256 of every task file and split list read, the sha256 of
the steps and ratings stores and of each task's record in them — plus the build's plan (every
parameter), the data files written, the card's sha256 and the versions of the libraries that
wrote the bytes. ``stepinst verify`` checks inputs against it and rebuilds; ``stepinst build
--like`` replays its plan. Local paths are never recorded (the manifest is published): stores are
named by file name, a folder checkout by its digest.

This module is the only reader and writer of the file: :class:`Manifest` is its typed shape,
:func:`read_manifest` the one way in (a clear error for a manifest of another format), and
:func:`write_manifest` the one way out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import datasets
import msgspec
import pyarrow as pa

from .. import __version__
from ..source.digest import SourceDigest, sha256_file
from ..source.fetch import is_url, recorded_archive_sha256
from ..stores.ratings import RatingsStore
from ..stores.steps import StepsRecord
from .inputs import BuildInputs
from .plan import BuildPlan

logger = logging.getLogger(__name__)

MANIFEST = "stepinst_build.json"
MANIFEST_FORMAT = 3
"""1: files and row counts only; 2: inputs and untyped parameters; 3: the typed plan and the card's sha256."""


class ManifestError(ValueError):
    """A folder whose manifest is missing, unreadable or of another format; the message says what to do."""


class NatinstInput(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The SUP-NATINST source: archive URL and sha256 (when fetched), and the digest of the files read."""

    source: str
    url: str | None = None
    archive_sha256: str | None = None
    digest: str
    num_files: int
    files: dict[str, str]


class StepsInput(msgspec.Struct, kw_only=True):
    """The steps store: its sha256, the models and prompt versions used, and each used record's digest."""

    file: str
    sha256: str
    records: int
    records_used: int
    models: dict[str, int]
    prompt_versions: dict[str, int]
    tasks: dict[str, str]


class RatingsInput(msgspec.Struct, kw_only=True):
    """The ratings store: its sha256, rubric, record and annotator counts, and each rated task's digest."""

    file: str
    sha256: str
    rubric: str
    records: int
    annotators: int
    tasks: dict[str, str]


class Inputs(msgspec.Struct, kw_only=True):
    natinst: NatinstInput | None
    steps: StepsInput | None
    ratings: RatingsInput | None


class DataFiles(msgspec.Struct, kw_only=True):
    """One configuration's data files, per split: path, row count, sha256."""

    files: dict[str, str]
    num_examples: dict[str, int]
    sha256: dict[str, str]


class Manifest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The typed content of ``stepinst_build.json``."""

    manifest_format: int = MANIFEST_FORMAT
    stepinst_version: str
    plan: BuildPlan
    configs: dict[str, DataFiles]
    missing_tasks: list[str]
    skipped_empty_tasks: list[str]
    inputs: Inputs
    versions: dict[str, str]
    card_sha256: str | None = None

    def written_files(self) -> set[str]:
        """The relative paths of every data file the build wrote."""
        return {path for entry in self.configs.values() for path in entry.files.values()}


# --- what identifies each input ------------------------------------------------------------------


def _record_digest(value: Any) -> str:
    """A short digest of one record (canonical JSON): enough to name the task whose record changed."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def steps_task_digests(records: dict[str, StepsRecord]) -> dict[str, str]:
    return {name: _record_digest(asdict(record)) for name, record in sorted(records.items())}


def ratings_task_digests(store: RatingsStore, tasks: set[str]) -> dict[str, str]:
    """Per rated task of the build, a digest of its ratings (in store order)."""
    by_task: dict[str, list[dict]] = {}
    for record in store.records:
        if record["task_name"] in tasks:
            by_task.setdefault(record["task_name"], []).append(record)
    return {name: _record_digest(records) for name, records in sorted(by_task.items())}


def _describe_steps(inputs: BuildInputs) -> StepsInput | None:
    """The steps store: the models and prompt versions used, each used record's digest (sha256: later)."""
    if inputs.steps is None:
        return None
    built = sorted(info.name for info in inputs.table.infos)
    used = {name: inputs.steps[name] for name in built if name in inputs.steps}
    return StepsInput(
        file=Path(inputs.steps_path).name,
        sha256="",
        records=len(inputs.steps),
        records_used=len(used),
        models=dict(sorted(Counter(r.model for r in used.values()).items())),
        prompt_versions=dict(sorted(Counter(r.prompt_version for r in used.values()).items())),
        tasks=steps_task_digests(used),
    )


def _describe_ratings(inputs: BuildInputs) -> RatingsInput | None:
    """The ratings store: rubric, record and annotator counts, each rated task's digest (sha256: later)."""
    if inputs.ratings is None:
        return None
    return RatingsInput(
        file=Path(inputs.ratings_path or "").name,
        sha256="",
        rubric=inputs.ratings.rubric.name,
        records=len(inputs.ratings.records),
        annotators=len({r["annotator"] for r in inputs.ratings.records}),
        tasks=ratings_task_digests(inputs.ratings, {info.name for info in inputs.table.infos}),
    )


def versions() -> dict[str, str]:
    """The versions that decide the bytes of the data files."""
    return {"stepinst": __version__, "datasets": datasets.__version__, "pyarrow": pa.__version__}


def build_manifest(plan: BuildPlan, inputs: BuildInputs, written: list, natinst: str, cache_dir: Path,
                   source: SourceDigest) -> Manifest:
    """The manifest of the data files ``written`` (the export's ``ConfigFiles``) by ``plan`` from
    ``inputs``; ``natinst`` is the source as given (folder or URL), ``source`` the digest of its files."""
    steps, ratings = _describe_steps(inputs), _describe_ratings(inputs)
    manifest = Manifest(
        stepinst_version=__version__,
        plan=plan,
        configs={w.config.name: DataFiles(files=w.files, num_examples=w.num_examples, sha256=w.sha256) for w in written},
        missing_tasks=inputs.table.missing,
        skipped_empty_tasks=inputs.table.skipped_empty,
        inputs=Inputs(natinst=NatinstInput(source="folder", digest=source.digest, num_files=len(source.files), files=source.files),
                      steps=steps, ratings=ratings),
        versions=versions(),
    )
    # The files are hashed last, all together: what identifies the stores and the archive by content.
    if steps:
        steps.sha256 = sha256_file(inputs.steps_path)
    if ratings:
        ratings.sha256 = sha256_file(inputs.ratings_path)
    if is_url(natinst):
        manifest.inputs.natinst.source, manifest.inputs.natinst.url = "archive", natinst
        manifest.inputs.natinst.archive_sha256 = recorded_archive_sha256(natinst, cache_dir)
    return manifest


def input_changes(old: Manifest, new: Manifest) -> list[str]:
    """The inputs whose identity differs between two manifests (one line each)."""
    changes = []
    for name, key in (("natinst", "digest"), ("steps", "sha256"), ("ratings", "sha256")):
        before, after = getattr(old.inputs, name), getattr(new.inputs, name)
        if getattr(before, key, None) != getattr(after, key, None):
            changes.append(f"the {name} input differs from the one the release was built from")
    return changes


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """``folder/stepinst_build.json``: indented JSON, keys in a fixed order, a final newline."""
    (folder / MANIFEST).write_bytes(msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n")


# --- reading a manifest back ---------------------------------------------------------------------


class _Header(msgspec.Struct):
    manifest_format: int = 1
    stepinst_version: str = "?"


class _Files(msgspec.Struct):
    files: dict[str, str] = {}


class _Written(msgspec.Struct):
    """What any format of manifest says a build wrote (read to replace a previous build)."""

    configs: dict[str, _Files]
    card_sha256: str | None = None


def _rebuild_advice(where: str) -> str:
    """What to do about a broken manifest: a build never replaces such a folder, so a new one."""
    return "build it again into a new folder: `stepinst build --natinst ... --out NEW_FOLDER` (a folder whose manifest is broken is never replaced)"


def read_manifest(folder: str | os.PathLike, where: str | None = None) -> Manifest:
    """The manifest of a built folder, checked to be of the format this stepinst reads and replays.

    ``where`` names the folder or repo in messages (default: the folder path).
    """
    where = where or str(folder)
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{where}: no {MANIFEST}; this folder was not built by `stepinst build`, so there is nothing to verify it against")
    raw = path.read_bytes()
    try:
        header = msgspec.json.decode(raw, type=_Header)
    except msgspec.DecodeError as e:
        raise ManifestError(f"{where}/{MANIFEST}: not valid JSON ({e}); {_rebuild_advice(where)}") from None
    except msgspec.ValidationError as e:
        raise ManifestError(f"{where}/{MANIFEST}: not a stepinst manifest ({e}); {_rebuild_advice(where)}") from None
    if header.manifest_format > MANIFEST_FORMAT:
        raise ManifestError(
            f"{where}/{MANIFEST} has manifest format {header.manifest_format} (stepinst {header.stepinst_version}), newer than "
            f"this stepinst {__version__} reads ({MANIFEST_FORMAT}); upgrade stepinst (pip install -U stepinst) to verify or replay it"
        )
    if header.manifest_format < MANIFEST_FORMAT:
        raise ManifestError(
            f"{where}/{MANIFEST} has manifest format {header.manifest_format} (stepinst {header.stepinst_version}), older than "
            f"this stepinst {__version__} reads ({MANIFEST_FORMAT}); rebuild it with this stepinst to make it verifiable: "
            f"`stepinst build --natinst ... --out {where}` replaces a previous build in place"
        )
    try:
        return msgspec.json.decode(raw, type=Manifest)
    except msgspec.ValidationError as e:
        raise ManifestError(f"{where}/{MANIFEST}: not a stepinst manifest ({e}); {_rebuild_advice(where)}") from None


def recorded_output(folder: Path) -> tuple[set[str], str | None] | None:
    """(every file a previous build wrote, its card's sha256), from a manifest of any format;
    None when ``folder`` holds no readable manifest."""
    try:
        written = msgspec.json.decode((folder / MANIFEST).read_bytes(), type=_Written)
    except (OSError, msgspec.MsgspecError):
        return None
    return {path for entry in written.configs.values() for path in entry.files.values()}, written.card_sha256
