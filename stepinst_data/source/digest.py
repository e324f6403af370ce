"""Content digests of the SUP-NATINST files a build reads: what identifies its source.

A build manifest records the sha256 of every task file and split list it read, and one digest
over them all; ``stepinst verify`` recomputes them to name the file that changed. Files are
streamed in 1 MiB blocks on a few threads (``hashlib`` releases the GIL while it hashes); a build
hashes them beside its parse (:class:`BackgroundDigest`). The digests are cached by each file's
:func:`file_key` (the same key as the parsed task table's cache: size, mtime, ctime and inode, so
an edit whose mtime was restored still shows), so a rebuild from an unchanged checkout hashes
nothing again; ``verify`` hashes every byte afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write
from .natinst import SPLIT_FILES, read_splits

logger = logging.getLogger(__name__)

BLOCK_SIZE = 1 << 20
DIGEST_CACHE_VERSION = "2"  # 2: entries keyed by file_key (1: size and mtime only)


def file_key(path: str | os.PathLike) -> str:
    """What tells a file changed without reading it: size, mtime, ctime and inode.

    mtime alone can be set back (``touch -d``, ``cp -p``, ``rsync -t``, ``os.utime``); ctime cannot
    be set by a user and changes with every write or rename into place, so an edited file never
    passes for the one a cache was made from (a copied checkout only costs one re-read).
    """
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, streamed (a task file can be 100 MB, an archive several GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class SourceDigest:
    """The sha256 of each file a build read (relative path -> hex) and one digest over them all."""

    files: dict[str, str]

    @property
    def digest(self) -> str:
        """sha256 over ``path NUL sha256`` lines, sorted by path: any changed file changes it."""
        h = hashlib.sha256()
        for path in sorted(self.files):
            h.update(f"{path}\0{self.files[path]}\n".encode())
        return h.hexdigest()


def read_files(splits: dict[str, list[str]], split_name: str = "default") -> list[str]:
    """The files a build of ``splits`` reads, relative to the checkout root: split lists, then tasks."""
    lists = [f"splits/{split_name}/{SPLIT_FILES[split]}" for split in splits if split in SPLIT_FILES]
    return lists + [f"tasks/{name}.json" for names in splits.values() for name in names]


def _cache_path(root: Path, cache_dir: Path) -> Path:
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return cache_dir / "digests" / f"{key}.json"


def _load_cache(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if data.get("version") == DIGEST_CACHE_VERSION else {}


def _save_cache(path: Path, entries: dict[str, list[str]]) -> None:
    with atomic_write(path) as f:
        json.dump({"version": DIGEST_CACHE_VERSION, "files": entries}, f)


class DigestCancelled(Exception):
    """Hashing was stopped (:meth:`BackgroundDigest.cancel`): the build it served failed."""


def source_digest(
    root: Path,
    relative_paths: list[str],
    cache_dir: Path | None = None,
    num_threads: int | None = None,
    refresh: bool = False,
    stop: threading.Event | None = None,
) -> SourceDigest:
    """The sha256 of every file of ``relative_paths`` under ``root``.

    With ``cache_dir``, a file whose :func:`file_key` matches the cached entry is not read again;
    ``refresh`` reads every file anyway (``stepinst verify``) and updates the cache. ``stop``, once
    set, ends the hashing before the next file with :class:`DigestCancelled` (nothing is cached).
    """
    cache_file = _cache_path(root, cache_dir) if cache_dir else None
    cached = _load_cache(cache_file) if cache_file else {}
    usable = {} if refresh else cached
    entries: dict[str, list[str]] = {}  # relative path -> [file key, sha256]
    stale: list[str] = []
    for relative in relative_paths:
        key = file_key(root / relative)
        entry = usable.get(relative)
        if entry and entry[0] == key:
            entries[relative] = entry
        else:
            entries[relative] = [key, ""]
            stale.append(relative)
    if stale:
        logger.info("hashing %d source file(s) under %s", len(stale), root)
        workers = num_threads or min(8, os.cpu_count() or 1)

        def hash_one(relative: str) -> str:
            if stop is not None and stop.is_set():
                raise DigestCancelled(f"hashing {root} was cancelled")
            return sha256_file(root / relative)

        with ThreadPoolExecutor(workers) as pool:
            for relative, sha in zip(stale, pool.map(hash_one, stale)):
                entries[relative][1] = sha
        if cache_file:
            _save_cache(cache_file, {**cached, **entries})
    return SourceDigest({relative: entries[relative][1] for relative in relative_paths})


def natinst_digest(
    root: Path,
    allow_missing_tasks: bool,
    cache_dir: Path | None,
    num_threads: int | None = None,
    refresh: bool = False,
    stop: threading.Event | None = None,
) -> SourceDigest:
    """The :func:`source_digest` of the files a build of ``root`` reads: the split lists and the
    listed task files (those present, with ``allow_missing_tasks``)."""
    splits = read_splits(root)
    if allow_missing_tasks:
        splits = {s: [n for n in names if (root / "tasks" / f"{n}.json").is_file()] for s, names in splits.items()}
    present = [f for f in read_files(splits) if (root / f).is_file()]
    return source_digest(root, present, cache_dir, num_threads, refresh, stop)


def spare_cores(busy: int) -> int:
    """Cores left beside ``busy`` busy ones (at least one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - busy)


class BackgroundDigest:
    """The digests of the files a build of ``root`` reads, hashed on a thread while it parses.

    The decoder holds the GIL and ``hashlib`` does not, so on the cores the parse leaves free
    (``min(8, cores - num_proc)`` threads, at least one) the digests cost a build little wall time.
    A daemon thread: a build that fails calls :meth:`cancel`, which stops the hashing before the
    next file (caching no partial result) and waits only for the files in flight, so no thread
    still writes into the cache after a failed build returned (a caller may delete it at once).
    """

    def __init__(self, root: Path, allow_missing_tasks: bool, cache_dir: Path | None, num_proc: int = 1):
        self._future: Future[SourceDigest] = Future()
        self._stop = threading.Event()
        args = (root, allow_missing_tasks, cache_dir, min(8, spare_cores(num_proc)))
        self._thread = threading.Thread(target=self._run, args=args, name="source-digest", daemon=True)
        self._thread.start()

    def _run(self, root: Path, allow_missing_tasks: bool, cache_dir: Path | None, threads: int) -> None:
        try:
            self._future.set_result(natinst_digest(root, allow_missing_tasks, cache_dir, threads, stop=self._stop))
        except BaseException as e:  # noqa: BLE001 - handed to whoever asks for the digest
            self._future.set_exception(e)

    def result(self) -> SourceDigest:
        """Wait for the digests; re-raise what stopped the hashing (an unreadable file, a cancel)."""
        return self._future.result()

    def cancel(self) -> None:
        """Stop before the next file (the build failed: nobody will read the digests), and wait for the
        files being hashed: found by the property tests, whose temporary folders were still written
        by this thread (the cache file) while they were being removed."""
        self._stop.set()
        self._thread.join()
