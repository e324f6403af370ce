"""Errors found by walking the README as a new user: each names the flag or configuration at fault."""

from __future__ import annotations

import json

import pytest

from stepinst_data.cli import main
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.stores.ratings import read_ratings_store


def test_a_step_config_without_steps_names_the_config(tmp_path, capsys):
    code = main(["build", "--natinst", str(SAMPLE_NATINST), "--configs", "definition,steps_ordered",
                 "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    assert code != 0
    err = capsys.readouterr().err
    assert "configuration(s) ['steps_ordered'] need step-by-step instructions" in err and "--steps" in err
    assert not (tmp_path / "out").exists()


def test_a_quality_threshold_with_only_llm_judge_ratings_is_refused(tmp_path, capsys):
    store = read_ratings_store(SAMPLE_RATINGS)
    judge = tmp_path / "judge.jsonl"
    lines = [json.dumps({"rubric": store.rubric.to_dict()})]
    lines += [json.dumps({**r, "annotator": "llm:gpt-4o-mini"}) for r in store.records if r["annotator"] == store.records[0]["annotator"]]
    judge.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["build", "--natinst", str(SAMPLE_NATINST), "--steps", str(SAMPLE_STEPS), "--ratings", str(judge),
                 "--configs", "steps_ordered_hq", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    assert code != 0
    err = capsys.readouterr().err
    assert "['steps_ordered_hq'] keep train tasks by their human quality rating" in err
    assert f"{judge} holds no human rating" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--predictions", "--references"])
def test_score_names_the_missing_file_and_its_flag(tmp_path, capsys, flag):
    present = tmp_path / "present.jsonl"
    present.write_text("", encoding="utf-8")
    missing = tmp_path / "nope.jsonl"
    args = {"--predictions": str(present), "--references": str(present), flag: str(missing)}
    code = main(["score", *[x for pair in args.items() for x in pair]])
    assert code != 0
    assert f"{flag} {missing}: no such file" in capsys.readouterr().err
