"""recipes/compare.py and the paired test: seeds averaged, differences tested, subsets and missing cells kept apart."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from stepinst_data.evaluation.report import ReportError, comparison_table, read_run
from stepinst_data.evaluation.run_record import EvalRecord, write_eval_record, write_scores
from stepinst_data.evaluation.significance import paired_bootstrap

ROOT = Path(__file__).resolve().parents[1]
TASKS = {"task1_qa": "Question Answering", "task2_sa": "Sentiment Analysis"}


def _rows(n_per_task: int = 20):
    import datasets

    rows = [{"id": f"{task}-{i}", "outputs": ["yes"], "task_name": task, "category": category}
            for task, category in TASKS.items() for i in range(n_per_task)]
    return datasets.Dataset.from_list(rows)


def _evaluation(folder: Path, label: str, config: str, seed: int, correct: int, limit: int | None = None) -> Path:
    """An evaluation folder written by the same functions as recipes/evaluate.py: the first `correct` rows right."""
    rows = _rows()
    if limit is not None:
        rows = rows.select(range(limit))
    predictions = ["yes" if i < correct else "no" for i in range(len(rows))]
    write_scores(folder, rows, predictions)
    write_eval_record(folder, EvalRecord(
        model=str(folder), label=label, train_config=config, eval_config=config, column=config, split="test",
        dataset="d", num_instances=len(rows), seed=seed, limit=limit, categories=sorted(TASKS.values()), tasks=sorted(TASKS)))
    return folder


def test_paired_bootstrap_p_values():
    same = paired_bootstrap([0.0, 100.0] * 20, [0.0, 100.0] * 20)
    assert (same.delta, same.p_value) == (0.0, 1.0)
    better = paired_bootstrap([0.0] * 40, [100.0] * 30 + [0.0] * 10, resamples=999)
    assert better.delta == 75.0 and better.p_value == 1 / 1000  # no resample comes near zero
    noise = paired_bootstrap([0, 100, 0, 100, 0, 100], [100, 0, 0, 100, 0, 100], resamples=2000)
    assert noise.delta == 0.0 and noise.p_value == 1.0
    tasks = paired_bootstrap([0.0] * 4, [100.0, 100.0, 0.0, 0.0], groups=["a", "a", "b", "b"], resamples=2000)
    assert (tasks.delta, tasks.units, tasks.unit) == (50.0, 2, "task")
    assert tasks.p_value > 0.2  # two tasks, one improved: not evidence of anything
    assert paired_bootstrap([1, 2, 3], [2, 2, 5], seed=3) == paired_bootstrap([1, 2, 3], [2, 2, 5], seed=3)
    with pytest.raises(ValueError, match="equally long, non-empty"):
        paired_bootstrap([1.0], [1.0, 2.0])


@pytest.fixture
def runs(tmp_path) -> Path:
    out = tmp_path / "runs"
    for seed, (base, steps) in enumerate([(10, 30), (12, 32)], start=1):
        _evaluation(out / f"m-definition-seed{seed}", "tiny", "definition", seed, base)
        _evaluation(out / f"m-steps_ordered-seed{seed}", "tiny", "steps_ordered", seed, steps)
    _evaluation(out / "other-steps_reversed-seed1", "other", "steps_reversed", 1, 5)
    _evaluation(out / "m-definition-limit", "tiny", "definition", 1, 10, limit=10)
    return out


def test_the_table_holds_mean_std_deltas_p_values_and_keeps_subsets_and_gaps_apart(runs, tmp_path):
    table = tmp_path / "table.md"
    done = subprocess.run([sys.executable, str(ROOT / "recipes" / "compare.py"), str(runs), "--out", str(table),
                           "--resamples", "999"], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr
    text = table.read_text()
    lines = text.splitlines()
    rouge = lines.index("## ROUGE-L")
    assert lines[rouge + 2] == "| model | definition | steps_ordered | steps_reversed |"
    em_def, em_steps = [25.0, 30.0], [75.0, 80.0]  # 10/40, 12/40 and 30/40, 32/40 right
    expected_def = f"{statistics.fmean(em_def):.2f} ± {statistics.stdev(em_def):.2f} [2 seeds]"
    expected_steps = f"{statistics.fmean(em_steps):.2f} ± {statistics.stdev(em_steps):.2f} [2 seeds]; Δ +50.00, p=0.001"
    assert f"| tiny | {expected_def} | {expected_steps} | missing |" in lines
    assert "| other | missing | missing | 12.50 [1 seed] |" in lines  # no definition run: no Δ, nothing drawn as 0
    assert "| tiny [first 10 rows] | 100.00 [1 seed] | missing | missing |" in lines  # a --limit run is its own row
    assert "## Exact match" in text and "## tiny: exact match / ROUGE-L by category (mean over seeds)" in text
    assert "| Question Answering | 55.00 / 55.00 | 100.00 / 100.00 |" in lines  # 11 of 20 right, mean over seeds
    assert (tmp_path / "table.png").stat().st_size > 1000 and (tmp_path / "table_categories.png").stat().st_size > 1000


def test_two_runs_with_the_same_seed_in_one_cell_are_refused(runs, tmp_path):
    _evaluation(tmp_path / "copy", "tiny", "definition", 1, 10)
    folders = [read_run(runs / "m-definition-seed1"), read_run(tmp_path / "copy")]
    with pytest.raises(ReportError, match=r"two runs of tiny on definition with seed 1: .*m-definition-seed1 and .*copy; pass only one"):
        comparison_table(folders)


def test_a_folder_without_evaluations_is_named(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "recipes" / "compare.py"), str(tmp_path)],
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: {tmp_path} holds no evaluation (run.json) itself or one level down; "
                                   "pass evaluation folders or a grid's output folder")
