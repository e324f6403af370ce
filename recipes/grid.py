"""The paper's experiment as one command: recipes × dataset configurations × seeds, trained then evaluated.

Each run lives in ``OUT/<recipe>-<config>-seed<k>/`` (the model, its checkpoints, then
``metrics.json`` beside it). Interrupt the grid at any point and run the same command again:
finished runs are skipped, an interrupted run resumes from its last checkpoint. The effective
batch stays at Tk-Instruct's 16 instances per optimizer step whatever ``--num-processes``.
Everything after ``--`` is passed to every training run (``--max_steps 2``, ``--report_to trackio``,
``--use_peft true`` ...). Progress goes to stderr and ``OUT/grid.log``; each run's output to its
``train.log`` / ``evaluate.log``.

```bash
python recipes/grid.py --recipes t5-lm-adapt-base,qwen2.5-0.5b \
    --configs definition,steps_ordered,steps_shuffled,steps_reversed --seeds 1,2,3 \
    --dataset ORG/stepinst --out runs/
python recipes/grid.py --recipes qwen2.5-3b --configs definition,steps_ordered --seeds 1,2,3 \
    --dataset ORG/stepinst --out runs/ --num-processes 8 -- --report_to trackio
python recipes/grid.py ... --runs-per-gpu 4 --gpus 0,1          # 4 runs at once on each of 2 GPUs
python recipes/grid.py ... --launcher slurm --slurm-partition gpu --slurm-gpus-per-run 4 --slurm-time 12 [--no-wait]
python recipes/compare.py runs/ --out table.md
```
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parent


def make_parser() -> argparse.ArgumentParser:
    from stepinst_data.commands.options import HelpFormatter  # shows real defaults only, not "(default: None)"

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter,
                                     epilog="Arguments after `--` go to every training run.")
    parser.add_argument("--recipes", required=True, help="comma-separated recipe names under recipes/configs/{sft,seq2seq}/")
    parser.add_argument("--configs", required=True, help="comma-separated dataset configurations (definition, steps_ordered, "
                        "..., or any custom one the dataset defines)")
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated training seeds")
    parser.add_argument("--dataset", required=True, help="dataset folder built by `stepinst build`, or a Hub id")
    parser.add_argument("--out", required=True, help="the grid's folder: one subfolder per run")
    parser.add_argument("--num-processes", type=int, default=1, help="processes (GPUs) per training run, via accelerate")
    parser.add_argument("--accelerate-config", default=None, help="accelerate YAML (default: recipes/accelerate/ddp.yaml)")
    parser.add_argument("--instances-per-step", type=int, default=16, help="effective batch kept over processes (Tk-Instruct: 16)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N test rows only (smoke tests; default: every row)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="evaluation: tokens generated (official: 128)")
    parser.add_argument("--backend", choices=["hf", "vllm"], default="hf", help="evaluation backend (T5 always uses hf)")
    parser.add_argument("--eval-batch-size", type=int, default=None,
                        help="evaluation: most prompts per batch (default: recipes/evaluate.py's, batches sized to memory)")
    parser.add_argument("--dry-run", action="store_true", help="print each run's state and commands, run nothing")
    launch = parser.add_argument_group("launching (stepinst_data/evaluation/launch.py)")
    launch.add_argument("--runs-per-gpu", type=int, default=1, help="runs at once on each GPU (group of --num-processes GPUs)")
    launch.add_argument("--gpus", default=None, help="comma-separated GPU ids to spread the runs over (default: $CUDA_VISIBLE_DEVICES, else every GPU as one group)")
    launch.add_argument("--launcher", choices=["here", "slurm", "local"], default="here",
                        help="here: this process runs them; slurm: one submitit job per run; local: submitit's local executor "
                        "(every job at once, to try the Slurm path; not for a real grid)")
    launch.add_argument("--slurm-partition", default=None, help="Slurm partition of the jobs (default: the cluster's default partition)")
    launch.add_argument("--slurm-gpus-per-run", type=int, default=None, help="GPUs per job (default: --num-processes); the run trains on all of them")
    launch.add_argument("--slurm-time", type=float, default=24.0, help="hours per job before Slurm stops it (it is requeued and resumes)")
    launch.add_argument("--no-wait", action="store_true", help="submit the jobs, print their ids and return (slurm/local)")
    return parser


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    split = argv.index("--") if "--" in argv else len(argv)
    return make_parser().parse_args(argv[:split]), argv[split + 1 :]


def main(args: argparse.Namespace, overrides: list[str]) -> None:
    import logging
    import shlex

    from stepinst_data.evaluation.grid import (
        GridOptions, batch_plan, eval_command, find_recipe, plan, request_differences, train_command,
    )
    from stepinst_data.evaluation.launch import grid_jobs, make_launcher

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "grid.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name in ("stepinst_data.evaluation.grid", "stepinst_data.evaluation.launch"):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(logging.INFO)

    recipes = [find_recipe(RECIPES / "configs", name) for name in _split(args.recipes)]
    runs = plan(recipes, _split(args.configs), [int(s) for s in _split(args.seeds)], out, dataset_configs(args.dataset))
    eval_args = ["--max_new_tokens", str(args.max_new_tokens), "--backend", args.backend]
    if args.eval_batch_size is not None:
        eval_args += ["--batch_size", str(args.eval_batch_size)]
    if args.limit is not None:
        eval_args += ["--limit", str(args.limit)]
    processes = args.num_processes
    if args.slurm_gpus_per_run is not None:
        if args.launcher == "here" or args.num_processes not in (1, args.slurm_gpus_per_run):
            raise ValueError(f"`--slurm-gpus-per-run {args.slurm_gpus_per_run}` is for `--launcher slurm|local`, and sets the "
                             f"processes per run: drop `--num-processes {args.num_processes}` or make the two equal")
        processes = args.slurm_gpus_per_run
    options = GridOptions(dataset=args.dataset, recipes_dir=RECIPES, overrides=overrides, processes=processes,
                          accelerate_config=args.accelerate_config and Path(args.accelerate_config),
                          eval_args=eval_args, instances_per_step=args.instances_per_step)
    if args.dry_run:
        for run in runs:
            batch = batch_plan(run.recipe, overrides, processes, args.instances_per_step)
            status = run.status()
            differences = request_differences(run, options, batch)
            if differences:  # what the real run refuses before anything starts
                print(f"# {run.name}: {status}, REFUSED: started with other settings ({', '.join(differences)})")
                continue
            print(f"# {run.name}: {status}")
            if status in ("new", "interrupted"):
                print(shlex.join(train_command(run, options, batch, resume=status == "interrupted")))
            if status != "done":
                print(shlex.join(eval_command(run, options)))
        return
    launcher = make_launcher(args.launcher, out, args.runs_per_gpu, args.gpus, processes, args.slurm_partition,
                             args.slurm_time, wait=not args.no_wait)
    found = launcher.launch(grid_jobs(runs, options))
    if args.no_wait:
        for name, job_id in launcher.submitted.items():
            print(f"{name}\t{job_id}")
        print(f"{len(launcher.submitted)} jobs queued or running (ids in {launcher.folder / 'jobs.json'}); "
              "run the same command again to wait for them, or to pick up where they are")
        return
    skipped = sum(status == "done" for status in found.values())
    print(f"{len(runs)} runs in {out}: {len(runs) - skipped} trained/evaluated now, {skipped} already done. "
          f"Compare them: python recipes/compare.py {out} --out {out / 'table.md'}")


def dataset_configs(dataset: str) -> list[str] | None:
    """The configurations a local build defines (custom ones included); ``None`` when it cannot be listed."""
    if not Path(dataset, "README.md").is_file():
        return None
    from stepinst_data.evaluation.training import available_configs

    return available_configs(dataset)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        main(*parse(sys.argv[1:]))
    except ValueError as e:  # GridError, and bad --seeds
        sys.exit(f"error: {e}")
