"""`stepinst lm-eval-tasks`: the harness runs the written tasks on a tiny model (CPU), reads exactly the dataset's
prompts, stops at EOS, and reports stepinst's own EM and ROUGE-L: the same numbers as `stepinst score` on its generations.

The tiny Llama answers every prompt with "negative" then EOS (built from a config, see recipes_helpers), so the scores
are not all zero: some references are "negative", and per category they differ."""

from __future__ import annotations

import json

import pytest

from recipes_helpers import build_sample, sample_texts, tiny_causal_lm, train_tokenizer
from stepinst_data.cli import main

pytest.importorskip("lm_eval")


ROWS = [0, 1, 100, 101, 102, 130, 155]  # test rows of the sample's four categories (the harness runs only these)


@pytest.fixture(scope="module")
def harness_run(tmp_path_factory):
    """The sample (two configurations), its tasks, and the harness's results on a tiny Llama."""
    import datasets
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    root = tmp_path_factory.mktemp("lm-eval")
    dataset = build_sample(root / "stepinst", "definition,steps_ordered")
    model = tiny_causal_lm(train_tokenizer(sample_texts(dataset, root / "hf"), root / "tok"), root / "tiny-llama", answer="negative")
    tasks = root / "tasks"
    assert main(["lm-eval-tasks", "--dataset", str(dataset), "--out", str(tasks), "--cache-dir", str(root / "hf")]) == 0
    datasets.config.HF_DATASETS_CACHE = root / "hf"  # the harness loads the folder with datasets' default cache
    results = simple_evaluate(model="hf", model_args=f"pretrained={model},dtype=float32", tasks=["stepinst"],
                              task_manager=TaskManager(include_path=str(tasks), include_defaults=False), device="cpu",
                              batch_size=16, bootstrap_iters=0, log_samples=True,
                              samples={"stepinst_definition": ROWS, "stepinst_steps_ordered": ROWS})
    return dataset, tasks, results, root


def test_the_tasks_hold_the_dataset_and_the_official_generation_settings(harness_run):
    import yaml

    dataset, tasks, _, _ = harness_run
    assert sorted(p.name for p in tasks.iterdir()) == ["stepinst.yaml", "stepinst_definition.yaml", "stepinst_steps_ordered.yaml", "utils.py"]
    text = (tasks / "stepinst_steps_ordered.yaml").read_text()
    assert "process_results: !function utils.process_results" in text
    assert "aggregation: !function utils.rougeL_aggregate" in text
    plain = yaml.safe_load(text.replace("!function ", ""))
    assert (plain["dataset_path"], plain["dataset_name"], plain["doc_to_text"]) == (str(dataset), "steps_ordered", "prompt")
    assert plain["generation_kwargs"] == {"until": [], "do_sample": False, "max_gen_toks": 128}
    assert yaml.safe_load((tasks / "stepinst.yaml").read_text())["task"] == ["stepinst_definition", "stepinst_steps_ordered"]


def test_the_harness_prompts_exactly_the_prompt_column_and_stops_at_eos(harness_run):
    _, _, results, _ = harness_run
    for task in ("stepinst_definition", "stepinst_steps_ordered"):
        samples = results["samples"][task]
        assert samples
        for sample in samples:
            ((context, gen_kwargs),) = sample["arguments"]
            assert context == sample["doc"]["prompt"]
            assert gen_kwargs == {"until": [], "do_sample": False, "max_gen_toks": 128}
            assert sample["filtered_resps"][0] == "negative"  # one token, then EOS ended the generation


def test_the_harness_scores_equal_stepinst_score_on_the_same_generations(harness_run, tmp_path, capsys):
    dataset, _, results, root = harness_run
    for task, config in (("stepinst_definition", "definition"), ("stepinst_steps_ordered", "steps_ordered")):
        predictions = tmp_path / f"{config}.jsonl"
        predictions.write_text("".join(json.dumps({"id": s["doc"]["id"], "prediction": s["filtered_resps"][0]}) + "\n"
                                       for s in results["samples"][task]))
        every = tmp_path / f"{config}-all-refs.jsonl"
        assert main(["references", str(dataset), "--config", config, "--out", str(every), "--cache-dir", str(root / "hf")]) == 0
        ids = {s["doc"]["id"] for s in results["samples"][task]}
        references = tmp_path / f"{config}-refs.jsonl"
        references.write_text("".join(line for line in every.read_text().splitlines(keepends=True) if json.loads(line)["id"] in ids))
        capsys.readouterr()
        assert main(["score", "--predictions", str(predictions), "--references", str(references)]) == 0
        official = json.loads(capsys.readouterr().out)
        harness = results["results"][task]
        categories = {key.split("_for_")[1].removesuffix("_default_track") for key in official
                      if key.startswith("rougeL_for_") and not key.removeprefix("rougeL_for_").startswith("task")}
        categories = {c for c in categories if f"rougeL_for_{c},none" in harness}
        assert categories  # every category of the test split has its row
        assert len(categories) == len({s["doc"]["category"] for s in results["samples"][task]}) == 4
        assert 0 < harness["exact_match,none"] < 100 and harness["rougeL_for_sentiment_analysis,none"] > 0
        assert harness["exact_match,none"] == official["exact_match_default_track"]
        assert harness["rougeL,none"] == official["rougeL_default_track"]
        for category in categories:
            for metric in ("exact_match", "rougeL"):
                assert harness[f"{metric}_for_{category},none"] == official[f"{metric}_for_{category}_default_track"]


def test_a_foreign_file_in_out_is_never_replaced(harness_run, tmp_path, capsys):
    dataset, _, _, root = harness_run
    (tmp_path / "utils.py").write_text("my own helpers\n")
    assert main(["lm-eval-tasks", "--dataset", str(dataset), "--out", str(tmp_path), "--configs", "definition",
                 "--cache-dir", str(root / "hf")]) == 1
    assert "holds utils.py, not written by `stepinst lm-eval-tasks`" in capsys.readouterr().err
    assert (tmp_path / "utils.py").read_text() == "my own helpers\n"
