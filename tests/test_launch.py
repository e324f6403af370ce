"""Launching a grid: K runs at once per GPU (a fake runner records the overlap), and submitit jobs on the local executor
(fake training/evaluation scripts: skip, resume after a requeue, --no-wait and a rerun that waits on the same jobs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from stepinst_data.evaluation.grid import GridError, GridOptions, find_recipe, plan
from stepinst_data.evaluation.launch import LocalLauncher, gpu_slots, grid_jobs, make_launcher

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "recipes" / "configs"


def _runs(out: Path, seeds: int):
    return plan([find_recipe(CONFIGS, "qwen2.5-0.5b")], ["definition", "steps_ordered"], list(range(1, seeds + 1)), out)


class OverlapRunner:
    """Records how many commands run at once, overall and per CUDA_VISIBLE_DEVICES; ``fail`` names runs that exit 1."""

    def __init__(self, fail: tuple[str, ...] = (), seconds: float = 0.15):
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.total = self.peak_total = 0
        self.calls: list[tuple[str, str]] = []
        self.fail, self.seconds = fail, seconds

    def __call__(self, command: list[str], log: Path, env: dict | None = None) -> int:
        gpu = (env or {}).get("CUDA_VISIBLE_DEVICES", "-")
        with self.lock:
            self.calls.append((log.parent.name, log.name))
            self.now[gpu] = self.now.get(gpu, 0) + 1
            self.peak[gpu] = max(self.peak.get(gpu, 0), self.now[gpu])
            self.total += 1
            self.peak_total = max(self.peak_total, self.total)
        failing = log.parent.name in self.fail
        time.sleep(0.01 if failing else self.seconds)
        with self.lock:
            self.now[gpu] -= 1
            self.total -= 1
        return 1 if failing else 0


def test_runs_per_gpu_runs_k_at_once_per_gpu_and_all_finish(tmp_path):
    runs = _runs(tmp_path, 5)  # 10 runs
    runner = OverlapRunner()
    options = GridOptions(dataset="d", recipes_dir=ROOT / "recipes")
    found = LocalLauncher(gpu_slots(2, ["0", "1"])).launch(grid_jobs(runs, options, runner))
    assert found == {r.name: "new" for r in runs}
    assert runner.peak == {"0": 2, "1": 2} and runner.peak_total == 4  # K per GPU at once, never more
    assert sorted(runner.calls) == sorted((r.name, log) for r in runs for log in ("train.log", "evaluate.log"))
    for run in runs:  # each run unchanged: trained, then evaluated, in its own slot
        assert runner.calls.index((run.name, "train.log")) < runner.calls.index((run.name, "evaluate.log"))


def test_a_failure_stops_new_starts_and_is_reported(tmp_path):
    runs = _runs(tmp_path, 3)  # 6 runs; the second fails at once while the first is still training
    runner = OverlapRunner(fail=(runs[1].name,))
    with pytest.raises(GridError, match=f"{runs[1].name} failed \\(exit status 1\\); the end of .*train.log"):
        LocalLauncher(gpu_slots(2)).launch(grid_jobs(runs, GridOptions(dataset="d", recipes_dir=ROOT / "recipes"), runner))
    started = {name for name, _ in runner.calls}
    assert started == {runs[0].name, runs[1].name}  # nothing new after the failure
    assert (runs[0].name, "evaluate.log") in runner.calls  # the run already going finished


def test_an_error_in_a_parallel_slot_is_reported_never_lost(tmp_path):
    runs = _runs(tmp_path, 1)

    def broken(command, log, **_):
        raise OSError(28, "No space left on device", str(log))

    with pytest.raises(GridError, match=rf"{runs[0].name} failed: OSError: \[Errno 28\] No space left on device"):
        LocalLauncher(gpu_slots(2)).launch(grid_jobs(runs, GridOptions(dataset="d", recipes_dir=ROOT / "recipes"), broken))


def test_launcher_flags_that_do_not_fit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert [s["CUDA_VISIBLE_DEVICES"] for s in make_launcher("here", tmp_path, runs_per_gpu=2).slots] == ["2", "2", "3", "3"]
    assert make_launcher("here", tmp_path).slots == [{}]  # the serial grid of before
    with pytest.raises(GridError, match="3 GPU\\(s\\) \\(0,1,2\\) cannot be split into groups of 2"):
        make_launcher("here", tmp_path, runs_per_gpu=2, gpus="0,1,2", gpus_per_run=2)
    with pytest.raises(GridError, match="`--no-wait` submits jobs"):
        make_launcher("here", tmp_path, wait=False)
    with pytest.raises(GridError, match="`--runs-per-gpu 2` is for `--launcher here`"):
        make_launcher("slurm", tmp_path, runs_per_gpu=2)
    with pytest.raises(GridError, match="`--gpus` is for `--launcher here`"):
        make_launcher("local", tmp_path, gpus="0,1")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr("torch.cuda.device_count", lambda: 3)  # no GPU named: K runs on EACH of the machine's GPUs
    assert [s["CUDA_VISIBLE_DEVICES"] for s in make_launcher("here", tmp_path, runs_per_gpu=2).slots] == ["0", "0", "1", "1", "2", "2"]
    slurm = make_launcher("slurm", tmp_path, gpus_per_run=4, partition="gpu", hours=2.5)
    assert slurm.parameters == {"timeout_min": 150, "gpus_per_node": 4, "tasks_per_node": 1, "nodes": 1,
                                "slurm_signal_delay_s": 120, "slurm_partition": "gpu"}


FAKE_TRAIN = """\
import json, sys, time
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("--output_dir") + 1])
out.mkdir(parents=True, exist_ok=True)
with open(out.parent / "calls.txt", "a") as f:
    f.write(out.name + (" resume" if "--resume_from_checkpoint" in args else "") + "\\n")
(out / "checkpoint-1").mkdir(exist_ok=True)
(out / "checkpoint-1" / "trainer_state.json").write_text("{}")
if "broken" in out.name:
    sys.exit(3)
if "slow" in out.name and "--resume_from_checkpoint" not in args:
    time.sleep(600)  # stopped by the test's preemption signal
time.sleep(float(__import__("os").environ.get("FAKE_SECONDS", "0")))
(out / "stepinst_run.json").write_text("{}")
"""
FAKE_EVAL = """\
import sys
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("--output_dir") + 1])
(out / "metrics.json").write_text('{"rougeL": 1.0}')
(out / "run.json").write_text("{}")
"""


@pytest.fixture
def fake_recipes(tmp_path: Path) -> Path:
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "sft.py").write_text(FAKE_TRAIN)
    (folder / "evaluate.py").write_text(FAKE_EVAL)
    return folder


def _calls(out: Path) -> list[str]:
    path = out / "calls.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_a_failed_job_is_reported_with_its_run_and_log(tmp_path, fake_recipes):
    pytest.importorskip("submitit")
    out = tmp_path / "runs"
    (run,) = plan([find_recipe(CONFIGS, "qwen2.5-0.5b")], ["definition"], [1], out)
    run.folder = out / "broken-run"
    with pytest.raises(GridError, match=f"broken-run \\(job \\d+\\): broken-run failed \\(exit status 3\\); the end of {run.folder}/train.log"):
        make_launcher("local", out, hours=1).launch(grid_jobs([run], GridOptions(dataset="d", recipes_dir=fake_recipes)))


def test_a_preempted_job_requeues_and_resumes_from_its_checkpoint(tmp_path, fake_recipes):
    pytest.importorskip("submitit")
    out = tmp_path / "runs"
    (run,) = plan([find_recipe(CONFIGS, "qwen2.5-0.5b")], ["definition"], [1], out)
    run.folder = out / "slow-run"  # the fake trainer sleeps until preempted on its first start
    launcher = make_launcher("local", out, hours=1, wait=False)
    launcher.launch(grid_jobs([run], GridOptions(dataset="d", recipes_dir=fake_recipes)))
    (job_id,) = launcher.submitted.values()
    deadline = time.monotonic() + 60
    while run.status() != "interrupted":  # the checkpoint exists: preempt now
        assert time.monotonic() < deadline, "the fake training never wrote its checkpoint"
        time.sleep(0.1)
    controller = launcher.handles[run.name].job_id  # submitit's local controller; the job runs in its child
    (task,) = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
    os.kill(int(task), signal.SIGUSR2)  # what Slurm sends before preempting or at the end of --slurm-time
    waiting = make_launcher("local", out, hours=1)  # the same command again: waits on the same job
    waiting.launch(grid_jobs([run], GridOptions(dataset="d", recipes_dir=fake_recipes)))
    assert waiting.submitted == {run.name: job_id}
    assert run.status() == "done"
    assert _calls(out) == ["slow-run", "slow-run resume"]


def test_no_wait_returns_job_ids_a_rerun_waits_on_them_and_then_skips_done_runs(tmp_path, fake_recipes, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("FAKE_SECONDS", "1.5")
    out = tmp_path / "runs"
    runs = plan([find_recipe(CONFIGS, "qwen2.5-0.5b")], ["definition", "steps_ordered"], [1], out)
    options = GridOptions(dataset="d", recipes_dir=fake_recipes)
    first = make_launcher("local", out, hours=1, wait=False)
    first.launch(grid_jobs(runs, options))
    assert set(first.submitted) == {r.name for r in runs} and not any(r.status() == "done" for r in runs)
    second = make_launcher("local", out, hours=1)
    second.launch(grid_jobs(runs, options))
    assert second.submitted == first.submitted  # picked up where the jobs were, none submitted twice
    assert all(r.status() == "done" for r in runs) and sorted(_calls(out)) == sorted(r.name for r in runs)
    assert json.loads((out / "submitit" / "jobs.json").read_text()) == first.submitted
    third = make_launcher("local", out, hours=1)
    assert third.launch(grid_jobs(runs, options)) == {r.name: "done" for r in runs} and third.submitted == {}
    assert len(_calls(out)) == 2  # nothing trained twice


def test_cli_no_wait_needs_a_job_launcher(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "recipes" / "grid.py"), "--recipes", "qwen2.5-0.5b", "--configs",
                           "definition", "--dataset", "d", "--out", str(tmp_path), "--no-wait"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1
    assert done.stderr.strip().endswith("error: `--no-wait` submits jobs: use it with `--launcher slurm` or `--launcher local`")
