"""The recipes: every YAML parses, both families train (the loss goes down), reload, evaluate, compare."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from recipes_helpers import build_sample, sample_texts, tiny_causal_lm, tiny_t5, train_tokenizer
from stepinst_data.evaluation.training import RecipeError, check_device, load_instance_split, tokenize_causal

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
CAUSAL_CONFIGS = sorted(p for p in (RECIPES / "configs").glob("*/*.yaml") if not p.parent.name.startswith("t5"))
T5_CONFIGS = sorted((RECIPES / "configs").glob("t5*/*.yaml"))


def _recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """The sample dataset, a causal tokenizer WITHOUT a pad token, a T5 tokenizer, tiny models."""
    root = tmp_path_factory.mktemp("assets")
    dataset = build_sample(root / "stepinst")
    texts = sample_texts(dataset, root / "hf")
    causal = tiny_causal_lm(train_tokenizer(texts, root / "tok-causal", pad=False), root / "tiny-llama")
    t5 = tiny_t5(train_tokenizer(texts, root / "tok-t5", seq2seq=True), root / "tiny-t5")
    return {"dataset": dataset, "causal": causal, "t5": t5}


def test_the_ladder_covers_both_families_and_the_paper_configs():
    assert len(CAUSAL_CONFIGS) >= 12 and len(T5_CONFIGS) >= 12
    for folder in {p.parent for p in CAUSAL_CONFIGS + T5_CONFIGS}:
        assert {p.stem for p in folder.glob("*.yaml")} >= {"definition", "steps_ordered", "steps_shuffled", "steps_reversed"}


@pytest.mark.parametrize("path", CAUSAL_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_sft_yaml_parses_against_the_current_dataclasses(path):
    script, training, model, data = _recipe("sft").make_parser().parse_args_and_config(["--config", str(path), "--bf16", "false"])
    assert script.dataset_config == path.stem
    assert training.output_dir == f"out/{path.parent.name}-{path.stem}"
    assert training.packing and training.completion_only_loss and training.max_length == 1152
    assert model.model_name_or_path and data.truncation_side == "left"


@pytest.mark.parametrize("path", T5_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_seq2seq_yaml_parses_against_the_current_dataclasses(path):
    script, training = _recipe("seq2seq").make_parser().parse_args_and_config(["--config", str(path), "--bf16", "false"])
    assert script.dataset_config == path.stem
    assert (script.max_source_length, script.max_target_length) == (1024, 128)
    assert training.learning_rate == 5e-5 and training.num_train_epochs == 2
    assert training.lr_scheduler_type == "constant"


def test_unknown_yaml_keys_are_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((RECIPES / "configs/t5-lm-adapt-base/definition.yaml").read_text() + "learning_rat: 1.0\n")
    with pytest.raises(ValueError, match="learning_rat"):
        _recipe("seq2seq").make_parser().parse_args_and_config(["--config", str(bad), "--bf16", "false"])


def test_accelerate_configs_load():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {p.stem: load_config_from_file(str(p)).distributed_type.value for p in (RECIPES / "accelerate").glob("*.yaml")}
    assert kinds == {"ddp": "MULTI_GPU", "fsdp": "FSDP", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED"}


def test_gpu_only_options_on_cpu_give_a_clear_message(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RecipeError, match="pass `--bf16 false`"):
        check_device(bf16=True)
    with pytest.raises(RecipeError, match="QLoRA"):
        check_device(load_in_4bit=True)
    from stepinst_data.evaluation.training import run_recipe

    sft = _recipe("sft")
    config = str(RECIPES / "configs/qwen2.5-0.5b/definition.yaml")
    with pytest.raises(SystemExit, match=r"error: .*bf16.*pass `--bf16 false`"):
        run_recipe(sft.make_parser, sft.main, ["--config", config])
    with pytest.raises(SystemExit, match="error: this machine has no usable GPU.*QLoRA"):
        run_recipe(sft.make_parser, sft.main, ["--config", config, "--bf16", "false", "--use_peft", "--load_in_4bit"])


def test_unknown_config_lists_the_available_ones(assets, tmp_path):
    with pytest.raises(RecipeError, match="has no config 'steps_sorted'; it has: definition, steps_ordered, steps_shuffled, steps_reversed"):
        load_instance_split(str(assets["dataset"]), "steps_sorted", "train", tmp_path / "hf")


def test_long_prompts_are_truncated_from_the_named_side_and_counted(assets, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(assets["causal"])
    rows = load_instance_split(str(assets["dataset"]), "steps_ordered", "train", tmp_path / "hf").select(range(8))
    full, report = tokenize_causal(rows, tok, None)
    assert report.truncated_prompts == 0
    cut, report = tokenize_causal(rows, tok, 40, "left")
    assert report.truncated_prompts == 8 and report.total == 8 and report.side == "left"
    for a, b in zip(full, cut):
        completion = sum(a["completion_mask"])
        assert len(b["input_ids"]) <= 40 and sum(b["completion_mask"]) == completion  # the completion is intact
        assert b["input_ids"] == a["input_ids"][-len(b["input_ids"]):]  # left: the end of the prompt is kept
    right, _ = tokenize_causal(rows, tok, 40, "right")
    assert right[0]["input_ids"][:5] == full[0]["input_ids"][:5]


def _run_sft(assets, tmp_path, config: str, out: Path) -> dict:
    sft = _recipe("sft")
    args = sft.make_parser().parse_args_and_config([
        "--config", str(RECIPES / f"configs/qwen2.5-0.5b/{config}.yaml"),
        "--model_name_or_path", str(assets["causal"]), "--dataset_name", str(assets["dataset"]),
        "--dataset_cache_dir", str(tmp_path / "hf"), "--output_dir", str(out), "--bf16", "false",
        "--dtype", "float32", "--activation_checkpointing", "false", "--max_train_samples", "4",
        "--max_length", "512", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
        "--max_steps", "8", "--learning_rate", "1e-2", "--lr_scheduler_type", "constant", "--warmup_steps", "0",
        "--logging_steps", "1", "--save_strategy", "no", "--use_cpu", "true",
    ])
    sft.main(*args)
    return json.loads((out / "stepinst_run.json").read_text())


def _evaluate(model: Path, config: str, tmp_path: Path, assets, out: Path) -> Path:
    evaluate = _recipe("evaluate")
    (args,) = evaluate.make_parser().parse_args_into_dataclasses([
        "--model", str(model), "--dataset", str(assets["dataset"]), "--config", config, "--out", str(out),
        "--limit", "24", "--batch_size", "8", "--max_new_tokens", "6", "--dataset_cache_dir", str(tmp_path / "hf"),
    ])
    evaluate.main(args)
    return out / f"{model.name}-{config}"


@pytest.mark.slow
def test_sft_trains_reloads_evaluates_and_compares(assets, tmp_path):
    from safetensors.torch import load_file

    before = load_file(assets["causal"] / "model.safetensors")
    runs = {}
    for config in ("definition", "steps_ordered"):
        out = tmp_path / f"sft-{config}"
        info = _run_sft(assets, tmp_path, config, out)
        assert info["pad_token_set"] is True  # the tokenizer had no pad token: the recipe set one
        assert info["losses"][-1] < 0.7 * info["losses"][0], info["losses"]  # one repeated batch: it learns
        after = load_file(out / "model.safetensors")
        assert any(not (before[k] == after[k]).all() for k in before)
        runs[config] = _evaluate(out, config, tmp_path, assets, tmp_path / "eval")

    folder = runs["steps_ordered"]
    results = json.loads((folder / "metrics.json").read_text())
    assert {"exact_match_default_track", "rougeL_default_track"} <= set(results)
    assert any(k.startswith("rougeL_for_task") for k in results)
    predictions = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 24 and set(predictions[0]) == {"id", "prediction"}
    assert (folder / "categories.png").stat().st_size > 1000
    assert "| **overall** |" in (folder / "metrics.md").read_text()
    run = json.loads((folder / "run.json").read_text())
    assert run["label"] == "tiny-llama" and run["column"] == "steps_ordered"

    # re-scoring the written files with the CLI gives the same numbers
    from stepinst_data.evaluation.metrics import score_files

    assert score_files(folder / "predictions.jsonl", folder / "references.jsonl") == results

    compare = _recipe("compare")
    table = tmp_path / "report" / "table.md"
    compare.main(compare.make_parser().parse_args([str(runs["definition"]), str(folder), "--out", str(table)]))
    text = table.read_text()
    assert "| model | definition | steps_ordered |" in text
    base = json.loads((runs["definition"] / "metrics.json").read_text())["rougeL_default_track"]
    delta = results["rougeL_default_track"] - base
    assert f"| tiny-llama | {base:.2f} | {results['rougeL_default_track']:.2f} ({delta:+.2f}) |" in text
    assert "## tiny-llama: ROUGE-L by category" in text
    assert (tmp_path / "report" / "table.png").is_file() and (tmp_path / "report" / "table_categories.png").is_file()


@pytest.mark.slow
def test_seq2seq_trains_reloads_and_evaluates(assets, tmp_path):
    seq2seq = _recipe("seq2seq")
    out = tmp_path / "t5-definition"
    args = seq2seq.make_parser().parse_args_and_config([
        "--config", str(RECIPES / "configs/t5-lm-adapt-base/definition.yaml"),
        "--model_name_or_path", str(assets["t5"]), "--dataset_name", str(assets["dataset"]),
        "--dataset_cache_dir", str(tmp_path / "hf"), "--output_dir", str(out), "--bf16", "false",
        "--max_train_samples", "4", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
        "--max_steps", "8", "--learning_rate", "1e-2", "--logging_steps", "1", "--use_cpu", "true",
        "--max_source_length", "48",
    ])
    seq2seq.main(*args)
    info = json.loads((out / "stepinst_run.json").read_text())
    assert info["truncation"]["truncated_prompts"] == 4 and info["truncation"]["side"] == "right"
    assert info["losses"][-1] < 0.7 * info["losses"][0], info["losses"]
    folder = _evaluate(out, "definition", tmp_path, assets, tmp_path / "eval")
    results = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= results["rougeL_default_track"] <= 100.0
    assert json.loads((folder / "run.json").read_text())["label"] == "tiny-t5"


@pytest.mark.slow
def test_lora_adapter_with_padding_free_batches_trains_and_evaluates(assets, tmp_path):
    sft = _recipe("sft")
    out = tmp_path / "lora"
    args = sft.make_parser().parse_args_and_config([
        "--config", str(RECIPES / "configs/llama-3.1-8b/definition.yaml"),
        "--model_name_or_path", str(assets["causal"]), "--dataset_name", str(assets["dataset"]),
        "--dataset_cache_dir", str(tmp_path / "hf"), "--output_dir", str(out), "--bf16", "false", "--dtype", "float32",
        "--activation_checkpointing", "false", "--max_train_samples", "8", "--per_device_train_batch_size", "4",
        "--gradient_accumulation_steps", "1", "--max_steps", "2", "--packing", "false", "--padding_free", "true",
        "--use_cpu", "true", "--logging_steps", "1",
    ])
    sft.main(*args)
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    folder = _evaluate(out, "definition", tmp_path, assets, tmp_path / "eval")
    assert json.loads((folder / "run.json").read_text())["label"] == "tiny-llama"  # the base model, via the adapter
