"""Whole-file writes that a crash cannot leave half done: the one home of ``os.replace``.

Every file stepinst rewrites as a whole (the parsed task table, a downloaded archive, the batch
state, a ratings store rewritten by a tool, a references or predictions file, the tiktoken seed
files) goes through :func:`atomic_write`: the bytes go to a temporary file in the same folder,
are fsynced, then ``os.replace`` swaps it in. A reader sees the old file or the new one, whole,
never a prefix. Cross-cutting, so it sits at the top of the package and imports nothing of it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal


@contextmanager
def atomic_write(
    path: str | os.PathLike,
    mode: Literal["w", "wb"] = "w",
    encoding: str = "utf-8",
    check: Callable[[Path], None] | None = None,
) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on a clean exit fsync it and swap it in.

    ``check`` sees the complete temporary file before the swap; if it raises, nothing replaces
    ``path`` (a download that is not what was expected never enters the cache).

    On an exception (or a crash) ``path`` is untouched and the temporary file is removed (after a
    crash it stays as a hidden ``.<name>.<id>.tmp`` beside it). The file gets the usual
    permissions (umask applied), not ``mkstemp``'s 0600: stores and outputs are shared files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}-{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the folder entry itself is data on POSIX)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
