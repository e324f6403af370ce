"""Prompts fitted to the token budget as Tk-Instruct fits them: examples, then steps, never the instance."""

from __future__ import annotations

import pytest

from recipes_helpers import build_sample, sample_texts, train_tokenizer
from stepinst_data.dataset.configs import INSTANCE_CONFIGS, PRESETS
from stepinst_data.dataset.orderings import shuffled_order
from stepinst_data.dataset.template import instance_block
from stepinst_data.evaluation.prompt_fit import PromptFitError, fit_prompts, resampled_steps
from stepinst_data.evaluation.training import step_order_seed, tokenize_causal, tokenize_seq2seq
from stepinst_data.source.natinst import Sampling

CONFIGS = [c for c in INSTANCE_CONFIGS if not c.endswith("_hq")]  # the hq pair trains on fewer tasks


@pytest.fixture(scope="module")
def fit_assets(tmp_path_factory):
    import datasets
    from transformers import AutoTokenizer

    root = tmp_path_factory.mktemp("fit")
    dataset = build_sample(root / "stepinst")
    tok = AutoTokenizer.from_pretrained(train_tokenizer(sample_texts(dataset, root / "hf"), root / "tok", seq2seq=True))
    rows = {c: list(datasets.load_dataset(str(dataset), c, cache_dir=str(root / "hf"))["train"]) for c in CONFIGS}
    return tok, rows


def _length(tok, text: str) -> int:
    return len(tok(text)["input_ids"])


@pytest.mark.parametrize("config", CONFIGS)
def test_a_prompt_that_fits_is_the_datasets_prompt_unchanged(fit_assets, config):
    tok, rows = fit_assets
    texts, report = fit_prompts(rows[config], tok, 10_000)
    assert texts == [r["prompt"] for r in rows[config]]
    assert (report.over_budget, report.examples_dropped, report.steps_cut, report.instance_cut) == (0, 0, 0, 0)


@pytest.mark.parametrize("config", CONFIGS)
def test_a_long_prompt_keeps_its_instance_and_loses_examples_before_steps(fit_assets, config):
    tok, rows = fit_assets
    lengths = sorted(_length(tok, r["prompt"]) for r in rows[config])
    budget = lengths[len(lengths) // 2]  # half of the prompts are too long
    texts, report = fit_prompts(rows[config], tok, budget)
    assert report.over_budget == sum(n > budget for n in lengths) > 0
    for row, text in zip(rows[config], texts):
        assert _length(tok, text) <= budget
        assert text.endswith(instance_block(row["input"]))  # the instance and its `Output: ` are always whole
        if text == row["prompt"]:
            continue
        shown_steps = [s for s in row["steps"] if f". {s.strip()}\n" in text]
        assert shown_steps == row["steps"][: len(shown_steps)]  # steps go from the last one back, whole
        if shown_steps:  # a step is only dropped once every example is gone
            assert "Example 1 -" not in text or len(shown_steps) == len(row["steps"])
    assert report.examples_dropped == 0 or PRESETS[config].num_pos_examples
    assert report.steps_cut == 0 or PRESETS[config].steps != "none"


def test_the_definition_is_cut_only_when_nothing_else_is_left_and_the_instance_only_when_it_alone_is_too_long(fit_assets):
    tok, rows = fit_assets
    row = max(rows["steps_ordered_pos"], key=lambda r: _length(tok, r["prompt"]))
    instance = _length(tok, instance_block(row["input"]))
    (text,), report = fit_prompts([row], tok, instance + 6)
    assert (report.examples_dropped, report.steps_cut, report.definition_cut, report.instance_cut) == (1, 1, 1, 0)
    assert text.startswith("Definition:") and text.endswith(instance_block(row["input"])) and _length(tok, text) <= instance + 6
    (text,), report = fit_prompts([row], tok, 12)
    assert report.instance_cut == 1 and text.endswith("\nOutput: ") and _length(tok, text) <= 12


def test_the_old_right_cut_lost_the_instance_where_fitting_keeps_it(fit_assets):
    """The bias the fitting removes: cut from the right, longer configurations lose their `Output:` tail more often."""
    tok, rows = fit_assets
    budget = 70
    lost = {}
    for config in ("definition", "steps_ordered", "definition_pos", "steps_ordered_pos"):
        cut = [tok.decode(tok(r["prompt"], truncation=True, max_length=budget)["input_ids"], skip_special_tokens=True)
               for r in rows[config]]
        lost[config] = sum(not c.rstrip().endswith("Output:") for c in cut)
        texts, _ = fit_prompts(rows[config], tok, budget)
        assert all(t.endswith(instance_block(r["input"])) for t, r in zip(texts, rows[config]))
    assert lost["steps_ordered_pos"] > lost["steps_ordered"] > lost["definition"]


def test_shuffled_steps_are_redrawn_per_seed_never_in_the_generated_order(fit_assets):
    tok, rows = fit_assets
    shuffled = rows["steps_shuffled"]
    build_seed = Sampling().seed  # the sample was built with the default seed
    same, _ = fit_prompts(shuffled, tok, 10_000, step_order_seed=build_seed)
    assert same == [r["prompt"] for r in shuffled]  # the build's seed draws the build's order
    orders = {}
    for seed in (1, 2, 3):
        texts, report = fit_prompts(shuffled, tok, 10_000, step_order_seed=seed)
        assert report.step_order_seed == seed
        orders[seed] = texts
        for row in shuffled:
            generated = [s for _, s in sorted(zip(row["step_order"], row["steps"]))]
            redrawn = resampled_steps(row["steps"], row["step_order"], seed, row["task_name"])
            assert sorted(redrawn) == sorted(generated)
            if len(set(generated)) >= 2:
                assert redrawn != generated
            assert redrawn == [generated[i] for i in shuffled_order(generated, seed, row["task_name"])]
    assert orders[1] != orders[2] != orders[3]
    assert step_order_seed("steps_shuffled", None, 7) == 7 and step_order_seed("steps_ordered", None, 7) is None
    assert step_order_seed("steps_shuffled", False, 7) is None and step_order_seed("steps_shuffled", None, None) is None


def test_evaluation_shows_a_model_its_configuration_in_the_order_it_was_trained_on():
    from stepinst_data.evaluation.training import evaluation_step_order_seed

    redrawn = {"config": "steps_shuffled", "seed": 3, "truncation": {"step_order_seed": 3}}
    build_order = {"config": "steps_shuffled", "seed": 3, "truncation": {"step_order_seed": None}}  # --resample_step_order false
    custom = {"config": "mine_shuffled", "seed": 5, "truncation": {"step_order_seed": 5}}  # --resample_step_order true
    assert evaluation_step_order_seed("steps_shuffled", None, redrawn) == 3
    assert evaluation_step_order_seed("steps_shuffled", None, build_order) is None
    assert evaluation_step_order_seed("mine_shuffled", None, custom) == 5
    assert evaluation_step_order_seed("steps_shuffled", None, custom) == 5  # another configuration: the preset rule
    assert evaluation_step_order_seed("steps_shuffled", None, {}) is None  # not trained by stepinst: the build's order
    assert evaluation_step_order_seed("steps_shuffled", False, redrawn) is None  # the flag decides when given


def test_a_row_whose_prompt_the_template_does_not_render_is_refused(fit_assets):
    tok, rows = fit_assets
    row = dict(rows["definition"][0], prompt="something else")
    with pytest.raises(PromptFitError, match=rf"row '{row['id']}' \(task {row['task_name']}\): its `prompt` is not what"):
        fit_prompts([row], tok, 100)


def test_training_rows_are_fitted_and_counted(fit_assets):
    import datasets

    tok, rows = fit_assets
    data = datasets.Dataset.from_list(rows["steps_ordered_pos"])
    tokenized, report = tokenize_seq2seq(data, tok, 60, 128)
    assert all(len(ids) <= 60 for ids in tokenized["input_ids"]) and report.examples_dropped > 0
    causal, report = tokenize_causal(data, tok, 90)
    for ids, mask, row in zip(causal["input_ids"], causal["completion_mask"], rows["steps_ordered_pos"]):
        assert len(ids) <= 90 and sum(mask) == len(tok(row["completion"], add_special_tokens=False)["input_ids"]) + 1
    assert report.over_budget > 0 and report.as_dict()["budget"] < 90
