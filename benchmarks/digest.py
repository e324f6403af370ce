"""Source digest benchmark: what recording the SUP-NATINST identity costs a build.

The build manifest records the sha256 of every task file and split list a build reads. This
synthesizes the NI-like corpus of ``benchmarks/build.py`` (at --scale 1.0: 875 tasks, ~3 GB) and
measures, in this process:

* the parse floor: one ``json.load`` of every task file (what a cold build pays anyway);
* a cold digest (no cache) on 1 thread and on the default threads;
* a warm digest (cached by size and mtime, as a rebuild from an unchanged checkout finds it).

Target: a cold digest well under the parse floor; a warm one in milliseconds.
Run:  python benchmarks/digest.py --scale 0.2   (and --scale 1.0; needs ~3.5 GB of disk)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from build import synthesize  # noqa: E402  (benchmarks/build.py: the same synthetic corpus)

from stepinst_data.source.digest import read_files, source_digest  # noqa: E402
from stepinst_data.source.natinst import read_splits  # noqa: E402


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _parse_floor(corpus: Path, paths: list[str]) -> None:
    for relative in paths:
        if relative.startswith("tasks/"):
            with open(corpus / relative, "rb") as f:
                json.load(f)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--keep", action="store_true", help="keep the synthesized corpus")
    args = parser.parse_args()
    work = Path(args.workdir) / f"digest-scale-{args.scale:g}"
    corpus = work / "natinst"
    if not (corpus / "steps.jsonl").is_file():
        shutil.rmtree(work, ignore_errors=True)
        synthesize(corpus, args.scale)
    paths = read_files(read_splits(corpus))
    total = sum((corpus / p).stat().st_size for p in paths)
    _parse_floor(corpus, paths)  # warm the page cache, so every figure below reads from memory
    floor = _seconds(lambda: _parse_floor(corpus, paths))
    with tempfile.TemporaryDirectory() as cache:
        one = _seconds(lambda: source_digest(corpus, paths, None, num_threads=1))
        cold = _seconds(lambda: source_digest(corpus, paths, Path(cache)))
        warm = _seconds(lambda: source_digest(corpus, paths, Path(cache)))
    print(f"corpus: {len(paths)} files (task files + split lists), {total / 1e9:.2f} GB")
    print(f"parse floor (json.load of every task file): {floor:.2f} s")
    print(f"cold digest, 1 thread: {one:.2f} s = {total / one / 1e9:.2f} GB/s = {one / floor:.2f}x the parse floor")
    print(f"cold digest, default threads: {cold:.2f} s = {total / cold / 1e9:.2f} GB/s = {cold / floor:.2f}x the parse floor")
    print(f"warm digest (cached by size and mtime): {warm * 1000:.1f} ms for {len(paths)} files")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
