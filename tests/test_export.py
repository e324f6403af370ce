"""The Hub-ready folder: every config loads with load_dataset, rebuilds are exact and atomic."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from datasets import get_dataset_config_names, load_dataset

from stepinst_data.dataset import export as export_module
from stepinst_data.dataset.configs import INSTANCE_CONFIGS, PRESETS
from stepinst_data.card.release import release
from stepinst_data.dataset.export import ExportError
from stepinst_data.dataset.inputs import load_build_inputs
from stepinst_data.dataset.plan import BuildPlan
from stepinst_data.dataset.render import INSTANCE_FEATURES
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.stores.steps import StepsStoreError

TRAIN_ROWS = 100 + 30 + 40 + 36 + 24 + 24 + 24 + 24  # task9001 sampled 100 of 150
TEST_ROWS = 100 + 30 + 25 + 25  # task9101: the first 100 of 120


def _build(out, configs=None, steps=SAMPLE_STEPS, ratings=SAMPLE_RATINGS, validation_tasks=0, **kw):
    """One release of the sample (default: every configuration its stores serve)."""
    return release(BuildPlan.of(configs, validation_tasks=validation_tasks), SAMPLE_NATINST, out, steps, ratings, **kw).written


def test_every_config_loads_with_load_dataset(sample_build, hf_cache):
    assert get_dataset_config_names(str(sample_build)) == list(PRESETS)
    for name in INSTANCE_CONFIGS:
        ds = load_dataset(str(sample_build), name, cache_dir=hf_cache)
        assert ds["train"].features == INSTANCE_FEATURES, name
        if not name.endswith("_hq"):
            assert ds["train"].num_rows == TRAIN_ROWS, name
        assert ds["test"].num_rows == TEST_ROWS, name
    hq, control = (load_dataset(str(sample_build), n, split="train", cache_dir=hf_cache) for n in ("steps_ordered_hq", "definition_hq"))
    assert 0 < hq.num_rows < TRAIN_ROWS and hq["id"] == control["id"]  # the control trains on the same rated instances
    assert all("Steps:" not in p for p in control["prompt"]) and all("Steps:\n1. " in p for p in hq["prompt"])


def test_step_configs_differ_only_in_order(sample_build, hf_cache):
    rows = {n: load_dataset(str(sample_build), n, split="test", cache_dir=hf_cache)[0] for n in INSTANCE_CONFIGS}
    ordered, shuffled, reversed_ = rows["steps_ordered"], rows["steps_shuffled"], rows["steps_reversed"]
    assert ordered["step_order"] == [0, 1, 2]
    assert reversed_["steps"] == ordered["steps"][::-1]
    assert sorted(shuffled["steps"]) == sorted(ordered["steps"]) and shuffled["steps"] != ordered["steps"]
    assert rows["definition"]["steps"] == [] and "Steps:" not in rows["definition"]["prompt"]
    assert rows["steps_only"]["prompt"].startswith("Steps:\n1. ")
    assert rows["definition_pos"]["prompt"].count(" Positive Example ") == 2
    assert rows["steps_ordered"]["prompt"] == (
        f"Definition: {ordered['definition']}\n\nSteps:\n"
        + "".join(f"{i}. {s}\n" for i, s in enumerate(ordered["steps"], 1))
        + f"\nNow complete the following example -\nInput: {ordered['input']}.\nOutput: "
    )
    assert {r["id"] for r in rows.values()} == {ordered["id"]}  # the same instance in every config


def test_hq_filters_train_tasks_only_and_ratings_rows(sample_build, hf_cache):
    hq = load_dataset(str(sample_build), "steps_ordered_hq", cache_dir=hf_cache)
    assert set(hq["train"]["task_name"]) == {
        "task9001_stepinst_sample_integer_addition", "task9002_stepinst_sample_list_maximum",
        "task9003_stepinst_sample_sentiment_templates", "task9005_stepinst_sample_capital_cities",
        "task9007_stepinst_sample_triples_to_text", "task9008_stepinst_sample_sort_words",
    }
    assert min(hq["train"]["steps_quality"]) >= 4.0
    assert hq["test"].num_rows == TEST_ROWS
    ratings = load_dataset(str(sample_build), "ratings", cache_dir=hf_cache)
    assert ratings["train"].num_rows == 8 * 3 and ratings["test"].num_rows == 4 * 3
    assert ratings["train"].column_names == ["task_name", "annotator", "correctness", "completeness", "order", "overall", "comment"]


def test_rebuild_is_byte_identical_also_in_parallel(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _build(a)
    _build(b, threads=3)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_rebuild_in_place_with_new_content_is_what_load_dataset_returns(tmp_path, hf_cache):
    """datasets caches a local folder by file names and sizes: digests in names defeat stale hits."""
    out = tmp_path / "stepinst"
    _build(out, [PRESETS["steps_ordered"]])
    first = load_dataset(str(out), "steps_ordered", split="test", cache_dir=hf_cache)[0]["steps"]
    _build(out, [PRESETS["steps_reversed"].with_params(name="steps_ordered")])
    second = load_dataset(str(out), "steps_ordered", split="test", cache_dir=hf_cache)[0]["steps"]
    assert second == first[::-1]


def test_out_folder_with_foreign_files_is_refused(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for overwrite in (False, True):  # --overwrite never deletes a file stepinst did not write
        with pytest.raises(ExportError, match=r"is not a previous stepinst build .* and holds thesis.tex; stepinst "
                                              r"never deletes files it did not write, with or without --overwrite"):
            _build(out, overwrite=overwrite)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"] and (out / "thesis.tex").read_text() == "precious"


def test_rebuild_keeps_files_a_user_added_to_a_built_folder(tmp_path):
    out = tmp_path / "stepinst"
    _build(out, [PRESETS["definition"]])
    (out / "notes.md").write_text("mine")
    with pytest.raises(ExportError, match=r"also holds 1 file\(s\) stepinst did not write \(notes.md\)"):
        _build(out, [PRESETS["definition"]])
    assert (out / "notes.md").read_text() == "mine"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_steps_store_inside_the_output_folder_is_never_deleted(tmp_path, overwrite):
    """Generated steps cost money: a rebuild that would delete its own input store is refused."""
    out = tmp_path / "stepinst"
    _build(out, [PRESETS["definition"]])
    store = out / "steps.jsonl"
    shutil.copy(SAMPLE_STEPS, store)
    with pytest.raises(ExportError, match=r"contains the steps store .*steps.jsonl: a build replaces --out whole"):
        _build(out, [PRESETS["steps_ordered"]], steps=store, cache_dir=tmp_path / "cache", overwrite=overwrite)
    assert store.read_bytes() == SAMPLE_STEPS.read_bytes()


def test_interrupted_build_leaves_the_previous_folder_whole(tmp_path, monkeypatch):
    out = tmp_path / "stepinst"
    _build(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    calls = []

    def failing(config, *args):
        calls.append(config.name)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(config, *args)

    original = export_module.render_table
    monkeypatch.setattr(export_module, "render_table", failing)
    with pytest.raises(KeyboardInterrupt):
        _build(out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["stepinst"]  # no half-written folder left


def test_step_configs_need_fresh_steps(tmp_path):
    store = tmp_path / "steps.jsonl"
    lines = SAMPLE_STEPS.read_text().splitlines()
    stale = json.loads(lines[0]) | {"definition_sha256": "0" * 64}
    store.write_text("\n".join([json.dumps(stale), *lines[2:]]) + "\n")
    with pytest.raises(StepsStoreError) as info:
        _build(tmp_path / "out", steps=store)
    message = str(info.value)
    assert "no steps for 1 task(s): task9002_stepinst_sample_list_maximum" in message
    assert "stale steps for 1 task(s)" in message and "task9001_stepinst_sample_integer_addition" in message
    assert not (tmp_path / "out").exists()


def test_without_steps_only_definition_configs_are_built(tmp_path, hf_cache):
    out = tmp_path / "defs"
    _build(out, steps=None, ratings=None)
    assert get_dataset_config_names(str(out)) == ["definition", "definition_pos"]
    assert load_dataset(str(out), "definition", cache_dir=hf_cache)["test"].num_rows == TEST_ROWS


def test_validation_split_and_card(tmp_path, hf_cache):
    out = tmp_path / "val"
    _build(out, [PRESETS["definition"]], validation_tasks=2)
    ds = load_dataset(str(out), "definition", cache_dir=hf_cache)
    assert list(ds) == ["train", "validation", "test"]
    assert len(set(ds["validation"]["task_name"])) == 2
    card = (out / "README.md").read_text()
    assert "config_name: definition" in card and "dataset_info:" in card
    assert "Improving Cross-Task Generalization with Step-by-Step Instructions" in card
    shutil.rmtree(out)


def _small_chunks(monkeypatch, rows=40):
    """Many chunks from the small sample, so lanes run ahead of and behind each other."""
    chunks = export_module.task_chunks
    monkeypatch.setattr(export_module, "task_chunks", lambda tasks: chunks(tasks, rows))


def test_lanes_keep_every_file_in_table_order(tmp_path, monkeypatch):
    _small_chunks(monkeypatch)
    _build(tmp_path / "one", threads=1)
    _build(tmp_path / "many", threads=4)
    inputs = load_build_inputs(SAMPLE_NATINST, SAMPLE_STEPS, SAMPLE_RATINGS)
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    many = {p.relative_to(tmp_path / "many"): p.read_bytes() for p in (tmp_path / "many").rglob("*") if p.is_file()}
    assert one == many
    rows = load_dataset(str(tmp_path / "many"), "steps_reversed", split="train", cache_dir=tmp_path / "hf")
    table_order = [i.id for t in inputs.table.tasks if t.split == "train" for i in t.instances]
    assert rows["id"] == table_order


def test_an_error_in_one_lane_stops_the_build_and_leaves_nothing(tmp_path, monkeypatch):
    _small_chunks(monkeypatch)
    render, calls = export_module.render_table, []

    def failing(config, *args, **kwargs):
        calls.append(config.name)
        if config.name == "steps_shuffled" and calls.count("steps_shuffled") == 3:
            raise RuntimeError("disk full while writing steps_shuffled")
        return render(config, *args, **kwargs)

    monkeypatch.setattr(export_module, "render_table", failing)
    with pytest.raises(RuntimeError, match="disk full while writing steps_shuffled"):
        _build(tmp_path / "out", threads=3)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary folder left behind
    assert not [t.name for t in threading.enumerate() if t.name.startswith("stepinst-write-")]  # every lane ended


def test_a_configuration_named_twice_is_refused(tmp_path):
    twice = [PRESETS["definition"], PRESETS["steps_reversed"].with_params(name="definition")]
    with pytest.raises(ValueError, match=r"configuration name\(s\) \['definition'\] appear more than once"):
        _build(tmp_path / "out", twice)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_thread_count_must_be_a_positive_integer(tmp_path, threads):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        _build(tmp_path / "out", threads=threads)

