"""The paper's experiment as one resumable grid: recipes × dataset configurations × seeds, trained then evaluated.

Every run lives in ``<out>/<recipe>-<config>-seed<k>/``: the model (and its ``checkpoint-N``
folders) written by the training recipe, then the evaluation beside it (``metrics.json``,
``run.json``, ...). The state of a run is read from its folder, nothing else, so a grid can be
killed at any point and started again with the same command:

* ``done``: ``run.json`` + ``metrics.json`` exist (written last by ``recipes/evaluate.py``): skipped;
* ``trained``: the training record exists: only evaluated;
* ``interrupted``: a complete ``checkpoint-N`` exists: training resumes from it;
* ``new``: trained from scratch.

The effective batch is held at Tk-Instruct's 16 instances per optimizer step whatever the number
of processes (per-device × accumulation × processes), or the grid refuses with the reason.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..dataset.configs import INSTANCE_CONFIGS
from .run_record import TRAIN_RECORD, is_evaluated, read_grid_request, settings_diff, write_grid_request
from .settings import dataset_digest, recipe_digest
from .training import last_checkpoint

logger = logging.getLogger(__name__)

TK_INSTRUCT_INSTANCES_PER_STEP = 16
SCRIPTS = ("sft", "seq2seq")  # recipes/configs/<script>/<recipe>.yaml trains with recipes/<script>.py
TRAINER_DEFAULT_BATCH = 8  # transformers' per_device_train_batch_size when a YAML does not set it
EVAL_FLAGS = ("dataset_cache_dir", "max_source_length")  # recipe flags that evaluation must see too
Status = Literal["done", "trained", "interrupted", "new"]


class GridError(ValueError):
    """A grid that cannot run as asked; the message says which recipe, flag or run, and what to change."""


@dataclass
class Recipe:
    """One model's recipe YAML, and the training script it belongs to."""

    name: str
    script: str
    path: Path
    values: dict[str, Any]


def find_recipe(configs_dir: Path, name: str) -> Recipe:
    """``recipes/configs/<script>/<name>.yaml``; the error lists the recipes there are."""
    import yaml

    matches = [configs_dir / script / f"{name}.yaml" for script in SCRIPTS if (configs_dir / script / f"{name}.yaml").is_file()]
    if len(matches) != 1:
        known = sorted(p.stem for script in SCRIPTS for p in (configs_dir / script).glob("*.yaml"))
        problem = "no" if not matches else "more than one"
        raise GridError(f"{problem} recipe `{name}` under {configs_dir}/{{{','.join(SCRIPTS)}}}/; known: {', '.join(known)}")
    path = matches[0]
    return Recipe(name, path.parent.name, path, yaml.safe_load(path.read_text(encoding="utf-8")) or {})


@dataclass
class GridRun:
    """One (recipe, configuration, seed) and its folder."""

    recipe: Recipe
    config: str
    seed: int
    folder: Path

    @property
    def name(self) -> str:
        return self.folder.name

    def status(self) -> Status:
        if is_evaluated(self.folder):
            return "done"
        if (self.folder / TRAIN_RECORD).is_file():
            return "trained"
        if last_checkpoint(self.folder) is not None:
            return "interrupted"
        return "new"


def plan(recipes: Sequence[Recipe], configs: Sequence[str], seeds: Sequence[int], out: Path,
         known_configs: Sequence[str] | None = None) -> list[GridRun]:
    """Every run of the grid, recipe by recipe, config by config, seed by seed (the README's order).

    ``known_configs``: the dataset's configurations (custom ones included); the presets when the
    dataset cannot be listed here (a Hub id offline), in which case training names a wrong one.
    """
    known = [c for c in (known_configs or INSTANCE_CONFIGS) if c != "ratings"]
    unknown = [c for c in configs if c not in known]
    if unknown:
        where = "the dataset's instance configurations" if known_configs else "the instance configurations"
        raise GridError(f"unknown configuration(s) {unknown}; {where} are {', '.join(known)}")
    if not recipes or not configs or not seeds:
        raise GridError("a grid needs at least one recipe, one configuration and one seed")
    return [GridRun(r, c, s, out / f"{r.name}-{c}-seed{s}") for r in recipes for c in configs for s in seeds]


def flag_value(args: Sequence[str], name: str) -> str | None:
    """The last value of ``--name X`` or ``--name=X`` in ``args`` (argparse's rule: the last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg == f"--{name}" and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    return value


@dataclass
class BatchPlan:
    """How ``instances`` per optimizer step are split: per device × accumulation × processes."""

    per_device: int
    accumulation: int
    processes: int
    note: str = ""

    @property
    def instances(self) -> int:
        return self.per_device * self.accumulation * self.processes

    def flags(self) -> list[str]:
        return ["--per_device_train_batch_size", str(self.per_device), "--gradient_accumulation_steps", str(self.accumulation)]


def batch_plan(recipe: Recipe, overrides: Sequence[str], processes: int = 1,
               instances: int = TK_INSTRUCT_INSTANCES_PER_STEP) -> BatchPlan:
    """Keep ``instances`` per step over ``processes``: per-device as large as the recipe's, the rest accumulated."""
    if processes < 1 or instances < 1:
        raise GridError(f"`--num-processes` ({processes}) and `--instances-per-step` ({instances}) must be >= 1")
    user_device, user_accum = flag_value(overrides, "per_device_train_batch_size"), flag_value(overrides, "gradient_accumulation_steps")
    if instances % processes:
        raise GridError(f"{instances} instances per step cannot be split evenly over {processes} processes; "
                        f"use a number of processes that divides {instances}, or set `--instances-per-step`")
    per_process = instances // processes
    if user_device is not None and user_accum is not None:
        got = int(user_device) * int(user_accum) * processes
        if got != instances:
            raise GridError(f"`--per_device_train_batch_size {user_device}` × `--gradient_accumulation_steps {user_accum}` "
                            f"× {processes} processes = {got} instances per step, not {instances}; drop one of the two "
                            "flags and the grid computes it, or set `--instances-per-step`")
        return _with_note(BatchPlan(int(user_device), int(user_accum), processes), recipe, overrides)
    if user_accum is not None:
        if per_process % int(user_accum):
            raise GridError(f"`--gradient_accumulation_steps {user_accum}` does not divide the {per_process} instances "
                            f"each of {processes} processes takes per step; drop the flag")
        return _with_note(BatchPlan(per_process // int(user_accum), int(user_accum), processes), recipe, overrides)
    wanted = int(user_device or recipe.values.get("per_device_train_batch_size", TRAINER_DEFAULT_BATCH))
    per_device = max(d for d in range(1, min(wanted, per_process) + 1) if per_process % d == 0)
    return _with_note(BatchPlan(per_device, per_process // per_device, processes), recipe, overrides)


def _with_note(batch: BatchPlan, recipe: Recipe, overrides: Sequence[str]) -> BatchPlan:
    packing = flag_value(overrides, "packing")
    if (packing.lower() == "true") if packing is not None else bool(recipe.values.get("packing", False)):
        batch.note = (f"{recipe.name} packs sequences: a step holds {batch.instances} packed blocks of up to `max_length` "
                      "tokens, not instances, so configs with longer prompts train on fewer instances per step; "
                      "pass `--packing false --padding_free true` to count instances")
    return batch


@dataclass
class GridOptions:
    """What every run of a grid shares.

    Args:
        dataset: the dataset folder or Hub id (``--dataset_name`` of every recipe).
        overrides: recipe flags given after ``--`` (``--max_steps 2 --report_to trackio`` ...).
        processes: processes per training run (``accelerate launch --num_processes``) when > 1.
        accelerate_config: the accelerate YAML for several processes.
        eval_args: flags for ``recipes/evaluate.py`` (``--limit``, ``--backend``, ...).
        instances_per_step: the effective batch to keep (Tk-Instruct: 16).
    """

    dataset: str
    recipes_dir: Path
    overrides: list[str] = field(default_factory=list)
    processes: int = 1
    accelerate_config: Path | None = None
    eval_args: list[str] = field(default_factory=list)
    instances_per_step: int = TK_INSTRUCT_INSTANCES_PER_STEP
    python: str = sys.executable


def train_command(run: GridRun, options: GridOptions, batch: BatchPlan, resume: bool) -> list[str]:
    script = str(options.recipes_dir / f"{run.recipe.script}.py")
    if options.processes > 1:
        config = options.accelerate_config or options.recipes_dir / "accelerate" / "ddp.yaml"
        # port 0: a free port each, so runs started at once (several slots) never race for accelerate's 29500
        launcher = [options.python, "-m", "accelerate.commands.launch", "--config_file", str(config),
                    "--num_processes", str(options.processes), "--main_process_port", "0", script]
    else:
        launcher = [options.python, script]
    return [
        *launcher, "--config", str(run.recipe.path), "--dataset_name", options.dataset, "--dataset_config", run.config,
        "--seed", str(run.seed), "--output_dir", str(run.folder), "--run_name", run.name, *batch.flags(),
        *options.overrides, *(["--resume_from_checkpoint", "True"] if resume else []),
    ]


def eval_command(run: GridRun, options: GridOptions) -> list[str]:
    shared = []
    for name in EVAL_FLAGS:
        value = flag_value(options.overrides, name)
        if value is not None:
            shared += [f"--{name}", value]
    return [
        options.python, str(options.recipes_dir / "evaluate.py"), "--model_name_or_path", str(run.folder),
        "--dataset_name", options.dataset, "--dataset_config", run.config, "--output_dir", str(run.folder),
        *shared, *options.eval_args,
    ]


Runner = Callable[..., int]  # (command, log, env=None) -> exit status


def run_logged(command: list[str], log: Path, env: Mapping[str, str] | None = None) -> int:
    """Run ``command`` with its output appended to ``log``; return its exit status.

    ``env`` adds variables for this run only (``CUDA_VISIBLE_DEVICES`` of its slot).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(command)}\n")
        f.flush()
        return subprocess.run(command, stdout=f, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}).returncode


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]) if path.is_file() else ""


NOT_REQUEST_FLAGS = ("--batch_size", "--max_batch_tokens")  # how many prompts per batch: greedy results do not change


def grid_request(run: GridRun, options: GridOptions, batch: BatchPlan) -> dict[str, Any]:
    """What the grid asks of one run, besides its seed: recipe, YAML, flags, batch layout, data build, evaluation."""
    eval_args = list(options.eval_args)
    for flag in NOT_REQUEST_FLAGS:
        while flag in eval_args[:-1]:
            i = eval_args.index(flag)
            del eval_args[i : i + 2]
    digest = dataset_digest(options.dataset)
    return {
        "recipe": run.recipe.name, "recipe_yaml": recipe_digest(run.recipe.path), "config": run.config,
        "overrides": list(options.overrides), "batch": batch.flags(), "processes": options.processes,
        # a local build is named by its content; the path it is reached by does not count
        "dataset": options.dataset if digest is None else None, "dataset_build": digest, "eval_args": eval_args,
    }


def request_differences(run: GridRun, options: GridOptions, batch: BatchPlan) -> dict[str, tuple[Any, Any]] | None:
    """How this grid's request differs from the one ``run``'s folder was started with (``{}``: alike);
    ``None`` when the folder records none (a new run, or one of an older grid)."""
    recorded = read_grid_request(run.folder)
    return None if recorded is None else settings_diff(recorded, grid_request(run, options, batch))


def check_requests(runs: Sequence[GridRun], options: GridOptions, batches: dict[str, BatchPlan]) -> None:
    """Refuse to skip, resume or restart a run folder started with other settings; record the request of new runs.

    A finished run of another learning rate, batch layout or dataset build would otherwise sit in
    the grid's folder as if it were one more seed of this experiment. A folder whose recorded request
    differs is refused whatever its state: a job queued by an earlier ``--no-wait`` call may still
    train it with the settings it was submitted with.
    """
    for run in runs:
        batch = batches[run.recipe.name]
        differences = request_differences(run, options, batch)
        if differences is None:
            if run.status() == "new":
                write_grid_request(run.folder, grid_request(run, options, batch))
            else:
                logger.warning("%s was started by an older grid that did not record its settings: it is kept as is", run.folder)
        elif differences:
            listed = "; ".join(f"{key}: {old!r} then, {new!r} now" for key, (old, new) in differences.items())
            raise GridError(f"{run.folder} was started with other settings ({listed}); rerun with the settings it was "
                            "started with, or give this grid another `--out` (or move that folder away)")


def batch_plans(runs: Sequence[GridRun], options: GridOptions) -> dict[str, BatchPlan]:
    """Each recipe's split of the effective batch, logged once (and its packing warning) before any run starts."""
    batches = {r.recipe.name: batch_plan(r.recipe, options.overrides, options.processes, options.instances_per_step) for r in runs}
    for name, batch in batches.items():
        logger.info("%s: %d per device × %d accumulation × %d process(es) = %d instances per step",
                    name, batch.per_device, batch.accumulation, batch.processes, batch.instances)
        if batch.note:
            logger.warning(batch.note)
    return batches


def run_one(run: GridRun, options: GridOptions, batch: BatchPlan, runner: Runner = run_logged, where: str = "",
            env: Mapping[str, str] | None = None) -> Status:
    """Train (or resume) then evaluate ``run`` as its folder says; raise :class:`GridError` with the log's tail on a failure.

    Returns the status found before (``done``: skipped). Launchers (:mod:`.launch`) call this, one run at a time or several.
    """
    status = run.status()
    where = where or run.name
    if status == "done":
        logger.info("%s: skipped, already trained and evaluated", where)
        return status
    extra = {"env": dict(env)} if env else {}
    if status != "trained":
        resume = status == "interrupted"
        logger.info("%s: training%s (log: %s)", where, f" resumed from {last_checkpoint(run.folder).name}" if resume else "",
                    run.folder / "train.log")
        _check(runner(train_command(run, options, batch, resume), run.folder / "train.log", **extra), run, "train.log")
    logger.info("%s: evaluating (log: %s)", where, run.folder / "evaluate.log")
    _check(runner(eval_command(run, options), run.folder / "evaluate.log", **extra), run, "evaluate.log")
    logger.info("%s: done", where)
    return status


def _check(status: int, run: GridRun, log: str) -> None:
    if status != 0:
        raise GridError(f"{run.name} failed (exit status {status}); the end of {run.folder / log}:\n{_tail(run.folder / log)}\n"
                        "Fix the cause and run the same grid command again: finished runs are skipped.")
