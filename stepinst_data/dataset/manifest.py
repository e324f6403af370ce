"""The build manifest (``stepinst_build.json``): what a release was built from, and with what.

People read the card; machines read the manifest. It names every input by its content — the
SUP-NATINST archive's sha256 and the sha256 of every task file and split list read, the sha256 of
the steps and ratings stores and of each task's record in them — plus every build parameter and
the versions of the libraries that wrote the bytes. ``stepinst verify`` checks inputs against it
and rebuilds; ``stepinst build --like`` replays its parameters. Local paths are never recorded
(the manifest is published): stores are named by file name, a folder checkout by its digest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa

from .. import __version__
from ..source.digest import BackgroundDigest, SourceDigest, sha256_file
from ..source.fetch import is_url, recorded_archive_sha256
from ..source.natinst import Sampling
from ..stores.ratings import RatingsStore
from ..stores.steps import StepsRecord
from .configs import StepInstConfig
from .inputs import BuildInputs, BuildRequest
from .stats import MANIFEST

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 2  # 1: files and row counts only (stepinst 0.1.0 before inputs were recorded)
_BUILDER_FIELDS = {"version", "data_dir", "data_files"}  # datasets.BuilderConfig fields stepinst never sets


class ManifestError(ValueError):
    """A folder whose manifest is missing, unreadable or from another stepinst; the message says what to do."""


# --- what identifies each input ------------------------------------------------------------------


def _record_digest(value: Any) -> str:
    """A short digest of one record (canonical JSON): enough to name the task whose record changed."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def describe_natinst(request: BuildRequest, digest: SourceDigest) -> dict[str, Any]:
    """The SUP-NATINST source: archive URL and sha256 (when fetched), and the digest of the files read."""
    entry: dict[str, Any] = {"source": "archive" if is_url(request.natinst) else "folder"}
    if is_url(request.natinst):
        entry["url"] = request.natinst
        entry["archive_sha256"] = recorded_archive_sha256(request.natinst, request.cache_dir)
    entry.update(digest=digest.digest, num_files=len(digest.files), files=digest.files)
    return entry


def _steps_used(inputs: BuildInputs) -> dict[str, StepsRecord]:
    built = [info.name for info in inputs.table.infos]
    return {name: inputs.steps[name] for name in sorted(built) if name in inputs.steps}


def describe_steps(inputs: BuildInputs) -> dict[str, Any] | None:
    """The steps store: its sha256, the models and prompt versions used, and each used record's digest."""
    if inputs.steps is None:
        return None
    used = _steps_used(inputs)
    return {
        "file": Path(inputs.steps_path).name,
        "sha256": sha256_file(inputs.steps_path),
        "records": len(inputs.steps),
        "records_used": len(used),
        "models": dict(sorted(Counter(r.model for r in used.values()).items())),
        "prompt_versions": dict(sorted(Counter(r.prompt_version for r in used.values()).items())),
        "tasks": steps_task_digests(used),
    }


def steps_task_digests(records: dict[str, StepsRecord]) -> dict[str, str]:
    return {name: _record_digest(asdict(record)) for name, record in sorted(records.items())}


def ratings_task_digests(store: RatingsStore, tasks: set[str]) -> dict[str, str]:
    """Per rated task of the build, a digest of its ratings (in store order)."""
    by_task: dict[str, list[dict]] = {}
    for record in store.records:
        if record["task_name"] in tasks:
            by_task.setdefault(record["task_name"], []).append(record)
    return {name: _record_digest(records) for name, records in sorted(by_task.items())}


def describe_ratings(inputs: BuildInputs) -> dict[str, Any] | None:
    """The ratings store: its sha256, rubric, record and annotator counts, and each rated task's digest."""
    if inputs.ratings is None:
        return None
    tasks = ratings_task_digests(inputs.ratings, {info.name for info in inputs.table.infos})
    return {
        "file": Path(inputs.ratings_path or "").name,
        "sha256": sha256_file(inputs.ratings_path),
        "rubric": inputs.ratings.rubric.name,
        "records": len(inputs.ratings.records),
        "annotators": len({r["annotator"] for r in inputs.ratings.records}),
        "tasks": tasks,
    }


# --- parameters and versions ---------------------------------------------------------------------


def config_parameters(config: StepInstConfig) -> dict[str, Any]:
    """Every parameter of a configuration (name and description included), as JSON values."""
    return {f.name: getattr(config, f.name) for f in fields(config) if f.name not in _BUILDER_FIELDS}


def versions() -> dict[str, str]:
    """The versions that decide the bytes of the data files."""
    return {"stepinst": __version__, "datasets": datasets.__version__, "pyarrow": pa.__version__}


def source_hashing(inputs: BuildInputs) -> BackgroundDigest | None:
    """The task files' digests for the manifest: hashing since the parse began (inputs from
    :func:`load_build_inputs`), or from now on, beside the writing (a pickled copy); None for
    inputs made by hand, whose manifest cannot name the source."""
    request = inputs.request
    if request is None:
        return None
    return inputs.source_digest or BackgroundDigest(request.root, request.allow_missing_tasks, request.cache_dir)


def build_manifest(inputs: BuildInputs, written: list, natinst: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest of the data files ``written`` (the export's ``ConfigFiles``) from ``inputs``.

    ``natinst`` is the source's entry (:func:`describe_natinst`), None when the inputs were not
    loaded by :func:`load_build_inputs` (the manifest then cannot name the source).
    """
    request = inputs.request
    parameters: dict[str, Any] = {"configs": [config_parameters(w.config) for w in written]}
    if request is None:
        logger.warning("these inputs were not loaded by load_build_inputs: the manifest cannot name the SUP-NATINST source")
    else:
        parameters.update(
            sampling=asdict(request.sampling),
            validation_tasks=request.validation_tasks,
            allow_missing_tasks=request.allow_missing_tasks,
            skip_empty_tasks=request.skip_empty_tasks,
        )
    return {
        "stepinst_version": __version__,
        "manifest_format": MANIFEST_FORMAT,
        "configs": {
            w.config.name: {"files": w.files, "num_examples": w.num_examples, "sha256": w.sha256} for w in written
        },
        "missing_tasks": inputs.table.missing,
        "skipped_empty_tasks": inputs.table.skipped_empty,
        "inputs": {"natinst": natinst, "steps": describe_steps(inputs), "ratings": describe_ratings(inputs)},
        "parameters": parameters,
        "versions": versions(),
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- reading a manifest back ---------------------------------------------------------------------


def _newer(recorded: str, current: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(recorded) > Version(current)
    except InvalidVersion:
        return recorded != current


def read_manifest(folder: str | os.PathLike, where: str | None = None) -> dict[str, Any]:
    """The manifest of a built folder, checked to be one this stepinst can verify and replay.

    ``where`` names the folder or repo in messages (default: the folder path).
    """
    where = where or str(folder)
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{where}: no {MANIFEST}; this folder was not built by `stepinst build`, so there is nothing to verify it against")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestError(f"{where}/{MANIFEST}: not valid JSON ({e}); rebuild the folder with `stepinst build`") from None
    version = str(manifest.get("stepinst_version", "?"))
    if _newer(version, __version__):
        raise ManifestError(
            f"{where}/{MANIFEST} was written by stepinst {version}, newer than this stepinst {__version__}; "
            f"upgrade stepinst (pip install -U stepinst) to verify or replay it"
        )
    if "inputs" not in manifest or "parameters" not in manifest:
        raise ManifestError(
            f"{where}/{MANIFEST} was written by stepinst {version} before manifests recorded the inputs and "
            f"parameters of a build; rebuild it with stepinst {__version__} to make it verifiable"
        )
    return manifest


def configs_of(manifest: dict[str, Any]) -> list[StepInstConfig]:
    """The configurations a manifest was built with, in build order."""
    known = {f.name for f in fields(StepInstConfig)} - _BUILDER_FIELDS
    configs = []
    for entry in manifest["parameters"]["configs"]:
        unknown = set(entry) - known
        if unknown:
            raise ManifestError(f"{MANIFEST}: configuration {entry.get('name')!r} has unknown parameter(s) {sorted(unknown)}")
        configs.append(StepInstConfig(**entry))
    return configs


def sampling_of(manifest: dict[str, Any]) -> Sampling:
    return Sampling(**manifest["parameters"]["sampling"])
