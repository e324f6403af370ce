"""Pause CPython's cyclic garbage collector during the bulk phases of a build.

Parsing the task files and rendering the configurations allocate millions of short-lived
objects (decoded instances, lists, Arrow wrappers), none of them in reference cycles: reference
counting frees them all. Each allocation burst still triggers the cyclic collector, whose full
passes walk every live object of the process (the imported libraries included): about 10% of a
build's CPU time, measured with ``perf`` (benchmarks/build.py). The switch is process-wide: while
a build runs, other threads' cyclic garbage waits for the next collection after it (reference
counting still frees everything else at once). Cross-cutting, so it sits at the top of the package
and imports nothing of it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore it as it was (nesting is safe)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
