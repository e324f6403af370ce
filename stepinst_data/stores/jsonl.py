"""The one way stepinst writes a JSONL file it owns: whole fsynced lines, torn tails set aside,
atomic rewrites, one lock policy.

The steps store, the ratings store, the failures files and the batch request file hold work that
cost money or a person's time, and any process can be killed mid-write. So:

- :func:`append_lines` writes whole lines only, in one ``write`` on an ``O_APPEND`` descriptor,
  fsynced before it returns; it first calls :func:`repair_tail`.
- :func:`repair_tail`: a file that does not end with a newline was cut by a crash. A last line
  that parses as a whole JSON object only lacks its newline, which is added; anything else was
  never a record: it is appended to ``<file>.torn`` (kept for inspection, never deleted) and cut
  off, so it cannot become a malformed middle line. Exactly one newline check: no blank line.
- :func:`write_lines` rewrites a whole file atomically (see :mod:`stepinst_data.atomic`).
- A write the system refuses (a read-only folder, a full disk) raises :class:`StoreWriteError`,
  one line naming the store and the fix.
- :func:`store_lock`: one lock file per store, ``<store>.lock`` (filelock). Every writer holds it
  while it writes: a run (steps generation, batch collect) for the whole run, refused at once when
  another run holds it; a single append (the rating page, ``rate import``, the LLM judge) for
  that append, waiting a few seconds for another append to finish. The holder writes who it is
  into the lock file, so a refusal names the store and the process that holds it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from ..atomic import atomic_write

logger = logging.getLogger(__name__)

# How long a single append waits for another writer's append (milliseconds of work) to finish.
APPEND_WAIT_S = 10.0
_TAIL_BLOCK = 1 << 16


class StoreBusyError(ValueError):
    """Another process holds a store's lock; the message names the store and the holder."""


class StoreWriteError(ValueError):
    """The system refuses to write a store (a read-only folder, a full disk); the message names
    the store, the file and the fix, instead of a raw ``OSError`` traceback."""


@contextmanager
def _writing(store: Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``store`` (or its lock, or its ``.torn`` file) into one line."""
    try:
        yield
    except OSError as e:
        target = Path(e.filename) if e.filename else store
        which = "" if target == store else f" ({target})"
        raise StoreWriteError(
            f"{store}: cannot write the store{which}: {e.strerror or e}; make its folder {store.parent} writable "
            "(or free some space), or give the store a path in a writable folder"
        ) from None


def append_lines(path: str | os.PathLike, lines: Iterable[str]) -> int:
    """Append JSON lines (no newline inside) in one fsynced write; return how many were written.

    Not locked by itself: a writer that may meet another one holds :func:`store_lock` around it.
    """
    path = Path(path)
    data = []
    for line in lines:
        if "\n" in line:
            raise ValueError(f"{path}: a JSONL line cannot hold a newline: {line[:80]!r}")
        data.append(line + "\n")
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(path)
        if not data:
            return 0
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            payload = "".join(data).encode("utf-8")
            while payload:  # a regular file takes it in one write; a short write is finished, not lost
                payload = payload[os.write(fd, payload):]
            os.fsync(fd)
        finally:
            os.close(fd)
    return len(data)


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> None:
    """Replace the whole file by these JSON lines, atomically (old or new content, never a part)."""
    with _writing(Path(path)), atomic_write(path) as f:
        for line in lines:
            f.write(line + "\n")


def repair_tail(path: str | os.PathLike) -> None:
    """Give a file cut mid-line by a crash a clean line boundary, losing nothing (see module doc)."""
    path = Path(path)
    if not path.is_file() or not path.stat().st_size:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        start = _last_line_start(f)
        f.seek(start)
        fragment = f.read()
        if _is_json_object(fragment):
            f.seek(0, os.SEEK_END)
            f.write(b"\n")
        else:
            torn = path.with_name(path.name + ".torn")
            with open(torn, "ab") as out:
                out.write(fragment + b"\n")
                out.flush()
                os.fsync(out.fileno())
            f.truncate(start)
            logger.warning("%s: moved a truncated last line (interrupted write) to %s", path, torn)
        f.flush()
        os.fsync(f.fileno())


def _last_line_start(f) -> int:
    """The offset just after the last newline of an open binary file (0 when there is none)."""
    end = f.seek(0, os.SEEK_END)
    while end > 0:
        begin = max(0, end - _TAIL_BLOCK)
        f.seek(begin)
        block = f.read(end - begin)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return begin + cut + 1
        end = begin
    return 0


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), dict)
    except ValueError:  # malformed JSON, or a UTF-8 character cut in half
        return False


class StoreLock:
    """The lock of one store (``<store>.lock``); use :func:`store_lock` to make one."""

    def __init__(self, path: str | os.PathLike, wait: float):
        self.path = Path(path)
        self.lock_file = Path(str(path) + ".lock")
        self._lock = FileLock(str(self.lock_file), timeout=wait)

    def acquire(self) -> StoreLock:
        with _writing(self.path):
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._lock.acquire()
            except Timeout:
                raise StoreBusyError(
                    f"{self.path} is locked by another running process ({self._holder()}; lock file {self.lock_file}). "
                    "Wait for it to finish or stop it, then run again: two writers on one store would interleave records."
                ) from None
            try:
                self.lock_file.write_text(_whoami(), encoding="utf-8")  # flock is on the descriptor: writing keeps it
            except OSError:
                self._lock.release()
                raise
        return self

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        if self._lock.lock_counter == 1:  # the last release: the next holder writes its own name
            self.lock_file.write_text("", encoding="utf-8")
        self._lock.release()

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _holder(self) -> str:
        try:
            holder = self.lock_file.read_text(encoding="utf-8").strip()
        except OSError:
            holder = ""
        return holder or "a process that has not said who it is yet"


def store_lock(path: str | os.PathLike, wait: float = 0.0) -> StoreLock:
    """The lock of the store at ``path``: ``wait=0`` for a run (refused at once when busy),
    :data:`APPEND_WAIT_S` for one append. Use as ``with store_lock(p):`` or ``.acquire()``."""
    return StoreLock(path, wait)


def _whoami() -> str:
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
    if len(command) > 200:
        command = command[:197] + "..."
    return f"pid {os.getpid()} on {socket.gethostname()} since {since}: {command}"
