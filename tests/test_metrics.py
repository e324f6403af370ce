"""The official SUP-NATINST metrics, checked against values computed by hand."""

from __future__ import annotations

import json

import pytest

from stepinst_data.evaluation import metrics
from stepinst_data.evaluation.metrics import MetricsInputError, compute_metrics, exact_match, normalize_answer, rouge_l, score


def test_normalize_lowercases_strips_punctuation_and_keeps_articles():
    assert normalize_answer("  The  Cat, sat!\n") == "the cat sat"
    assert normalize_answer("A-b.c") == "abc"
    # the official script does not remove articles (unlike SQuAD)
    assert exact_match("the answer", "answer") == 0.0
    assert exact_match("The answer.", "the ANSWER") == 1.0


def test_rouge_l_by_hand():
    # tokens: [cat, sat, on, mat] vs [the, cat, sat]; LCS = 2 -> P = 2/4, R = 2/3, F = 4/7
    assert rouge_l("cat sat on mat", "the cat sat") == pytest.approx(4 / 7)
    # the default tokenizer lowercases and splits on non-alphanumerics; the Porter stemmer is on
    assert rouge_l("Running DOGS!", "run dog") == pytest.approx(1.0)
    assert rouge_l("", "anything") == 0.0
    assert rouge_l("x", "") == 0.0


def test_max_over_references_and_rounding():
    predictions = ["The cat sat.", "cat sat on mat", "zebra"]
    references = [["a dog", "the cat sat"], ["the cat sat", "dog"], ["horse"]]
    result = compute_metrics(predictions, references)
    assert result == {"exact_match": 33.3333, "rougeL": round(100 * (1 + 4 / 7 + 0) / 3, 4)}
    assert result["rougeL"] == 52.381


def _refs(*rows):
    return {r[0]: {"id": r[0], "references": r[1], "task_id": r[2], "task_category": r[3], "track": "default"} for r in rows}


def test_score_keys_grouping_and_missing_predictions(caplog):
    refs = _refs(
        ("a1", ["yes"], "task1_qa", "Question Answering"),
        ("a2", ["no"], "task1_qa", "Question Answering"),
        ("b1", ["the cat sat"], "task2_gen", "Text Generation"),
    )
    with caplog.at_level("WARNING"):
        result = score({"a1": "Yes!", "b1": "cat sat on mat"}, refs)  # a2 missing -> scored as ""
    assert "no prediction for 1 of 3" in caplog.text
    assert result == {
        "exact_match_default_track": 33.3333,
        "rougeL_default_track": round(100 * (1 + 0 + 4 / 7) / 3, 4),
        "exact_match_for_question_answering_default_track": 50.0,
        "rougeL_for_question_answering_default_track": 50.0,
        "exact_match_for_text_generation_default_track": 0.0,
        "rougeL_for_text_generation_default_track": round(100 * 4 / 7, 4),
        "exact_match_for_task1_qa_default_track": 50.0,
        "rougeL_for_task1_qa_default_track": 50.0,
        "exact_match_for_task2_gen_default_track": 0.0,
        "rougeL_for_task2_gen_default_track": 57.1429,
    }


def test_extra_prediction_ids_are_rejected_with_their_ids():
    refs = _refs(("a1", ["yes"], "t", "C"))
    with pytest.raises(MetricsInputError, match=r"2 prediction id\(s\) are not in the references: x9, z1"):
        score({"a1": "yes", "z1": "?", "x9": "?"}, refs)


def test_empty_prediction_and_empty_reference():
    refs = _refs(("a", [""], "t", "C"), ("b", ["word"], "t", "C"))
    result = score({"a": "", "b": ""}, refs)
    assert result["exact_match_default_track"] == 50.0  # "" == "" after normalization
    assert result["rougeL_default_track"] == 0.0  # rouge_score gives 0 when either side is empty


def test_files_and_bad_lines(tmp_path):
    refs = tmp_path / "refs.jsonl"
    preds = tmp_path / "preds.jsonl"
    metrics.write_jsonl(_refs(("a", ["Paris"], "task1", "QA")).values(), refs)
    preds.write_text(json.dumps({"id": "a", "prediction": "paris."}) + "\n\n")
    assert metrics.score_files(preds, refs)["exact_match_default_track"] == 100.0
    preds.write_text('{"id": "a"}\n')
    with pytest.raises(MetricsInputError, match=r"preds.jsonl:1: a prediction needs the key\(s\) \['prediction'\]"):
        metrics.read_predictions(preds)
    preds.write_text('{"id": "a", "prediction": "x"}\n{"id": "a", "prediction": "y"}\n')
    with pytest.raises(MetricsInputError, match="duplicate id"):
        metrics.read_predictions(preds)
    preds.write_text("not json\n")
    with pytest.raises(MetricsInputError, match="preds.jsonl:1: not valid JSON"):
        metrics.read_predictions(preds)


def test_score_cli_prints_and_writes(tmp_path, capsys):
    from stepinst_data.cli import main

    refs, preds, out = tmp_path / "refs.jsonl", tmp_path / "preds.jsonl", tmp_path / "m" / "metrics.json"
    metrics.write_jsonl(_refs(("a", ["the cat sat"], "task1", "QA"), ("b", ["x"], "task1", "QA")).values(), refs)
    metrics.write_jsonl([{"id": "a", "prediction": "cat sat on mat"}], preds)
    assert main(["score", "--predictions", str(preds), "--references", str(refs), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["rougeL_default_track"] == round(100 * (4 / 7) / 2, 4) == 28.5714
    metrics.write_jsonl([{"id": "nope", "prediction": ""}], preds)
    assert main(["score", "--predictions", str(preds), "--references", str(refs)]) == 1
    assert "not in the references: nope" in capsys.readouterr().err


def test_references_cli_on_the_built_sample(tmp_path, capsys):
    from stepinst_data.cli import main

    out = tmp_path / "stepinst"
    assert main(["build", "--sample", "--out", str(out), "--configs", "definition", "--cache-dir", str(tmp_path / "c")]) == 0
    refs = tmp_path / "refs.jsonl"
    assert main(["references", str(out), "--config", "definition", "--out", str(refs), "--cache-dir", str(tmp_path / "hf")]) == 0
    rows = [json.loads(line) for line in refs.read_text().splitlines()]
    assert len(rows) == 180  # 4 test tasks of the sample
    assert set(rows[0]) == {"id", "references", "task_id", "task_category", "track"}
    assert rows[0]["track"] == "default" and rows[0]["task_id"].startswith("task")
    assert main(["references", str(out), "--config", "steps_ordered", "--cache-dir", str(tmp_path / "hf")]) == 1
    assert "has no config 'steps_ordered'; it has: definition" in capsys.readouterr().err
