"""recipes/grid.py: planning, the effective batch, skip/resume from folder state, and a real killed-then-rerun grid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recipes_helpers import build_sample, sample_texts, tiny_causal_lm, train_tokenizer
from stepinst_data.evaluation.grid import (
    GridError, GridOptions, batch_plan, eval_command, find_recipe, plan, train_command,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "recipes" / "configs"
GRID = [sys.executable, str(ROOT / "recipes" / "grid.py")]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize(("recipe", "processes", "expected"), [
    ("qwen2.5-0.5b", 1, (16, 1)),      # the YAML's own layout: one micro-batch of 16
    ("qwen2.5-0.5b", 8, (2, 1)),       # 8 GPUs: 2 per device, no accumulation
    ("t5-lm-adapt-xl", 4, (4, 1)),
    ("llama-3.1-8b", 16, (1, 1)),
])
def test_the_effective_batch_stays_at_16_instances(recipe, processes, expected):
    batch = batch_plan(find_recipe(CONFIGS, recipe), [], processes)
    assert (batch.per_device, batch.accumulation, batch.instances) == (*expected, 16)


def test_the_grid_says_why_it_cannot_keep_16_instances():
    recipe = find_recipe(CONFIGS, "t5-lm-adapt-base")
    with pytest.raises(GridError, match="16 instances per step cannot be split evenly over 3 processes"):
        batch_plan(recipe, [], 3)
    with pytest.raises(GridError, match=r"`--per_device_train_batch_size 8` × `--gradient_accumulation_steps 2` × 8 processes = 128 instances per step, not 16"):
        batch_plan(recipe, ["--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "2"], 8)
    assert batch_plan(recipe, ["--gradient_accumulation_steps=4"], 2).per_device == 2
    assert "packs sequences" in batch_plan(find_recipe(CONFIGS, "qwen2.5-0.5b"), ["--packing", "true"]).note


def test_plan_names_every_run_and_refuses_unknown_names(tmp_path):
    recipes = [find_recipe(CONFIGS, "t5-lm-adapt-base"), find_recipe(CONFIGS, "qwen2.5-0.5b")]
    runs = plan(recipes, ["definition", "steps_ordered"], [1, 2], tmp_path)
    assert [r.name for r in runs][:3] == ["t5-lm-adapt-base-definition-seed1", "t5-lm-adapt-base-definition-seed2",
                                          "t5-lm-adapt-base-steps_ordered-seed1"]
    assert len(runs) == 8 and {r.recipe.script for r in runs} == {"seq2seq", "sft"}
    with pytest.raises(GridError, match="unknown configuration\\(s\\) \\['steps_sorted'\\]; the instance configurations are definition"):
        plan(recipes, ["steps_sorted"], [1], tmp_path)
    with pytest.raises(GridError, match="no recipe `qwen` under .*; known: llama-3.1-8b, qwen2.5-0.5b"):
        find_recipe(CONFIGS, "qwen")


def test_a_runs_state_is_read_from_its_folder(tmp_path):
    (run,) = plan([find_recipe(CONFIGS, "qwen2.5-0.5b")], ["definition"], [7], tmp_path)
    assert run.status() == "new"
    (run.folder / "checkpoint-3").mkdir(parents=True)
    assert run.status() == "new"  # killed while writing its first checkpoint: nothing to resume from
    (run.folder / "checkpoint-3" / "trainer_state.json").write_text("{}")
    assert run.status() == "interrupted"
    (run.folder / "stepinst_run.json").write_text("{}")
    assert run.status() == "trained"
    (run.folder / "metrics.json").write_text("{}")
    assert run.status() == "trained"  # metrics without run.json: the evaluation did not finish
    (run.folder / "run.json").write_text("{}")
    assert run.status() == "done"


def test_commands_pass_recipe_flags_through_and_resume(tmp_path):
    (run,) = plan([find_recipe(CONFIGS, "qwen2.5-0.5b")], ["steps_ordered"], [2], tmp_path)
    options = GridOptions(dataset="ORG/stepinst", recipes_dir=ROOT / "recipes", processes=8,
                          overrides=["--report_to", "trackio", "--dataset_cache_dir", "/c"], eval_args=["--limit", "5"])
    command = train_command(run, options, batch_plan(run.recipe, options.overrides, 8), resume=True)
    assert command[1:4] == ["-m", "accelerate.commands.launch", "--config_file"] and "--num_processes" in command
    text = " ".join(command)
    assert "--dataset_name ORG/stepinst --dataset_config steps_ordered --seed 2" in text
    assert f"--output_dir {run.folder} --run_name qwen2.5-0.5b-steps_ordered-seed2" in text
    assert "--per_device_train_batch_size 2 --gradient_accumulation_steps 1 --report_to trackio" in text
    assert text.endswith("--resume_from_checkpoint True")
    evaluation = " ".join(eval_command(run, options))
    assert f"--model_name_or_path {run.folder} --dataset_name ORG/stepinst --dataset_config steps_ordered --output_dir {run.folder}" in evaluation
    assert evaluation.endswith("--dataset_cache_dir /c --limit 5")


def test_cli_dry_run_and_bad_input(tmp_path):
    done = subprocess.run([*GRID, "--recipes", "t5-lm-adapt-base", "--configs", "definition", "--seeds", "1",
                           "--dataset", "d", "--out", str(tmp_path), "--dry-run", "--", "--max_steps", "2"],
                          capture_output=True, text=True, env=_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# t5-lm-adapt-base-definition-seed1: new\n") and "--max_steps 2" in done.stdout
    from stepinst_data.evaluation.run_record import write_grid_request

    write_grid_request(tmp_path / "t5-lm-adapt-base-definition-seed1", {"recipe": "t5-lm-adapt-base", "overrides": []})
    again = subprocess.run([*GRID, "--recipes", "t5-lm-adapt-base", "--configs", "definition", "--seeds", "1",
                            "--dataset", "d", "--out", str(tmp_path), "--dry-run", "--", "--max_steps", "2"],
                           capture_output=True, text=True, env=_env())
    assert again.returncode == 0 and "seed1: new, REFUSED: started with other settings (" in again.stdout
    assert "overrides" in again.stdout and "--max_steps" not in again.stdout
    bad = subprocess.run([*GRID, "--recipes", "t5-lm-adapt-base", "--configs", "definition", "--dataset", "d",
                          "--out", str(tmp_path), "--num-processes", "5"], capture_output=True, text=True, env=_env())
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith("error: 16 instances per step cannot be split evenly over 5 processes; "
                                       "use a number of processes that divides 16, or set `--instances-per-step`")


@pytest.fixture(scope="module")
def grid_assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid-assets")
    dataset = build_sample(root / "stepinst", "definition,steps_ordered")
    tokenizer = train_tokenizer(sample_texts(dataset, root / "hf"), root / "tok")
    return dataset, tiny_causal_lm(tokenizer, root / "tiny-llama")


def _wait_for(condition, process: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the grid exited ({process.returncode}) before the state the test waits for")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the grid")
        time.sleep(0.02)


@pytest.mark.slow
def test_a_killed_grid_resumes_without_retraining_and_compares(grid_assets, tmp_path):
    dataset, model = grid_assets
    out = tmp_path / "runs"
    command = [
        *GRID, "--recipes", "qwen2.5-0.5b", "--configs", "definition,steps_ordered", "--seeds", "1,2",
        "--dataset", str(dataset), "--out", str(out), "--limit", "8", "--max-new-tokens", "2", "--instances-per-step", "4",
        "--", "--model_name_or_path", str(model), "--bf16", "false", "--use_cpu", "true", "--activation_checkpointing", "false",
        "--max_train_samples", "8", "--max_length", "128", "--max_steps", "4", "--save_steps", "1", "--logging_steps", "1",
    ]
    first, second = out / "qwen2.5-0.5b-definition-seed1", out / "qwen2.5-0.5b-definition-seed2"
    grid = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: (first / "run.json").is_file() and any(second.glob("checkpoint-*/trainer_state.json")), grid)
    finally:
        os.killpg(grid.pid, signal.SIGKILL)  # the grid and the training run it started
        grid.wait()
    assert not (second / "stepinst_run.json").exists()  # killed mid-training
    finished = {p: p.stat().st_mtime_ns for p in (first / "model.safetensors", first / "metrics.json", first / "run.json")}

    done = subprocess.run(command, env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (out / "grid.log").read_text()
    assert "[1/4] qwen2.5-0.5b-definition-seed1: skipped, already trained and evaluated" in log
    resumed = json.loads((second / "stepinst_run.json").read_text())["resumed_from"]
    assert f"[2/4] qwen2.5-0.5b-definition-seed2: training resumed from {Path(resumed).name}" in log
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # nothing retrained or re-evaluated
    for folder in sorted(out.glob("qwen2.5-0.5b-*-seed*")):
        assert (folder / "metrics.json").is_file() and (folder / "model.safetensors").is_file()
        assert len(list(folder.glob("checkpoint-*"))) <= 2  # save_total_limit
    assert "4 runs in" in done.stdout and "0 trained/evaluated now" not in done.stdout

    again = subprocess.run(command, env=_env(), capture_output=True, text=True)
    assert again.returncode == 0 and "0 trained/evaluated now, 4 already done" in again.stdout

    table = tmp_path / "table.md"
    compare = subprocess.run([sys.executable, str(ROOT / "recipes" / "compare.py"), str(out), "--out", str(table)],
                             env=_env(), capture_output=True, text=True)
    assert compare.returncode == 0, compare.stderr
    text = table.read_text()
    assert "| model | definition | steps_ordered |" in text
    assert "**Every run was evaluated on the first 8 rows of the test split (`--limit`): a smoke test" in text
    row = next(line for line in text.splitlines() if line.startswith("| tiny-llama |"))
    assert row.count(" ± ") == 2 and row.count("[2 seeds]") == 2
    assert any(line.startswith("| tiny-llama | steps_ordered − definition | ") and line.endswith(" | 2 / 2 |")
               for line in text.splitlines())
    assert (tmp_path / "table.png").is_file() and (tmp_path / "table_categories.png").is_file()


def _fake_runner(calls: list[list[str]]):
    """Stands in for training and evaluation: writes the files a finished step leaves."""
    def run(command: list[str], log: Path) -> int:
        calls.append(command)
        folder = log.parent
        if log.name == "train.log":
            (folder / "stepinst_run.json").write_text("{}")
        else:
            (folder / "metrics.json").write_text("{}")
            (folder / "run.json").write_text("{}")
        return 0
    return run


def test_a_finished_run_started_with_other_settings_is_never_skipped_as_one_more_seed(tmp_path, caplog):
    from stepinst_data.evaluation.launch import grid_jobs, make_launcher
    from stepinst_data.evaluation.run_record import GRID_REQUEST

    def execute(runs, options, runner):
        return make_launcher("here", tmp_path / "launch").launch(grid_jobs(runs, options, runner))

    recipe = find_recipe(CONFIGS, "t5-lm-adapt-base")
    runs = plan([recipe], ["definition"], [1, 2], tmp_path)
    options = GridOptions(dataset="d", recipes_dir=ROOT / "recipes", overrides=["--max_steps", "2"])
    calls: list[list[str]] = []
    execute(runs, options, _fake_runner(calls))
    assert len(calls) == 4 and all((r.folder / GRID_REQUEST).is_file() for r in runs)

    calls.clear()
    assert set(execute(runs, options, _fake_runner(calls)).values()) == {"done"} and not calls  # same settings: skipped
    bigger_batches = GridOptions(dataset="d", recipes_dir=ROOT / "recipes", overrides=["--max_steps", "2"],
                                 eval_args=["--batch_size", "64"])
    assert set(execute(runs, bigger_batches, _fake_runner(calls)).values()) == {"done"}  # batch size changes no result

    changed = GridOptions(dataset="d", recipes_dir=ROOT / "recipes", overrides=["--max_steps", "2", "--learning_rate", "3e-3"])
    with pytest.raises(GridError, match=r"seed1 was started with other settings \(overrides: \['--max_steps', '2'\] then, "
                                        r"\['--max_steps', '2', '--learning_rate', '3e-3'\] now\); rerun with the settings"):
        execute(runs, changed, _fake_runner(calls))
    assert not calls  # refused before anything ran
    with pytest.raises(GridError, match=r"batch: \['--per_device_train_batch_size', '16', '--gradient_accumulation_steps', '1'\] then"):
        execute(runs, GridOptions(dataset="d", recipes_dir=ROOT / "recipes", overrides=["--max_steps", "2"], processes=2),
                _fake_runner(calls))

    queued = plan([recipe], ["steps_ordered"], [1], tmp_path)  # requested (e.g. queued by --no-wait), not started yet
    execute(queued, options, lambda command, log, **_: 0)  # a runner that leaves the folder as it was
    with pytest.raises(GridError, match="steps_ordered-seed1 was started with other settings"):
        execute(queued, changed, _fake_runner(calls))  # a queued job would still train it with the old settings

    (runs[0].folder / GRID_REQUEST).unlink()  # a run of an older grid: kept, with a warning
    (runs[1].folder / GRID_REQUEST).unlink()
    assert set(execute(runs, changed, _fake_runner(calls)).values()) == {"done"}
    assert "did not record its settings" in caplog.text


def test_the_grid_takes_any_configuration_the_dataset_defines(tmp_path):
    sys.path.insert(0, str(ROOT / "recipes"))
    try:
        from grid import dataset_configs
    finally:
        sys.path.remove(str(ROOT / "recipes"))
    from stepinst_data.card.release import release
    from stepinst_data.dataset.configs import PRESETS, StepInstConfig
    from stepinst_data.dataset.plan import BuildPlan
    from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_STEPS

    mine = StepInstConfig(name="steps_one_example", steps="ordered", num_pos_examples=1)
    release(BuildPlan.of([PRESETS["definition"], mine]), SAMPLE_NATINST, tmp_path / "ds", SAMPLE_STEPS,
            cache_dir=tmp_path / "cache")
    known = dataset_configs(str(tmp_path / "ds"))
    assert known == ["definition", "steps_one_example"] and dataset_configs("org/stepinst") is None
    recipe = find_recipe(CONFIGS, "t5-lm-adapt-base")
    assert [r.config for r in plan([recipe], ["steps_one_example"], [1], tmp_path, known)] == ["steps_one_example"]
    with pytest.raises(GridError, match=r"unknown configuration\(s\) \['steps_ordered'\]; the dataset's instance "
                                        r"configurations are definition, steps_one_example"):
        plan([recipe], ["steps_ordered"], [1], tmp_path, known)
    assert plan([recipe], ["definition_hq"], [1], tmp_path)[0].config == "definition_hq"  # a preset: known without a dataset
