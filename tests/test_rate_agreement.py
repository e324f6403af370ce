"""Agreement figures against values computed by hand, and the report (humans vs LLM judges)."""

from __future__ import annotations

import json
import math

import pytest
from rate_helpers import rating, write_jsonl

from stepinst_data.cli import main
from stepinst_data.ratings import agreement as ag
from stepinst_data.ratings.report import build_report, format_report
from stepinst_data.stores.ratings import DEFAULT_RUBRIC, RatingsStore, read_ratings_store
from stepinst_data.sample import SAMPLE_RATINGS

# 3 annotators x 5 tasks, "overall" only varies; t5 is rated by A alone (not pairable: ignored by alpha).
#        t1 t2 t3 t4 t5
#   A:    1  2  3  3  2
#   B:    1  2  2  3  .
#   C:    2  2  3  3  .
MATRIX = {"A": [1, 2, 3, 3, 2], "B": [1, 2, 2, 3, None], "C": [2, 2, 3, 3, None]}


def _records() -> list[dict]:
    out = []
    for annotator, scores in MATRIX.items():
        for i, s in enumerate(scores):
            if s is not None:
                out.append(rating(f"t{i + 1}", annotator, s))
    return out


def test_ordinal_alpha_matches_hand_computation():
    # Coincidence matrix (each unit's ordered pairs weighted 1/(m_u - 1)):
    #   t1 {1,1,2}: o11 += 1, o12 += 1, o21 += 1     t2 {2,2,2}: o22 += 3
    #   t3 {3,2,3}: o33 += 1, o23 += 1, o32 += 1     t4 {3,3,3}: o33 += 3
    # marginals n1 = 2, n2 = 5, n3 = 5, n = 12.
    # Ordinal distances d(c,k) = (sum_{g=c..k} n_g - (n_c + n_k)/2)^2:
    d12, d23, d13 = ((2 + 5) / 2) ** 2, ((5 + 5) / 2) ** 2, (12 - (2 + 5) / 2) ** 2  # 12.25, 25, 72.25
    observed = (2 * 1 * d12 + 2 * 1 * d23) / 12  # (o12 + o21) d12 + (o23 + o32) d23, over n
    expected = 2 * (2 * 5 * d12 + 5 * 5 * d23 + 2 * 5 * d13) / (12 * 11)
    by_hand = 1 - observed / expected
    assert by_hand == pytest.approx(0.7212585, abs=1e-6)
    matrix = ag.reliability_matrix(_records(), "overall", ["A", "B", "C"])
    assert math.isnan(matrix[1][4])
    assert ag.ordinal_alpha(matrix, DEFAULT_RUBRIC) == pytest.approx(by_hand, abs=1e-9)


def test_quadratic_kappa_matches_hand_computation():
    # A = [1,2,3,3], B = [1,2,2,3] on t1..t4. Weights (i - j)^2.
    # Observed weighted disagreement: only (A=3, B=2) differs -> 1.
    # Expected: marginals A {1:1, 2:1, 3:2}, B {1:1, 2:2, 3:1}; sum a_i b_j (i-j)^2 / n
    #   = (1*2*1 + 1*1*4 + 1*1*1 + 1*1*1 + 2*1*4 + 2*2*1) / 4 = 20 / 4 = 5  ->  kappa = 1 - 1/5
    by_hand = 1 - 1 / 5
    pairs = ag.pairwise_kappas(_records(), "overall", ["A", "B", "C"], DEFAULT_RUBRIC)
    ab = next(p for p in pairs if (p.a, p.b) == ("A", "B"))
    assert ab.n == 4
    assert ab.kappa == pytest.approx(by_hand)
    assert [(p.a, p.b) for p in pairs] == [("A", "B"), ("A", "C"), ("B", "C")]


def test_undefined_agreement_is_none_not_nan():
    same = [rating(f"t{i}", a, 4) for i in range(3) for a in ("A", "B")]
    assert ag.ordinal_alpha(ag.reliability_matrix(same, "overall", ["A", "B"]), DEFAULT_RUBRIC) is None
    assert ag.pairwise_kappas(same, "overall", ["A", "B"], DEFAULT_RUBRIC)[0].kappa is None
    assert ag.ordinal_alpha(ag.reliability_matrix(same, "overall", ["A"]), DEFAULT_RUBRIC) is None


def test_llm_judge_is_reported_apart_from_humans(tmp_path):
    # overall: humans a, b; the judge llm:test. Human means 5, 4, 2, 3.5 (rounded half up: 5, 4, 2, 4).
    records = []
    for i, (a, b, judge) in enumerate([(5, 5, 5), (4, 4, 4), (2, 2, 2), (3, 4, 4)]):
        records += [rating(f"t{i}", "a", a), rating(f"t{i}", "b", b), rating(f"t{i}", "llm:test", judge)]
    store = read_ratings_store(write_jsonl(tmp_path / "r.jsonl", records))
    report = build_report(store, source="r.jsonl")
    assert report["humans"] == ["a", "b"] and report["llm_judges"] == ["llm:test"]
    overall = report["criteria"]["overall"]
    assert [(p["a"], p["b"]) for p in overall["kappa_pairs"]] == [("a", "b")]
    assert overall["distribution"] == {"1": 0, "2": 2, "3": 1, "4": 3, "5": 2}  # humans only
    judge = report["judges"]["llm:test"]["overall"]
    assert judge["n"] == 4
    assert judge["kappa"] == pytest.approx(1.0)  # equals the rounded human mean on every task
    # Spearman: ranks of judge [4, 2.5, 1, 2.5], of the means [4, 3, 1, 2] -> 4.5 / sqrt(4.5 * 5)
    assert judge["spearman"] == round(4.5 / math.sqrt(4.5 * 5), 3)  # agreement figures: 3 decimals, one rounding
    assert judge["mae"] == pytest.approx(0.5 / 4)
    text = format_report(report)
    assert "LLM judges vs the human mean" in text and "llm:test" in text
    assert "a ~ b" in text and "llm:test ~" not in text


def test_disputed_tasks_widest_range_first():
    records = [rating("calm", "a", 4), rating("calm", "b", 4), rating("mild", "a", 3), rating("mild", "b", 4),
               rating("hot", "a", 1), rating("hot", "b", 5), rating("solo", "a", 1)]
    summaries = ag.task_summaries(records, DEFAULT_RUBRIC, ["a", "b"])
    assert [s["task_name"] for s in ag.most_disputed(summaries, 5)] == ["hot", "mild"]
    assert next(s for s in summaries if s["task_name"] == "hot")["mean"]["overall"] == 3.0


def test_report_on_the_sample_prints_agreement(capsys, tmp_path):
    assert main(["rate", "report", "--ratings", str(SAMPLE_RATINGS), "--plot", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert "3 human annotator(s)" in out and "Krippendorff's alpha (ordinal)" in out
    row = next(line for line in out.splitlines() if line.startswith("overall"))
    assert row.split()[-2:] == ["0.550", "0.556"]  # alpha, mean pairwise quadratic kappa
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["rate", "report", "--ratings", str(SAMPLE_RATINGS), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tasks"] == 12 and data["records"] == 36
    assert len(data["per_task"]) == 12 and data["disputed"][0]["n"] == 3


def test_report_of_an_empty_store(tmp_path):
    report = build_report(RatingsStore(DEFAULT_RUBRIC, []))
    assert report["criteria"]["overall"]["alpha_ordinal"] is None
    assert "none: every task" in format_report(report)
