"""Errors found by walking the README as a new user: each names the flag or configuration at fault."""

from __future__ import annotations

import json

import pytest

from stepinst_data.cli import main
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.stores.ratings import read_ratings_store


def _judge_only_store(tmp_path):
    """The sample's ratings of one annotator, recorded as an LLM judge's: a store with no human rating."""
    store = read_ratings_store(SAMPLE_RATINGS)
    judge = tmp_path / "judge.jsonl"
    lines = [json.dumps({"rubric": store.rubric.to_dict()})]
    lines += [json.dumps({**r, "annotator": "llm:gpt-4o-mini"}) for r in store.records if r["annotator"] == store.records[0]["annotator"]]
    judge.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return judge


def test_a_step_config_without_steps_names_the_config(tmp_path, capsys):
    code = main(["build", "--natinst", str(SAMPLE_NATINST), "--configs", "definition,steps_ordered",
                 "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")])
    assert code != 0
    err = capsys.readouterr().err
    assert "configuration(s) ['steps_ordered'] need step-by-step instructions" in err and "--steps" in err
    assert not (tmp_path / "out").exists()


def test_a_quality_threshold_with_only_llm_judge_ratings_is_refused(tmp_path, capsys):
    judge = _judge_only_store(tmp_path)
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


def test_a_batch_rating_one_pair_twice_is_refused_and_the_store_stays_readable(tmp_path):
    from stepinst_data.stores.ratings import RatingsError, append_ratings

    store = read_ratings_store(SAMPLE_RATINGS)
    path = tmp_path / "ratings.jsonl"
    first = store.records[0]
    append_ratings(path, [first], store.rubric)
    before = path.read_bytes()
    other = {**store.records[1], "annotator": "zoe"}
    with pytest.raises(RatingsError, match=rf"rate '{other['task_name']}' by 'zoe' more than once"):
        append_ratings(path, [other, {**other, "overall": 1}], store.rubric)
    assert path.read_bytes() == before
    assert len(read_ratings_store(path).records) == 1


def test_the_sampling_belongs_to_the_plan_never_to_a_configuration(tmp_path):
    from stepinst_data.dataset.configs import PRESETS
    from stepinst_data.dataset.plan import BuildPlan, PlanError

    with pytest.raises(ValueError, match=r"unknown configuration parameter\(s\) \['max_num_instances_per_task'\]"):
        PRESETS["definition"].with_params(max_num_instances_per_task=5)
    recorded = BuildPlan(configs=({"name": "definition", "seed": 7},))  # as an old manifest would hold it
    with pytest.raises(PlanError, match=r"configuration 'definition': unknown parameter\(s\) \['seed'\]"):
        recorded.check()


def test_a_default_build_with_only_llm_judge_ratings_leaves_the_threshold_config_out(tmp_path, capsys, caplog):
    judge = _judge_only_store(tmp_path)
    code = main(["build", "--natinst", str(SAMPLE_NATINST), "--steps", str(SAMPLE_STEPS), "--ratings", str(judge),
                 "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0
    assert "skipping 'steps_ordered_hq'" in caplog.text
    built = {p.name for p in (tmp_path / "out" / "data").iterdir()}
    assert "steps_ordered_hq" not in built and "ratings" in built
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "This build includes no human ratings. The `ratings` configuration holds 12 ratings by LLM judges" in card


def test_a_file_saved_into_out_during_a_build_is_kept(tmp_path, monkeypatch, caplog):
    from stepinst_data.card import release as release_module

    out = tmp_path / "out"
    args = ["build", "--natinst", str(SAMPLE_NATINST), "--configs", "definition", "--out", str(out),
            "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(args) == 0
    real = release_module.write_configs

    def write_and_meanwhile_save_a_note(*a, **kw):
        (out / "my_notes.md").write_text("mine", encoding="utf-8")
        return real(*a, **kw)

    monkeypatch.setattr(release_module, "write_configs", write_and_meanwhile_save_a_note)
    assert main(args) == 0
    kept = [p for p in tmp_path.iterdir() if p.name.startswith(".out.old-")]
    assert len(kept) == 1 and (kept[0] / "my_notes.md").read_text(encoding="utf-8") == "mine"
    assert "holds my_notes.md, which stepinst did not write" in caplog.text


def test_build_like_takes_no_progress_and_reproduces_the_build(sample_build, tmp_path, capsys):
    out = tmp_path / "again"
    code = main(["build", "--like", str(sample_build), "--sample", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0
    assert f"built {out} like {sample_build}: 10 configs" in capsys.readouterr().out
    original = sorted(p.relative_to(sample_build) for p in (sample_build / "data").rglob("*.parquet"))
    assert original == sorted(p.relative_to(out) for p in (out / "data").rglob("*.parquet"))


def test_the_training_target_is_the_first_non_blank_reference(sample_copy, tmp_path):
    import pyarrow.parquet as pq

    path = sample_copy / "tasks" / "task9101_stepinst_sample_integer_subtraction.json"  # a test task: its first instance is kept
    task = json.loads(path.read_text(encoding="utf-8"))
    first = task["Instances"][0]
    first["output"] = ["", "  ", *first["output"]]
    path.write_text(json.dumps(task), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["build", "--natinst", str(sample_copy), "--configs", "definition", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 0
    rows = pq.read_table(next((out / "data" / "definition").glob("test-*.parquet"))).to_pylist()
    row = next(r for r in rows if r["id"] == first["id"])
    assert row["outputs"] == first["output"]  # every reference kept, as in the file
    assert row["completion"] == first["output"][2]
