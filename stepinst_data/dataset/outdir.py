"""The output folder of a build: what a build may replace, and how it swaps the new one in.

A user's file is never deleted, so ``--out`` is replaced only when nothing in it is the user's:

* ``--out`` may not be, contain or sit inside an input (the corpus, the steps and ratings stores,
  the cache): the new folder replaces ``--out`` whole. Refused before anything is read or written.
* An existing ``--out`` is replaced when it is empty, or a previous stepinst build that holds only
  what stepinst wrote: ``README.md``, ``stepinst_build.json`` and the data files its manifest lists.
  Rebuilding is the normal way to update a build, so that needs no flag.
* The manifest records the sha256 of the card it was built with (``card_sha256``). A card edited
  by hand since is the user's work: replacing it needs ``--overwrite``.
* Any other file (a note, a ``.git`` folder, a data file the manifest does not list), or a folder
  without stepinst's manifest, is never deleted, with or without ``--overwrite``: the build is
  refused, naming the files, and the user moves them or picks another ``--out``.

The build is written to ``.<out>.tmp-<pid>`` beside ``out``; the old folder is renamed to
``.<out>.old-<pid>``, the new one renamed into place, then the old one deleted. A killed build
leaves those behind; the next build deletes the ones whose process is gone and that hold only
stepinst's files.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from ..source.digest import sha256_file
from ..source.fetch import is_url
from .manifest import MANIFEST, recorded_output

logger = logging.getLogger(__name__)

CARD = "README.md"
CROISSANT = "croissant.json"  # written by stepinst_data.card.croissant
SHOWN = 5


class ExportError(ValueError):
    """The output folder cannot be written; the message says why and what to do."""


def leftover_path(out: Path, kind: str, pid: int | None = None) -> Path:
    """``.<out>.tmp-<pid>`` (the build being written) or ``.<out>.old-<pid>`` (the one replaced)."""
    return out.with_name(f".{out.name}.{kind}-{os.getpid() if pid is None else pid}")


def check_not_an_input(out: Path, inputs: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    """Refuse an ``--out`` that is, contains or sits inside an input (``(label, path)`` pairs)."""
    target = out.resolve()
    for label, path in inputs:
        if not path:
            continue
        source = Path(path).resolve()
        relation = ("is" if target == source else "contains" if target in source.parents
                    else "is inside" if source in target.parents else None)
        if relation:
            raise ExportError(
                f"--out {out} {relation} the {label} {path}: a build replaces --out whole, so it would "
                "delete that input. Choose an --out outside every input (corpus, stores, cache)."
            )


Recorded = tuple[set[str], "str | None"]
"""What a previous build's manifest says it wrote: its data files, and its card's sha256."""


def foreign_files(out: Path, recorded: Recorded | None) -> list[str]:
    """Relative paths in ``out`` that stepinst did not write (links count as foreign; empty folders not)."""
    written = {CARD, MANIFEST, CROISSANT, *recorded[0]} if recorded else set()
    foreign = []
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.is_symlink() or (path.is_file() and relative not in written):
            foreign.append(relative)
    return foreign


def card_edited(out: Path, recorded: Recorded) -> bool:
    """Whether the card differs from the one the build wrote (builds before ``card_sha256``: no)."""
    card_sha256 = recorded[1]
    return bool(card_sha256) and (not (out / CARD).is_file() or sha256_file(out / CARD) != card_sha256)


def _listing(paths: list[str]) -> str:
    more = f", ... ({len(paths)} in all)" if len(paths) > SHOWN else ""
    return ", ".join(paths[:SHOWN]) + more


def check_replaceable(out: Path, overwrite: bool) -> None:
    """Refuse an existing ``out`` whose replacement would delete anything stepinst did not write."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a folder; choose another path")
    if not any(out.iterdir()):
        return
    recorded = recorded_output(out)
    foreign = foreign_files(out, recorded)
    if recorded is None:
        raise ExportError(
            f"--out {out} is not a previous stepinst build (no readable {MANIFEST}) and holds {_listing(foreign)}; "
            "stepinst never deletes files it did not write, with or without --overwrite. "
            "Choose an empty or new folder for --out."
        )
    if foreign:
        raise ExportError(
            f"--out {out} is a previous stepinst build that also holds {len(foreign)} file(s) stepinst did not "
            f"write ({_listing(foreign)}); stepinst never deletes them, with or without --overwrite. "
            "Move them out of the folder, or choose another --out."
        )
    if card_edited(out, recorded) and not overwrite:
        raise ExportError(
            f"--out {out}: {CARD} was edited since stepinst built it; pass --overwrite to replace it with the "
            "newly generated card (save your edits first), or choose another --out."
        )


def check_out(out: Path, natinst: str | os.PathLike, steps: str | os.PathLike | None, ratings: str | os.PathLike | None,
              cache_dir: Path, overwrite: bool) -> None:
    """Refuse an ``out`` whose replacement would delete an input or anything stepinst did not write;
    then clean the leftovers of killed builds beside it. Reads no input: the first check of a build."""
    check_not_an_input(out, [
        ("SUP-NATINST corpus", None if is_url(str(natinst)) else natinst),  # an archive is fetched into the cache
        ("steps store", steps),
        ("ratings store", ratings),
        ("cache folder", None if is_rebuild_folder(out, cache_dir) else cache_dir),
    ])
    remove_stale_leftovers(out)
    check_replaceable(out, overwrite)


def swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` with renames, so readers see the old or the new folder, whole."""
    old = leftover_path(out, "old")
    if out.exists():
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old.exists() and not out.exists():
            os.replace(old, out)  # put the previous build back
        raise
    if old.exists():
        foreign = foreign_files(old, recorded_output(old))  # files saved into --out while this build ran
        if foreign:
            logger.warning("kept the previous build as %s: it holds %s, which stepinst did not write; "
                           "move them where you want them and delete that folder", old, _listing(foreign))
            return
    shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _only_build_files(folder: Path) -> bool:
    """What a build writes into its temporary folder: the card, the manifest, croissant.json, Parquet files under data/."""
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            return False
        if path.is_file() and relative not in (CARD, MANIFEST, CROISSANT) and not (
            relative.startswith("data/") and relative.endswith((".parquet", ".parquet.part"))
        ):
            return False
    return True


def _remove_leftover(path: Path, pid: str) -> bool:
    """Delete one leftover folder of a killed build, when it holds nothing but build files."""
    if path.is_symlink() or not path.is_dir() or not _only_build_files(path):
        logger.warning("%s looks like a leftover of a killed build but holds other files; left alone", path)
        return False
    shutil.rmtree(path)
    logger.info("removed %s, left behind by a build that was killed (process %s)", path, pid)
    return True


def remove_stale_leftovers(out: Path) -> list[Path]:
    """Delete ``.<out>.tmp-<pid>``/``.<out>.old-<pid>`` folders of builds that were killed.

    Only stepinst's own naming, only when that process is gone, and only folders holding nothing
    but build files; anything else is left alone with a warning.
    """
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(tmp|old)-(\d+)$")
    removed = []
    parent = out.parent if out.parent.exists() else None
    for path in sorted(parent.iterdir()) if parent else []:
        match = pattern.match(path.name)
        if match and not _pid_alive(int(match.group(2))) and _remove_leftover(path, match.group(2)):
            removed.append(path)
    return removed


REBUILDS = "verify"
"""The folder under the cache where ``stepinst verify`` rebuilds a release."""


def rebuild_folder(cache_dir: Path) -> Path:
    """Where ``verify`` rebuilds a release: ``<cache>/verify/rebuild-<pid>``, beside nothing of the user's.

    Rebuilds of runs that were killed (``rebuild-<pid>`` and its ``.tmp``/``.old`` folders, their
    process gone, holding only build files) are removed first, as a build removes its own leftovers.
    """
    parent = Path(cache_dir) / REBUILDS
    pattern = re.compile(r"^\.?rebuild-(\d+)(?:\.(?:tmp|old)-(\d+))?$")
    for path in sorted(parent.iterdir()) if parent.is_dir() else []:
        match = pattern.match(path.name)
        pids = [p for p in match.groups() if p] if match else []
        if pids and not any(_pid_alive(int(p)) for p in pids):
            _remove_leftover(path, pids[-1])
    return parent / f"rebuild-{os.getpid()}"


def is_rebuild_folder(out: Path, cache_dir: Path) -> bool:
    """Whether ``out`` is one of ``verify``'s rebuild folders (the one place under the cache a build may write)."""
    return out.resolve().parent == (Path(cache_dir) / REBUILDS).resolve()
