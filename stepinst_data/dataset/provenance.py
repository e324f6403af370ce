"""Compare the inputs a user has now with the inputs a build manifest records.

Each check returns problems (the input differs: the release cannot come from it) and notes (a
difference that cannot change the data, e.g. records appended to a store for tasks outside the
build). Every problem names the input, the file or task, and how it differs: hash or count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..source.digest import natinst_digest, sha256_file
from ..source.fetch import is_url, recorded_archive_sha256, resolve_natinst
from ..stores.ratings import read_ratings_store
from ..stores.steps import read_steps_store
from .manifest import Manifest, NatinstInput, RatingsInput, StepsInput, ratings_task_digests, steps_task_digests

logger = logging.getLogger(__name__)

MAX_LISTED = 20  # differing files or records named one per line before the rest are counted


@dataclass
class InputCheck:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def extend(self, other: InputCheck) -> None:
        self.problems += other.problems
        self.notes += other.notes


def _short(sha256: str | None) -> str:
    return f"{sha256[:16]}…" if sha256 else "none"


def _listed(lines: list[str], what: str) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return lines[:MAX_LISTED] + [f"... and {len(lines) - MAX_LISTED} more {what}"]


def _compare_digests(label: str, recorded: dict[str, str], now: dict[str, str], kind: str) -> list[str]:
    """One line per key whose digest differs, was recorded but is gone, or is new."""
    lines = []
    for key in sorted(recorded.keys() | now.keys()):
        before, after = recorded.get(key), now.get(key)
        if before == after:
            continue
        if after is None:
            lines.append(f"{label}: {kind} {key} was read by the build ({_short(before)}) and is missing now")
        elif before is None:
            lines.append(f"{label}: {kind} {key} is read now ({_short(after)}) but was not read by the build")
        else:
            lines.append(f"{label}: {kind} {key} differs: sha256 {_short(after)} now, {_short(before)} at build time")
    return lines


def check_natinst(recorded: NatinstInput | None, location: str, allow_missing_tasks: bool, cache_dir: Path) -> InputCheck:
    """Hash every file the build read, afresh, and compare with the recorded sha256 of each."""
    check = InputCheck()
    if recorded is None:
        check.problems.append("SUP-NATINST: the manifest does not identify its source (built from inputs made by hand)")
        return check
    root = resolve_natinst(location, cache_dir)
    now = natinst_digest(root, allow_missing_tasks, cache_dir, refresh=True)
    label = f"SUP-NATINST --natinst {location}"
    if recorded.url and is_url(location):
        archive = recorded_archive_sha256(location, cache_dir)
        if location != recorded.url or archive != recorded.archive_sha256:
            check.notes.append(
                f"SUP-NATINST: the build fetched {recorded.url} (sha256 {_short(recorded.archive_sha256)}), "
                f"this is {location} (sha256 {_short(archive)}); what counts is the content of the files the build read"
            )
    if now.digest == recorded.digest:
        return check
    check.problems.append(
        f"{label}: digest {_short(now.digest)} over {len(now.files)} files now, "
        f"{_short(recorded.digest)} over the {recorded.num_files} files the build read"
    )
    check.problems += _listed(_compare_digests(label, recorded.files, now.files, "file"), "differing files")
    return check


def build_tasks(natinst: NatinstInput | None) -> set[str]:
    """The task names a build read, from the task files its manifest lists."""
    files = natinst.files if natinst else {}
    return {Path(f).stem for f in files if f.startswith("tasks/")}


def _store_sha256(check: InputCheck, label: str, recorded: StepsInput | RatingsInput | None, path: str | None, flag: str) -> str | None:
    """The checks every store shares: given when the build used one; its sha256 when it differs."""
    if recorded is None:
        if path:
            check.notes.append(f"{label}: the build used none; {flag} {path} is ignored")
        return None
    if not path:
        check.problems.append(
            f"{label}: the build used {recorded.file} (sha256 {_short(recorded.sha256)}, "
            f"{recorded.records} records); pass it with {flag}"
        )
        return None
    sha = sha256_file(path)
    return sha if sha != recorded.sha256 else None


def _compare_records(check: InputCheck, label: str, sha: str, recorded: StepsInput | RatingsInput, now: dict[str, str], count: int) -> InputCheck:
    """A changed store: a problem when a record the build used differs, else only a note."""
    lines = _compare_digests(label, recorded.tasks, now, "record of task")
    how = f"sha256 {_short(sha)} and {count} records now, {_short(recorded.sha256)} and {recorded.records} at build time"
    if lines:
        check.problems.append(f"{label}: {how}; {len(lines)} record(s) the build used differ")
        check.problems += _listed(lines, "differing records")
    else:
        check.notes.append(f"{label}: {how}, but the records of the build's {len(recorded.tasks)} tasks are unchanged")
    return check


def check_steps(recorded: StepsInput | None, path: str | None) -> InputCheck:
    """The steps store: same file, or at least the same record for every task the build used."""
    check = InputCheck()
    sha = _store_sha256(check, "steps store", recorded, path, "--steps")
    if sha is None:
        return check
    records = read_steps_store(path)
    used = {name: records[name] for name in recorded.tasks if name in records}
    return _compare_records(check, f"steps store {path}", sha, recorded, steps_task_digests(used), len(records))


def check_ratings(recorded: RatingsInput | None, path: str | None, tasks: set[str]) -> InputCheck:
    """The ratings store: same file, or at least the same ratings of every task of the build (``tasks``)."""
    check = InputCheck()
    sha = _store_sha256(check, "ratings store", recorded, path, "--ratings")
    if sha is None:
        return check
    store = read_ratings_store(path)
    if store.rubric.name != recorded.rubric:
        check.problems.append(f"ratings store {path}: rubric {store.rubric.name!r} now, {recorded.rubric!r} at build time")
    # Every task of the build is compared: a task rated now but not at build time changes the data too.
    now = ratings_task_digests(store, tasks | set(recorded.tasks))
    return _compare_records(check, f"ratings store {path}", sha, recorded, now, len(store.records))


def check_inputs(manifest: Manifest, natinst: str, steps: str | None, ratings: str | None, cache_dir: Path) -> InputCheck:
    """Every input given now against the manifest's record of it."""
    recorded = manifest.inputs
    check = check_natinst(recorded.natinst, natinst, manifest.plan.allow_missing_tasks, cache_dir)
    check.extend(check_steps(recorded.steps, steps))
    check.extend(check_ratings(recorded.ratings, ratings, build_tasks(recorded.natinst)))
    return check
