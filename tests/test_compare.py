"""recipes/compare.py: cells over seeds, the paper's pairs tested with seeds and tasks, settings never pooled silently."""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from stepinst_data.evaluation.comparison import PAIRS, Comparison, ReportError
from stepinst_data.evaluation.comparison_report import comparison_charts, comparison_records, comparison_table
from stepinst_data.evaluation.report import read_run
from stepinst_data.evaluation.run_record import EvalRecord, write_eval_record, write_scores
from stepinst_data.evaluation.significance import holm

ROOT = Path(__file__).resolve().parents[1]
TASKS = {"task1_qa": "Question Answering", "task2_sa": "Sentiment Analysis", "task3_qa": "Question Answering"}
N = 20  # instances per task
SETTINGS = {"learning_rate": 5e-5, "max_steps": 10, "dataset_manifest": "abc"}


def _rows(limit: int | None = None):
    import datasets

    rows = [{"id": f"{task}-{i}", "outputs": ["yes"], "task_name": task, "category": category}
            for task, category in TASKS.items() for i in range(N)]
    return datasets.Dataset.from_list(rows[:limit] if limit else rows)


def _evaluation(folder: Path, label: str, config: str, seed: int, correct: int, limit: int | None = None,
                settings: dict | None = None, **record) -> Path:
    """An evaluation folder written by the same functions as recipes/evaluate.py: the first `correct` rows of each task right."""
    rows = _rows(limit)
    predictions = ["yes" if int(i.rsplit("-", 1)[1]) < correct else "no" for i in rows["id"]]
    write_scores(folder, rows, predictions)
    write_eval_record(folder, EvalRecord(
        model=str(folder), label=label, train_config=config, eval_config=config, column=config, split="test",
        dataset="d", num_instances=len(rows), seed=seed, limit=limit, categories=sorted(set(TASKS.values())),
        tasks=sorted(TASKS), settings=dict(SETTINGS if settings is None else settings), **record))
    return folder


CORRECT = {"definition": (5, 6), "steps_ordered": (15, 16), "steps_shuffled": (14, 17)}  # right per task, seeds 1 and 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("grid") / "runs"
    cost = {"compute": {"gpu_hours": 0.5, "train_tokens": 1000},
            "truncation": {"total": 60, "examples_dropped": 6, "steps_cut": 3, "definition_cut": 0, "instance_cut": 0},
            "train_truncation": {"total": 200, "examples_dropped": 50, "steps_cut": 10, "definition_cut": 0, "instance_cut": 0}}
    for config, per_seed in CORRECT.items():
        for seed, correct in enumerate(per_seed, start=1):
            _evaluation(out / f"m-{config}-seed{seed}", "tiny", config, seed, correct, **cost)
    _evaluation(out / "m-steps_reversed-seed1", "tiny", "steps_reversed", 1, 10)  # an old record: no cost fields
    _evaluation(out / "m-my_config-seed1", "tiny", "my_config", 1, 3)  # a custom configuration
    _evaluation(out / "other-steps_reversed-seed1", "other", "steps_reversed", 1, 5)
    _evaluation(out / "m-definition-limit", "tiny", "definition", 1, 10, limit=10)
    return out


def _compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "recipes" / "compare.py"), *args],
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})


@pytest.fixture(scope="module")
def compared(runs) -> Path:
    """compare.py run once on the fixture grid: table.md, its charts and comparisons.json in one folder."""
    out = runs.parent / "out"
    done = _compare(str(runs), "--out", str(out / "table.md"), "--json", str(out / "comparisons.json"))
    assert done.returncode == 0, done.stderr
    return out


def _welch(b: tuple[int, int], a: tuple[int, int]):
    """Every task moves alike in the fixture, so the test is Welch's t-test on the runs' overall scores."""
    score = lambda k: 100.0 * k / N  # noqa: E731
    return stats.ttest_ind([score(k) for k in b], [score(k) for k in a], equal_var=False)


def test_the_json_holds_one_object_per_pair_with_ci_p_and_holm(compared):
    records = json.loads((compared / "comparisons.json").read_text())
    for r in records:
        assert set(r) >= {"model", "metric", "a", "b", "delta", "ci", "p", "p_adjusted", "unit", "seeds_a", "seeds_b"}
    rouge = [r for r in records if r["metric"] == "rougeL"]
    assert [(r["model"], r["a"], r["b"]) for r in rouge] == [
        ("tiny", "definition", "steps_ordered"), ("tiny", "steps_ordered", "steps_shuffled"),
        ("tiny", "steps_ordered", "steps_reversed")]  # other / [first 10 rows]: no pair with both cells
    assert {r["metric"] for r in records} == {"rougeL", "exact_match"} and len(records) == 6
    ordered, shuffled, reversed_ = rouge
    for got, (b, a) in ((ordered, ("steps_ordered", "definition")), (shuffled, ("steps_shuffled", "steps_ordered"))):
        welch = _welch(CORRECT[b], CORRECT[a])
        assert got["delta"] == pytest.approx(100 * (statistics.fmean(CORRECT[b]) - statistics.fmean(CORRECT[a])) / N)
        assert got["p"] == pytest.approx(welch.pvalue)
        assert got["ci"] == pytest.approx(list(welch.confidence_interval(0.95)))
        assert (got["unit"], got["seeds_a"], got["seeds_b"], got["ci_covers"]) == ("task", 2, 2, "tasks and seeds")
    assert [r["p_adjusted"] for r in rouge[:2]] == pytest.approx(holm([ordered["p"], shuffled["p"]]))
    assert (reversed_["p"], reversed_["p_adjusted"], reversed_["reason"]) == (None, None, "needs ≥ 2 seeds")
    assert (reversed_["seeds_a"], reversed_["seeds_b"], reversed_["ci_covers"]) == (2, 1, "tasks only")
    assert reversed_["delta"] == pytest.approx(100 * (10 - statistics.fmean(CORRECT["steps_ordered"])) / N)


def test_the_table_shows_scores_differences_macros_cost_and_keeps_subsets_and_gaps_apart(runs, compared):
    lines = (compared / "table.md").read_text().splitlines()
    rouge = lines.index("## ROUGE-L")
    assert lines[rouge + 2] == "| model | definition | steps_ordered | steps_shuffled | steps_reversed | my_config |"
    em_def = [100 * k / N for k in CORRECT["definition"]]
    expected_def = f"{statistics.fmean(em_def):.2f} ± {statistics.stdev(em_def):.2f} [2 seeds]"
    tiny = next(line for line in lines[rouge:] if line.startswith("| tiny |"))
    assert tiny.startswith(f"| tiny | {expected_def} | 77.50 ± 3.54 [2 seeds] |")
    assert tiny.endswith("| 50.00 [1 seed] | 15.00 [1 seed] |")  # the custom configuration is a column
    assert "| other | missing | missing | missing | 25.00 [1 seed] | missing |" in lines  # nothing drawn as 0
    assert "| tiny [first 10 rows] | 100.00 [1 seed] | missing | missing | missing | missing |" in lines
    records = Comparison.from_runs([read_run(p.parent) for p in runs.glob("*/run.json")]).results("rougeL")
    first = records[0].difference
    assert 0.001 < first.p_value < 0.05  # printed with three decimals
    assert (f"| tiny | steps_ordered − definition | +50.00 | [{first.ci[0]:+.2f}, {first.ci[1]:+.2f}] | "
            f"{first.p_value:.3f} | {records[0].p_adjusted:.3f} | 2 / 2 |") in lines
    reversed_row = next(line for line in lines if line.startswith("| tiny | steps_reversed − steps_ordered |"))
    assert "(tasks only) | needs ≥ 2 seeds | — | 2 / 1 |" in reversed_row
    assert "over the 2 tested comparisons of this table" in "\n".join(lines)
    # macro: task1 and task3 are Question Answering, so the category macro equals the task macro here
    assert "| tiny | ROUGE-L, task macro | 27.50 ± 3.54 [2 seeds] | 77.50 ± 3.54 [2 seeds] |" in "\n".join(lines)
    cost = next(line for line in lines if line.startswith("| tiny | definition | 2 |"))
    assert cost == "| tiny | definition | 2 | 10.0% | 5.0% | 0.0% | 0.0% | 25.0% | 5.0% | 0.0% | 0.0% | 1.00 | 2,000 |"
    old = next(line for line in lines if line.startswith("| tiny | steps_reversed | 1 |"))
    assert old == "| tiny | steps_reversed | 1 | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |"
    assert "| Question Answering | 27.50 / 27.50 | 77.50 / 77.50 | 77.50 / 77.50 | 50.00 / 50.00 | 15.00 / 15.00 |" in lines
    assert (compared / "table.png").stat().st_size > 1000 and (compared / "table_categories.png").stat().st_size > 1000


def test_pairs_need_both_cells_and_cover_the_order_questions():
    assert ("steps_ordered", "steps_shuffled") in PAIRS and ("steps_ordered", "steps_reversed") in PAIRS
    assert ("definition_pos", "steps_ordered_pos") in PAIRS and ("definition_hq", "steps_ordered_hq") in PAIRS
    assert len(set(PAIRS)) == len(PAIRS)


def test_runs_whose_settings_differ_are_refused_naming_key_values_and_folders(tmp_path):
    a = _evaluation(tmp_path / "lr-default", "tiny", "definition", 1, 5)
    b = _evaluation(tmp_path / "lr-high", "tiny", "definition", 2, 6, settings={**SETTINGS, "learning_rate": 3e-3})
    with pytest.raises(ReportError, match=r"runs of tiny on definition differ in more than the seed, so they cannot be "
                                          r"pooled: .*lr-default vs .*lr-high: learning_rate: 5e-05 vs 0.003; pass"):
        Comparison.from_runs([read_run(a), read_run(b)])
    done = _compare(str(a), str(b))
    assert done.returncode == 1 and done.stderr.startswith("error: runs of tiny on definition differ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_records_without_settings_pool_only_with_each_other_with_a_warning(tmp_path, caplog):
    old1 = _evaluation(tmp_path / "old1", "tiny", "definition", 1, 5, settings={})
    old2 = _evaluation(tmp_path / "old2", "tiny", "definition", 2, 6, settings={})
    new = _evaluation(tmp_path / "new", "tiny", "definition", 3, 6)
    with caplog.at_level(logging.WARNING):
        comparison = Comparison.from_runs([read_run(old1), read_run(old2)])
    assert len(comparison.cells["tiny", "definition"].runs) == 2
    assert "2 runs pooled whose records predate `settings`" in caplog.text
    with pytest.raises(ReportError, match=r"learning_rate: None vs 5e-05"):
        Comparison.from_runs([read_run(old1), read_run(new)])


def test_two_runs_with_the_same_seed_in_one_cell_are_refused(runs, tmp_path):
    _evaluation(tmp_path / "copy", "tiny", "definition", 1, 10)
    folders = [read_run(runs / "m-definition-seed1"), read_run(tmp_path / "copy")]
    with pytest.raises(ReportError, match=r"two runs of tiny on definition with seed 1: .*m-definition-seed1 and .*copy; pass only one"):
        Comparison.from_runs(folders)


def test_cells_scored_on_different_instances_are_not_compared(tmp_path):
    a = _evaluation(tmp_path / "a", "tiny", "definition", 1, 5)
    b = _evaluation(tmp_path / "b", "tiny", "steps_ordered", 1, 5)
    scores = (b / "scores.jsonl").read_text().splitlines()
    (b / "scores.jsonl").write_text("\n".join(scores[:-1]) + "\n")  # one instance fewer
    comparison = Comparison.from_runs([read_run(a), read_run(b)])
    with pytest.raises(ReportError, match=r"tiny: `definition` and `steps_ordered` were evaluated on different test instances \(60 vs 59\)"):
        comparison_records(comparison)


def test_a_one_seed_table_never_prints_a_p_value(tmp_path):
    runs = [read_run(_evaluation(tmp_path / c, "tiny", c, 1, k)) for c, k in (("definition", 4), ("steps_ordered", 9))]
    comparison = Comparison.from_runs(runs)
    (record, _) = comparison_records(comparison)
    assert (record["p"], record["p_adjusted"], record["reason"]) == (None, None, "needs ≥ 2 seeds")
    row = next(line for line in comparison_table(comparison).splitlines() if "steps_ordered − definition" in line)
    assert "needs ≥ 2 seeds" in row and "p=" not in row
    assert all(path.is_file() for path in comparison_charts(comparison, tmp_path / "c.png"))


def test_a_folder_without_evaluations_is_named(tmp_path):
    done = _compare(str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"error: {tmp_path} holds no evaluation (run.json) itself or one level down; "
                                   "pass evaluation folders or a grid's output folder")


def test_task_matrix_reads_each_runs_task_means(runs):
    cell = Comparison.from_runs([read_run(runs / f"m-definition-seed{s}") for s in (1, 2)]).cells["tiny", "definition"]
    scores = cell.task_scores("exact_match")
    assert scores.tasks == sorted(TASKS) and list(scores.counts) == [N] * len(TASKS)
    assert np.allclose(scores.matrix, [[25.0] * 3, [30.0] * 3])


def test_a_confidence_outside_0_1_is_refused_naming_the_flag(runs):
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_recipe", ROOT / "recipes" / "compare.py")
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    args = compare.make_parser().parse_args([str(runs), "--confidence", "95"])
    with pytest.raises(ValueError, match=r"--confidence 95.0: give a coverage between 0 and 1, e.g. 0.95"):
        compare.main(args)
