"""How the runs of a grid are launched: here one after another or several at once, or as cluster jobs.

Every launcher calls the same :func:`~.grid.run_one` per run, so the skip/resume rules are the
grid's, whatever runs it: a ``done`` run is skipped, a ``trained`` one only evaluated, an
``interrupted`` one resumes from its last checkpoint.

* :class:`LocalLauncher`: ``K`` runs at once per GPU group (``--runs-per-gpu K``; small models
  leave a GPU idle). Each slot gets its GPUs through ``CUDA_VISIBLE_DEVICES`` when GPUs are
  named. ``K = 1`` with one group is today's serial grid. A failure stops new starts; the runs
  already going finish, then every failure is reported.
* :class:`SubmititLauncher`: each run is one ``submitit`` job (Slurm, or submitit's local
  executor). A preempted or timed-out job is requeued by submitit and, started again, resumes
  from the run's checkpoint. The job ids are recorded in ``OUT/submitit/jobs.json``, so the same
  command run again waits on the jobs still queued or running instead of submitting them twice.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..atomic import atomic_write
from .grid import (
    BatchPlan, GridError, GridOptions, GridRun, Runner, Status, batch_plans, check_requests, run_logged, run_one,
)

logger = logging.getLogger(__name__)

JOBS_FILE = "jobs.json"  # OUT/submitit/jobs.json: run name -> job id of the last submission
ACTIVE_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "UNKNOWN"}


@dataclass
class GridJob:
    """One run as a callable job: what a thread or a submitit job executes.

    submitit calls :meth:`checkpoint` when Slurm preempts the job or its time runs out; the job
    is requeued as it is, and :func:`run_one` resumes the run from its folder's last checkpoint.
    """

    run: GridRun
    options: GridOptions
    batch: BatchPlan
    runner: Runner = run_logged

    def __call__(self, where: str = "", env: Mapping[str, str] | None = None) -> Status:
        return run_one(self.run, self.options, self.batch, self.runner, where, env)

    def checkpoint(self, *args, **kwargs):
        import submitit

        logger.info("%s: preempted or out of time; requeued, it resumes from its last checkpoint", self.run.name)
        return submitit.helpers.DelayedSubmission(GridJob(self.run, self.options, self.batch, self.runner), *args, **kwargs)


def grid_jobs(runs: Sequence[GridRun], options: GridOptions, runner: Runner = run_logged) -> list[GridJob]:
    """One job per run, with its recipe's batch split (checked for every recipe before anything starts).

    Runs started earlier with other settings are refused here, before any job starts or is submitted.
    """
    batches = batch_plans(runs, options)
    check_requests(runs, options, batches)
    return [GridJob(run, options, batches[run.recipe.name], runner) for run in runs]


def gpu_slots(runs_per_gpu: int, gpus: Sequence[str] = (), gpus_per_run: int = 1) -> list[dict[str, str]]:
    """The environment of each slot: ``runs_per_gpu`` slots per group of ``gpus_per_run`` GPUs.

    Without named GPUs there is one group (the GPUs the grid sees), and no variable is set.
    """
    if runs_per_gpu < 1:
        raise GridError(f"`--runs-per-gpu {runs_per_gpu}`: must be >= 1")
    if not gpus:
        return [{} for _ in range(runs_per_gpu)]
    if len(gpus) % gpus_per_run:
        raise GridError(f"{len(gpus)} GPU(s) ({','.join(gpus)}) cannot be split into groups of {gpus_per_run} "
                        f"(`--num-processes`); name a multiple of {gpus_per_run} GPUs in `--gpus`")
    groups = [",".join(gpus[i:i + gpus_per_run]) for i in range(0, len(gpus), gpus_per_run)]
    return [{"CUDA_VISIBLE_DEVICES": group} for group in groups for _ in range(runs_per_gpu)]


@dataclass
class LocalLauncher:
    """Run the jobs on this machine, ``len(slots)`` at once (one slot: in order, in this thread).

    Args:
        slots: each slot's extra environment (see :func:`gpu_slots`).
    """

    slots: list[dict[str, str]] = field(default_factory=lambda: [{}])

    def launch(self, jobs: Sequence[GridJob]) -> dict[str, Status]:
        """Run every job; return each run's status as found before it ran (runs never started are absent)."""
        found: dict[str, Status] = {}
        failures: list[str] = []
        stop = threading.Event()
        free = list(self.slots)
        lock = threading.Lock()

        def work(index: int, job: GridJob) -> None:
            if stop.is_set():
                return
            with lock:
                env = free.pop()
            try:
                found[job.run.name] = job(f"[{index}/{len(jobs)}] {job.run.name}", env)
            except GridError as e:
                failures.append(str(e))
                stop.set()
            except Exception as e:  # a full disk, a missing permission, a bug: never lost in a worker thread
                failures.append(f"{job.run.name} failed: {type(e).__name__}: {e}")
                stop.set()
                if len(self.slots) == 1:
                    raise
            finally:
                with lock:
                    free.append(env)

        if len(self.slots) == 1:
            for index, job in enumerate(jobs, start=1):
                work(index, job)
        else:
            logger.info("%d runs at once (%s)", len(self.slots), ", ".join(sorted({s.get("CUDA_VISIBLE_DEVICES", "all GPUs") for s in self.slots})))
            with ThreadPoolExecutor(max_workers=len(self.slots), thread_name_prefix="grid-slot") as pool:
                for index, job in enumerate(jobs, start=1):
                    pool.submit(work, index, job)
        if failures:
            raise GridError("\n\n".join(failures) + (f"\n({len(failures)} runs failed)" if len(failures) > 1 else ""))
        return found


@dataclass
class SubmititLauncher:
    """Submit each run that is not done as one submitit job, skipping runs whose recorded job is still active.

    Args:
        folder: submitit's folder (job scripts, logs, pickles) and ``jobs.json``.
        cluster: ``slurm``, or ``local`` (submitit's LocalExecutor: what the tests run).
        parameters: submitit executor parameters (``slurm_partition``, ``gpus_per_node``, ``timeout_min``, ...).
        wait: wait for the jobs and report failures; False returns once they are submitted.
    """

    folder: Path
    cluster: Literal["slurm", "local"] = "slurm"
    parameters: dict = field(default_factory=dict)
    wait: bool = True
    submitted: dict[str, str] = field(default_factory=dict, init=False)  # run name -> job id, after launch()
    handles: dict = field(default_factory=dict, init=False)  # run name -> submitit Job, after launch()

    def launch(self, jobs: Sequence[GridJob]) -> dict[str, Status]:
        import submitit

        found = {job.run.name: job.run.status() for job in jobs}
        recorded = self.recorded()
        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(**self.parameters)
        handles = {}
        for job in jobs:
            name = job.run.name
            if found[name] == "done":
                logger.info("%s: skipped, already trained and evaluated", name)
                continue
            handle = self._attach(recorded.get(name))
            if handle is not None:
                logger.info("%s: job %s is still %s; not submitted again", name, handle.job_id, handle.state)
            else:
                executor.update_parameters(name=name)
                handle = executor.submit(job)
                logger.info("%s: submitted as job %s (%s)", name, handle.job_id, self.cluster)
            handles[name] = handle
            recorded[name] = str(handle.job_id)
            self._record(recorded)
        self.handles = handles
        self.submitted = {name: str(h.job_id) for name, h in handles.items()}
        if self.wait:
            self._wait(handles)
        return found

    def recorded(self) -> dict[str, str]:
        """run name -> job id, as the last launch recorded them (empty when none did)."""
        path = self.folder / JOBS_FILE
        if not path.is_file():
            return {}
        try:
            return {str(k): str(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        except (ValueError, AttributeError) as e:
            raise GridError(f"{path}: not a JSON object of run name -> job id ({e}); move it aside and run again "
                            "(jobs still queued would then be submitted a second time)") from None

    def _record(self, recorded: dict[str, str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.folder / JOBS_FILE) as f:
            f.write(json.dumps(recorded, indent=2, sort_keys=True) + "\n")

    def _attach(self, job_id: str | None):
        """The recorded job when it is still queued or running, else None (it ended: submit anew)."""
        if job_id is None:
            return None
        import submitit

        if self.cluster == "local":
            if not _pid_alive(job_id):
                return None
            return submitit.local.local.LocalJob(folder=self.folder, job_id=job_id)
        job = submitit.SlurmJob(folder=self.folder, job_id=job_id)
        return job if job.state.split()[0] in ACTIVE_STATES else None

    def _wait(self, handles: dict) -> None:
        failures = []
        for name, handle in handles.items():
            while self.cluster == "local" and getattr(handle, "_process", None) is None and _pid_alive(handle.job_id):
                time.sleep(1)  # a job this process did not start: submitit cannot poll it, its pid can be
            try:
                handle.result()
            except Exception as e:  # submitit re-raises the job's own error (with its traceback), or says how it died
                failures.append(f"{name} (job {handle.job_id}): {_reason(e)}; submitit's logs: {self.folder}")
        if failures:
            raise GridError("\n".join(failures) + "\nFix the cause and run the same grid command again: finished runs are skipped.")


def _reason(error: Exception) -> str:
    """The line of a failed job's error that says what failed: the grid's own message, else the last line."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()] or [type(error).__name__]
    return next((line.split("GridError: ", 1)[1] for line in lines if "GridError: " in line), lines[-1])


def _pid_alive(job_id: str) -> bool:
    """Whether the local job ``job_id`` (a pid) still runs: its process exists and is submitit's controller."""
    try:
        cmdline = Path(f"/proc/{int(job_id)}/cmdline").read_bytes()
    except (ValueError, OSError):
        return False
    return b"submitit.local._local" in cmdline


def _all_gpus() -> list[str]:
    """Every CUDA device's index (none on a machine without a GPU), for K runs on EACH GPU by default."""
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def make_launcher(kind: Literal["here", "slurm", "local"], out: Path, runs_per_gpu: int = 1, gpus: str | None = None,
                  gpus_per_run: int = 1, partition: str | None = None, hours: float = 24.0,
                  wait: bool = True) -> LocalLauncher | SubmititLauncher:
    """The launcher ``recipes/grid.py``'s flags ask for; the error names the flag that does not fit."""
    if kind == "here":
        if not wait:
            raise GridError("`--no-wait` submits jobs: use it with `--launcher slurm` or `--launcher local`")
        named = gpus if gpus is not None else os.environ.get("CUDA_VISIBLE_DEVICES") or ",".join(_all_gpus())
        ids = [g.strip() for g in named.split(",") if g.strip()] if runs_per_gpu > 1 or gpus is not None else []
        return LocalLauncher(gpu_slots(runs_per_gpu, ids, gpus_per_run))
    if gpus is not None:
        raise GridError(f"`--gpus` is for `--launcher here`; with `--launcher {kind}` each job gets its own GPUs "
                        "(`--slurm-gpus-per-run`)")
    if runs_per_gpu != 1:
        raise GridError(f"`--runs-per-gpu {runs_per_gpu}` is for `--launcher here`; with `--launcher {kind}` each run is "
                        "its own job with its own GPUs (`--slurm-gpus-per-run`)")
    if hours <= 0:
        raise GridError(f"`--slurm-time {hours}`: must be > 0 hours")
    parameters = {"timeout_min": max(1, round(hours * 60)), "gpus_per_node": gpus_per_run, "tasks_per_node": 1, "nodes": 1}
    if kind == "slurm":
        parameters["slurm_signal_delay_s"] = 120  # time to save before the kill; the checkpoint hook requeues the job
        if partition:
            parameters["slurm_partition"] = partition
    elif partition:
        raise GridError("`--slurm-partition` is for `--launcher slurm`")
    return SubmititLauncher(out / "submitit", kind, parameters, wait)
