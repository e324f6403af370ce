"""Build benchmark: all instance configs vs. the parse floor, and peak memory.

Synthesizes an NI-like corpus (at --scale 1.0: 875 English-track tasks, instance counts and text
lengths spread like the real ones — most tasks hundreds to thousands of instances, some 6,500 —
about 3 GB of JSON), then measures in fresh processes:

* the parse floor: one ``json.load`` of every task file, nothing else;
* ``stepinst build`` of every instance config (cold cache), with --num-proc 1 and 2;
* the peak RSS of each, next to the size of the largest task file.

Targets: build <= 1.5x the parse floor; peak memory bounded by the largest task file, not the
corpus. Run:  python benchmarks/build.py --scale 0.1   (and --scale 1.0; needs ~3.5 GB of disk)
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

WORDS = (
    "the a of to and in that is for it with as was on be by this are from at or an have not they which "
    "question answer sentence passage review person city river number story event because after before "
    "during while movie food team player student teacher market report language summary title label"
).split()


def _text(rng: random.Random, pool: list[str], chars: int) -> str:
    parts, size = [], 0
    while size < chars:
        s = rng.choice(pool)
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)


def synthesize(out: Path, scale: float, seed: int = 0) -> dict:
    """Write ``out/tasks/*.json`` and ``out/splits/default/*`` plus a steps store; return sizes."""
    rng = random.Random(seed)
    pool = [" ".join(rng.choices(WORDS, k=rng.randint(6, 18))).capitalize() + "." for _ in range(4000)]
    n_train, n_test = max(2, round(756 * scale)), max(1, round(119 * scale))
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    (out / "splits" / "default").mkdir(parents=True, exist_ok=True)
    names = {"train": [f"task{i:05d}_bench_train" for i in range(n_train)],
             "test": [f"task{90000 + i:05d}_bench_test" for i in range(n_test)]}
    steps = []
    total_bytes = largest = 0
    for split, task_names in names.items():
        (out / "splits" / "default" / f"{split}_tasks.txt").write_text("\n".join(task_names) + "\n")
        for name in task_names:
            # Instance counts: log-uniform-ish between 50 and 6,500, most in the hundreds to thousands.
            count = min(6500, int(10 ** rng.uniform(1.8, 3.82)))
            mean_chars = int(10 ** rng.uniform(2.8, 3.6))  # ~630 to ~4,000 characters per input
            definition = _text(rng, pool, rng.randint(150, 900))
            task = {
                "Contributors": ["bench"], "Source": ["synthetic"], "URL": ["https://example.org"],
                "Categories": [f"Category {rng.randint(1, 60)}"], "Reasoning": [], "Definition": [definition],
                "Input_language": ["English"], "Output_language": ["English"], "Instruction_language": ["English"],
                "Domains": ["Synthetic"],
                "Positive Examples": [{"input": _text(rng, pool, mean_chars), "output": _text(rng, pool, 40), "explanation": _text(rng, pool, 120)} for _ in range(3)],
                "Negative Examples": [{"input": _text(rng, pool, mean_chars), "output": _text(rng, pool, 40), "explanation": _text(rng, pool, 120)} for _ in range(2)],
                "Instances": [
                    {"id": f"{name.split('_')[0]}-{i:032x}", "input": _text(rng, pool, int(mean_chars * rng.uniform(0.5, 1.5))),
                     "output": [_text(rng, pool, rng.randint(5, 150))]}
                    for i in range(count)
                ],
                "Instance License": ["Unknown"],
            }
            data = json.dumps(task, indent=4, ensure_ascii=False)
            (out / "tasks" / f"{name}.json").write_text(data, encoding="utf-8")
            total_bytes += len(data)
            largest = max(largest, len(data))
            steps.append({"task_name": name, "steps": [_text(rng, pool, 60) for _ in range(rng.randint(3, 7))], "raw": "",
                          "model": "bench", "prompt_version": "bench", "created_at": "2026-01-01T00:00:00+00:00", "usage": None,
                          "definition_sha256": __import__("hashlib").sha256(definition.encode()).hexdigest()})
    with open(out / "steps.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(s) + "\n" for s in steps)
    return {"tasks": n_train + n_test, "total_bytes": total_bytes, "largest_bytes": largest}


PARSE_FLOOR = """
import json, sys, pathlib
for p in sorted(pathlib.Path(sys.argv[1]).glob('tasks/*.json')):
    with open(p, 'rb') as f:
        json.load(f)
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process (largest of it and its children)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = __import__("os").wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"command failed ({status}): {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss / 1024  # Linux: the max over the process and its reaped children


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--keep", action="store_true", help="keep the synthesized corpus")
    args = parser.parse_args()
    work = Path(args.workdir) / f"scale-{args.scale:g}"
    corpus = work / "natinst"
    if not (corpus / "steps.jsonl").is_file():
        shutil.rmtree(work, ignore_errors=True)
        t0 = time.perf_counter()
        sizes = synthesize(corpus, args.scale)
        (work / "sizes.json").write_text(json.dumps(sizes))
        print(f"synthesized {sizes['tasks']} tasks, {sizes['total_bytes'] / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")
    sizes = json.loads((work / "sizes.json").read_text())
    # The floor is the best of two runs, so that both it and the builds read from a warm page cache.
    floor, floor_rss = min(timed([sys.executable, "-c", PARSE_FLOOR, str(corpus)]) for _ in range(2))
    results = {}
    for num_proc in (1, 2):
        cache, out = work / f"cache-{num_proc}", work / f"built-{num_proc}"
        shutil.rmtree(cache, ignore_errors=True)
        cmd = [sys.executable, "-m", "stepinst_data.cli", "build", "--natinst", str(corpus), "--steps",
               str(corpus / "steps.jsonl"), "--out", str(out), "--overwrite", "--num-proc", str(num_proc),
               "--cache-dir", str(cache)]
        results[num_proc] = timed(cmd)
    print(f"corpus: {sizes['tasks']} tasks, {sizes['total_bytes'] / 1e9:.2f} GB of JSON, largest file {sizes['largest_bytes'] / 1e6:.1f} MB")
    print(f"parse floor (json.load of every file, 1 process): {floor:.1f} s, peak RSS {floor_rss:.0f} MB")
    for num_proc, (seconds, rss) in results.items():
        print(f"build, all 7 instance configs, --num-proc {num_proc}: {seconds:.1f} s = {seconds / floor:.2f}x the parse floor "
              f"(target <= 1.5x), peak RSS {rss:.0f} MB = {rss / (sizes['largest_bytes'] / 1e6):.1f}x the largest file")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
