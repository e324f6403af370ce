"""Build benchmark: all instance configs vs. the parse floor, per-stage split, and peak memory.

Synthesizes an NI-like corpus (at --scale 1.0: 875 English-track tasks, instance counts and text
lengths spread like the real ones: most tasks hundreds to thousands of instances, some 6,500;
about 2.4 GB of JSON), then measures in fresh processes, the fastest of --repeat rounds:

* the parse floor: one standard-library ``json.load`` of every task file, nothing else;
* ``stepinst build`` of every instance config (cold cache), with --num-proc 1 and 2;
* start-up: the same commands on an empty corpus (floor) and on a 3-task corpus (build), so the
  ratio compares marginal times (imports, process start and the card are fixed costs);
* the peak RSS of each, next to the size of the largest task file;
* in this process, the stages of a --num-proc 1 build: parse (task files to the cached table, with
  the task files' digests hashed on a thread beside it), render (Arrow tables of every config),
  write (Parquet encoding + statistics), the rest.

``--baseline DIR`` also times the build of another source tree (e.g. ``git archive <commit> |
tar -x -C DIR``) in the same run, so before/after figures share the machine's load.

Target: marginal build <= 1.5x the marginal parse floor; peak memory bounded by the largest task
file, not the corpus. Run:  python benchmarks/build.py --scale 0.2   (and --scale 1.0: ~2.4 GB of
corpus plus ~2 GB of builds on disk; check ``df -h`` first)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
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


def synthesize(out: Path, scale: float, seed: int = 0, max_instances: int = 6500) -> dict:
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
            count = min(max_instances, int(10 ** rng.uniform(1.8, 3.82)))
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
                          "definition_sha256": hashlib.sha256(definition.encode()).hexdigest()})
    with open(out / "steps.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(s) + "\n" for s in steps)
    return {"tasks": n_train + n_test, "total_bytes": total_bytes, "largest_bytes": largest}


PARSE_FLOOR = """
import json, sys, pathlib
for p in sorted(pathlib.Path(sys.argv[1]).glob('tasks/*.json')):
    with open(p, 'rb') as f:
        json.load(f)
"""


def timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds of one process (with its children).

    CPU seconds (user + system) hardly change when other jobs share the cores, wall seconds do:
    on a busy machine compare the CPU figures.
    """
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if status != 0:
            log.seek(0)
            raise SystemExit(f"command failed ({status}): {' '.join(cmd)}\n{log.read().decode(errors='replace')}")
    # Linux: the max RSS over the process and its reaped children; CPU time includes the children.
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def build_cmd(corpus: Path, out: Path, cache: Path, num_proc: int) -> list[str]:
    return [sys.executable, "-m", "stepinst_data.cli", "build", "--natinst", str(corpus), "--steps",
            str(corpus / "steps.jsonl"), "--out", str(out), "--overwrite", "--num-proc", str(num_proc),
            "--cache-dir", str(cache)]


def time_build(src: Path, corpus: Path, work: Path, num_proc: int) -> tuple[float, float, float]:
    """One cold-cache build of every instance config with the stepinst of ``src``."""
    cache, out = work / f"cache-{num_proc}", work / f"built-{num_proc}"
    shutil.rmtree(cache, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(src))
    # run inside the tree: `python -m` puts the working directory first on sys.path (before PYTHONPATH)
    result = timed(build_cmd(corpus, out, cache, num_proc), env, cwd=src)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    return result


def stage_split(corpus: Path, work: Path) -> dict[str, float]:
    """CPU seconds per stage of a --num-proc 1 build (parsing in one process, writing on every core),
    in this process (imports excluded).

    Render and write run on several threads: each call is clocked with its own thread's CPU time,
    so "rest" (the process's CPU minus the stages) holds the reading of the task table, the
    statistics, the digests of the written files, the manifest and the card. "parse" includes the
    digests of the task files (a thread that starts with the parse, as in a build); the release
    then finds the table and the digests in the cache."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from stepinst_data.card.release import release
    from stepinst_data.dataset import export as export_module
    from stepinst_data.dataset.inputs import load_build_inputs
    from stepinst_data.dataset.plan import BuildPlan
    from stepinst_data.source.digest import BackgroundDigest

    spent = {"render": 0.0, "write": 0.0}
    lock = threading.Lock()

    def clocked(stage, fn):
        def wrapper(*args, **kwargs):
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    spent[stage] += time.thread_time() - start
        return wrapper

    render, write = export_module.render_table, export_module._SplitWriter.write
    export_module.render_table = clocked("render", render)
    export_module._SplitWriter.write = clocked("write", write)
    try:
        start = time.process_time()
        hashing = BackgroundDigest(corpus, False, work / "cache-stages")
        load_build_inputs(corpus, corpus / "steps.jsonl", cache_dir=work / "cache-stages", progress=False)
        hashing.result()
        spent["parse"] = time.process_time() - start
        start = time.process_time()
        release(BuildPlan(), corpus, work / "built-stages", corpus / "steps.jsonl", cache_dir=work / "cache-stages",
                overwrite=True, progress=False)
        spent["rest"] = time.process_time() - start - spent["render"] - spent["write"]
    finally:
        export_module.render_table, export_module._SplitWriter.write = render, write
        shutil.rmtree(work / "cache-stages", ignore_errors=True)
        shutil.rmtree(work / "built-stages", ignore_errors=True)
    return spent


def corpus_at(work: Path, name: str, scale: float, max_instances: int = 6500) -> tuple[Path, dict]:
    """The synthetic corpus of ``scale`` under ``work/name`` (made once, kept with --keep)."""
    corpus = work / name / "natinst"
    if not (corpus / "steps.jsonl").is_file():
        shutil.rmtree(work / name, ignore_errors=True)
        t0 = time.perf_counter()
        sizes = synthesize(corpus, scale, max_instances=max_instances)
        (work / name / "sizes.json").write_text(json.dumps(sizes))
        print(f"synthesized {sizes['tasks']} tasks, {sizes['total_bytes'] / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s", flush=True)
    return corpus, json.loads((work / name / "sizes.json").read_text())


def report_build(label: str, full: tuple, startup: tuple, floor: tuple, largest_mb: float) -> None:
    """Marginal wall and CPU seconds against the floor's, and the peak RSS."""
    (seconds, rss, cpu), (start_s, _, start_cpu), (floor_s, floor_cpu) = full, startup, floor
    print(f"{label}: {seconds:.1f} s, marginal {seconds - start_s:.1f} s = {(seconds - start_s) / floor_s:.2f}x the parse "
          f"floor (target <= 1.5x); CPU {cpu - start_cpu:.1f} s = {(cpu - start_cpu) / floor_cpu:.2f}x the floor's; "
          f"peak RSS {rss:.0f} MB = {rss / largest_mb:.1f}x the largest file", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2, help="corpus size; 1.0 is the English track (default: 0.2)")
    parser.add_argument("--workdir", default="benchmarks/out", help="where corpora and builds go (default: benchmarks/out)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of every measurement; the fastest run is kept (default: 2)")
    parser.add_argument("--baseline", help="another stepinst source tree to time in the same run")
    parser.add_argument("--keep", action="store_true", help="keep the synthesized corpora")
    args = parser.parse_args()
    work = Path(args.workdir).resolve()  # absolute: builds run inside the timed tree
    src = Path(__file__).resolve().parents[1]
    corpus, sizes = corpus_at(work, f"scale-{args.scale:g}", args.scale)
    tiny, _ = corpus_at(work, "scale-tiny", 0.0, max_instances=20)
    empty = work / "empty"
    (empty / "tasks").mkdir(parents=True, exist_ok=True)
    largest_mb = sizes["largest_bytes"] / 1e6
    print(f"corpus: {sizes['tasks']} tasks, {sizes['total_bytes'] / 1e9:.2f} GB of JSON, largest file {largest_mb:.1f} MB", flush=True)

    trees = [("", src)] + ([(" [baseline]", Path(args.baseline).resolve())] if args.baseline else [])
    commands = {"floor": lambda: timed([sys.executable, "-c", PARSE_FLOOR, str(corpus)]),
                "floor start-up": lambda: timed([sys.executable, "-c", PARSE_FLOOR, str(empty)])}
    for tag, tree in trees:
        for num_proc in (1, 2):
            commands[tag, num_proc, "start-up"] = partial(time_build, tree, tiny, work, num_proc)
            commands[tag, num_proc, "full"] = partial(time_build, tree, corpus, work, num_proc)
    runs: dict = {name: [] for name in commands}
    for _ in range(args.repeat):  # rounds over every command, so a burst of load hits all of them alike
        for name, command in commands.items():
            runs[name].append(command())
    fastest = {name: min(results) for name, results in runs.items()}
    (floor_full, floor_rss, floor_cpu), (floor_start, _, start_cpu) = fastest["floor"], fastest["floor start-up"]
    floor = (floor_full - floor_start, floor_cpu - start_cpu)
    print(f"parse floor (json.load of every file, 1 process): {floor_full:.1f} s, marginal {floor[0]:.1f} s "
          f"(start-up {floor_start:.2f} s), CPU {floor[1]:.1f} s, peak RSS {floor_rss:.0f} MB", flush=True)
    for tag, _tree in trees:
        for num_proc in (1, 2):
            startup = fastest[tag, num_proc, "start-up"]
            report_build(f"build{tag}, all 7 instance configs, --num-proc {num_proc} (start-up {startup[0]:.1f} s)",
                         fastest[tag, num_proc, "full"], startup, floor, largest_mb)
    stages = stage_split(corpus, work)
    print("stages of a --num-proc 1 build, CPU seconds: " + ", ".join(
        f"{name} {stages[name]:.2f} s = {stages[name] / floor[1]:.2f}x" for name in ("parse", "render", "write", "rest")) + " (CPU; x: of the floor's CPU)")
    if not args.keep:
        for name in (f"scale-{args.scale:g}", "scale-tiny", "empty"):
            shutil.rmtree(work / name, ignore_errors=True)


if __name__ == "__main__":
    main()
