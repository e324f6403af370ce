"""The recipes: every YAML parses, both families train (the loss goes down), resume, reload, evaluate."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recipes_helpers import build_sample, sample_texts, tiny_causal_lm, tiny_t5, train_tokenizer
from stepinst_data.dataset.configs import INSTANCE_CONFIGS
from stepinst_data.evaluation.training import RecipeError, check_device, load_instance_split, resolve_resume, tokenize_causal

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
CAUSAL_CONFIGS = sorted((RECIPES / "configs" / "sft").glob("*.yaml"))
T5_CONFIGS = sorted((RECIPES / "configs" / "seq2seq").glob("*.yaml"))
EVAL_CONFIGS = sorted((RECIPES / "configs" / "evaluate").glob("*.yaml"))


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


def test_one_recipe_per_model_and_nothing_else_under_configs():
    assert [p.stem for p in T5_CONFIGS] == ["t5-lm-adapt-base", "t5-lm-adapt-large", "t5-lm-adapt-xl"]
    assert [p.stem for p in CAUSAL_CONFIGS] == ["llama-3.1-8b", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b"]
    assert sorted((RECIPES / "configs").rglob("*.yaml")) == sorted(CAUSAL_CONFIGS + T5_CONFIGS + EVAL_CONFIGS)


@pytest.mark.parametrize("config", INSTANCE_CONFIGS)
@pytest.mark.parametrize("path", CAUSAL_CONFIGS, ids=lambda p: p.stem)
def test_every_sft_yaml_parses_for_every_config(path, config):
    script, training, model, data = _recipe("sft").make_parser().parse_args_and_config(
        ["--config", str(path), "--bf16", "false", "--dataset_config", config])
    assert script.dataset_config == config and script.dataset_name == "stepinst"
    assert training.per_device_train_batch_size * training.gradient_accumulation_steps == 16  # Tk-Instruct
    assert training.padding_free and not training.packing and training.completion_only_loss and training.max_length == 1152
    assert training.save_strategy == "steps" and 1 <= training.save_total_limit <= 3
    assert model.model_name_or_path and data.truncation_side == "left"
    assert model.dtype == ("bfloat16" if model.use_peft else "float32")  # full fine-tuning keeps fp32 master weights


@pytest.mark.parametrize("config", INSTANCE_CONFIGS)
@pytest.mark.parametrize("path", T5_CONFIGS, ids=lambda p: p.stem)
def test_every_seq2seq_yaml_parses_for_every_config(path, config):
    script, training = _recipe("seq2seq").make_parser().parse_args_and_config(
        ["--config", str(path), "--bf16", "false", "--dataset_config", config])
    assert script.dataset_config == config
    assert (script.max_source_length, script.max_target_length) == (1024, 128)
    assert training.learning_rate == 5e-5 and training.num_train_epochs == 2
    assert training.lr_scheduler_type == "constant" and training.train_sampling_strategy == "random"  # as Tk-Instruct
    assert training.per_device_train_batch_size * training.gradient_accumulation_steps == 16
    assert training.save_strategy == "steps" and 1 <= training.save_total_limit <= 3


@pytest.mark.parametrize("path", EVAL_CONFIGS, ids=lambda p: p.stem)
def test_every_evaluate_yaml_parses(path):
    (args,) = _recipe("evaluate").make_parser().parse_args_and_config(
        ["--config", str(path), "--model_name_or_path", "m", "--dataset_config", "definition"])
    assert (args.max_new_tokens, args.dataset_test_split, args.limit) == (128, "test", None)


@pytest.mark.parametrize("name", ["seq2seq", "sft"])
def test_unknown_yaml_keys_are_an_error(tmp_path, name):
    folder = {"seq2seq": T5_CONFIGS, "sft": CAUSAL_CONFIGS}[name]
    bad = tmp_path / "bad.yaml"
    bad.write_text(folder[0].read_text() + "learning_rat: 1.0\n")
    with pytest.raises(ValueError, match="learning_rat"):
        _recipe(name).make_parser().parse_args_and_config(["--config", str(bad), "--bf16", "false"])


def test_importing_a_recipe_does_not_import_the_training_stack():
    """`--help` and tools that read the dataclasses stay fast: heavy imports live inside functions."""
    code = ("import importlib.util, sys\n"
            "for name in ('sft', 'seq2seq', 'evaluate', 'grid', 'compare'):\n"
            "    spec = importlib.util.spec_from_file_location(name, f'recipes/{name}.py')\n"
            "    module = importlib.util.module_from_spec(spec); sys.modules[name] = module; spec.loader.exec_module(module)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_resume_from_checkpoint_true_finds_the_newest_complete_checkpoint(tmp_path):
    with pytest.raises(RecipeError, match=r"`resume_from_checkpoint=True` but .* holds no complete checkpoint-N folder; drop the flag"):
        resolve_resume("True", tmp_path)
    for step in (2, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-12").mkdir()  # killed while saving: no trainer_state.json yet
    assert resolve_resume("True", tmp_path) == str(tmp_path / "checkpoint-10")
    assert resolve_resume("false", tmp_path) is None and resolve_resume(None, tmp_path) is None
    assert resolve_resume(str(tmp_path / "checkpoint-2"), tmp_path) == str(tmp_path / "checkpoint-2")
    with pytest.raises(RecipeError, match="is not a checkpoint folder"):
        resolve_resume(str(tmp_path / "checkpoint-12"), tmp_path)


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
    config = str(RECIPES / "configs/sft/qwen2.5-0.5b.yaml")
    with pytest.raises(SystemExit, match=r"error: .*bf16.*pass `--bf16 false`"):
        run_recipe(sft.make_parser, sft.main, ["--config", config, "--dataset_config", "definition"])
    with pytest.raises(SystemExit, match="error: this machine has no usable GPU.*QLoRA"):
        run_recipe(sft.make_parser, sft.main, ["--config", config, "--bf16", "false", "--use_peft", "--load_in_4bit"])
    with pytest.raises(SystemExit, match="error: set `--dataset_config`: the configuration to use, one of definition, definition_pos"):
        run_recipe(sft.make_parser, sft.main, ["--config", config, "--bf16", "false"])


def test_unknown_config_lists_the_available_ones(assets, tmp_path):
    with pytest.raises(RecipeError, match="has no config 'steps_sorted'; it has: definition, definition_pos, steps_ordered"):
        load_instance_split(str(assets["dataset"]), "steps_sorted", "train", tmp_path / "hf")


def test_long_prompts_are_fitted_keeping_the_instance_and_the_completion(assets, tmp_path):
    from transformers import AutoTokenizer

    from stepinst_data.dataset.template import instance_block

    tok = AutoTokenizer.from_pretrained(assets["causal"])
    rows = load_instance_split(str(assets["dataset"]), "steps_ordered", "train", tmp_path / "hf").select(range(8))
    full, report = tokenize_causal(rows, tok, None)
    assert report.over_budget == 0 and report.budget is None
    cut, report = tokenize_causal(rows, tok, 60, "left")
    assert report.over_budget == 8 and report.total == 8 and report.steps_cut == 8 and report.instance_cut == 0
    for a, b, row in zip(full, cut, rows):
        completion = sum(a["completion_mask"])
        assert len(b["input_ids"]) <= 60 and sum(b["completion_mask"]) == completion  # the completion is intact
        prompt = tok.decode(b["input_ids"][: len(b["input_ids"]) - completion])
        assert prompt.endswith(instance_block(row["input"]))  # the instance and `Output: ` are whole


def _run_sft(assets, tmp_path, config: str, out: Path, *extra: str) -> dict:
    sft = _recipe("sft")
    args = sft.make_parser().parse_args_and_config([
        "--config", str(RECIPES / "configs/sft/qwen2.5-0.5b.yaml"), "--dataset_config", config,
        "--model_name_or_path", str(assets["causal"]), "--dataset_name", str(assets["dataset"]),
        "--dataset_cache_dir", str(tmp_path / "hf"), "--output_dir", str(out), "--bf16", "false",
        "--activation_checkpointing", "false", "--max_train_samples", "4",
        "--max_length", "512", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
        "--max_steps", "8", "--learning_rate", "1e-2", "--lr_scheduler_type", "constant", "--warmup_steps", "0",
        "--logging_steps", "1", "--use_cpu", "true", *extra,
    ])
    sft.main(*args)
    return json.loads((out / "stepinst_run.json").read_text())


def _evaluate(model: Path, config: str, tmp_path: Path, assets, out: Path, *extra: str) -> Path:
    evaluate = _recipe("evaluate")
    (args,) = evaluate.make_parser().parse_args_and_config([
        "--model_name_or_path", str(model), "--dataset_name", str(assets["dataset"]), "--dataset_config", config,
        "--output_dir", str(out), "--limit", "24", "--batch_size", "8", "--max_new_tokens", "6",
        "--dataset_cache_dir", str(tmp_path / "hf"), *extra,
    ])
    evaluate.main(args)
    return out


@pytest.mark.slow
def test_sft_trains_in_fp32_resumes_and_evaluates(assets, tmp_path):
    from safetensors.torch import load_file

    before = load_file(assets["causal"] / "model.safetensors")
    out = tmp_path / "sft-steps_ordered"
    info = _run_sft(assets, tmp_path, "steps_ordered", out, "--save_steps", "3")
    assert info["settings"]["max_length"] == 512 and info["settings"]["max_prompt_length"] == 1024  # as given, not TRL's None
    assert info["pad_token_set"] is True and info["seed"] == 42  # the tokenizer had no pad token: the recipe set one
    assert info["losses"][-1] < 0.7 * info["losses"][0], info["losses"]  # one repeated batch: it learns
    after = load_file(out / "model.safetensors")
    assert all(t.dtype == __import__("torch").float32 for t in after.values())  # the YAML's fp32 master weights
    changed = sum(int((before[k] != after[k]).sum()) for k in before) / sum(t.numel() for t in before.values())
    assert changed > 0.9, changed  # fp32 weights keep (almost) every update
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-6", "checkpoint-8"]  # save_total_limit: 2

    resumed = _run_sft(assets, tmp_path, "steps_ordered", out, "--max_steps", "10", "--resume_from_checkpoint", "True")
    assert resumed["resumed_from"] == str(out / "checkpoint-8")
    assert resumed["losses"][:8] == info["losses"] and len(resumed["losses"]) == 10  # the history continues at step 9

    folder = _evaluate(out, "steps_ordered", tmp_path, assets, tmp_path / "eval")
    results = json.loads((folder / "metrics.json").read_text())
    assert {"exact_match_default_track", "rougeL_default_track"} <= set(results)
    assert any(k.startswith("rougeL_for_task") for k in results)
    predictions = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 24 and set(predictions[0]) == {"id", "prediction"}
    scores = [json.loads(line) for line in (folder / "scores.jsonl").read_text().splitlines()]
    assert abs(sum(s["rougeL"] for s in scores) / len(scores) - results["rougeL_default_track"]) < 1e-3
    assert (folder / "categories.png").stat().st_size > 1000
    assert "| **overall** |" in (folder / "metrics.md").read_text()
    run = json.loads((folder / "run.json").read_text())
    assert (run["label"], run["column"], run["seed"], run["limit"], run["num_instances"]) == ("tiny-llama", "steps_ordered", 42, 24, 24)

    # re-scoring the written files gives the same numbers
    from stepinst_data.evaluation.metrics import score_files

    assert score_files(folder / "predictions.jsonl", folder / "references.jsonl") == results


@pytest.mark.slow
def test_seq2seq_trains_on_a_config_without_a_yaml_of_its_own_and_evaluates(assets, tmp_path):
    seq2seq = _recipe("seq2seq")
    out = tmp_path / "t5-definition_pos"
    args = seq2seq.make_parser().parse_args_and_config([
        "--config", str(RECIPES / "configs/seq2seq/t5-lm-adapt-base.yaml"), "--dataset_config", "definition_pos",
        "--model_name_or_path", str(assets["t5"]), "--dataset_name", str(assets["dataset"]),
        "--dataset_cache_dir", str(tmp_path / "hf"), "--output_dir", str(out), "--bf16", "false",
        "--max_train_samples", "4", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
        "--max_steps", "8", "--learning_rate", "1e-2", "--logging_steps", "1", "--use_cpu", "true",
        "--max_source_length", "48", "--save_strategy", "no",
    ])
    seq2seq.main(*args)
    info = json.loads((out / "stepinst_run.json").read_text())
    assert info["config"] == "definition_pos"
    assert info["truncation"]["over_budget"] == 4 and info["truncation"]["examples_dropped"] == 4  # fitted, as Tk-Instruct
    assert info["truncation"]["side"] == "right" and info["settings"]["train_sampling_strategy"] == "random"
    assert info["compute"]["train_tokens"] > 0 and info["compute"]["gpu_hours"] is None  # trained on the CPU
    assert info["losses"][-1] < 0.7 * info["losses"][0], info["losses"]
    folder = _evaluate(out, "definition_pos", tmp_path, assets, tmp_path / "eval", "--backend", "vllm")
    results = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= results["rougeL_default_track"] <= 100.0
    run = json.loads((folder / "run.json").read_text())
    assert run["label"] == "tiny-t5" and run["backend"] == "hf"  # T5 runs on transformers' generate, never vLLM
    assert run["settings"]["eval.dtype"] == "float32"  # `auto` on CPU, named in the record (bfloat16 on a GPU)


@pytest.mark.slow
def test_lora_adapter_with_padding_free_batches_trains_and_evaluates(assets, tmp_path):
    sft = _recipe("sft")
    out = tmp_path / "lora"
    args = sft.make_parser().parse_args_and_config([
        "--config", str(RECIPES / "configs/sft/llama-3.1-8b.yaml"), "--dataset_config", "steps_only",
        "--model_name_or_path", str(assets["causal"]), "--dataset_name", str(assets["dataset"]),
        "--dataset_cache_dir", str(tmp_path / "hf"), "--output_dir", str(out), "--bf16", "false", "--dtype", "float32",
        "--activation_checkpointing", "false", "--max_train_samples", "8", "--per_device_train_batch_size", "4",
        "--gradient_accumulation_steps", "1", "--max_steps", "2", "--use_cpu", "true", "--logging_steps", "1",
        "--save_strategy", "no",
    ])
    sft.main(*args)
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()
    folder = _evaluate(out, "steps_only", tmp_path, assets, tmp_path / "eval")
    assert json.loads((folder / "run.json").read_text())["label"] == "tiny-llama"  # the base model, via the adapter

    from stepinst_data.evaluation.predict import vllm_target

    target = vllm_target(str(out))  # vLLM loads the base model and applies the adapter per request
    assert (target.model, target.adapter, target.max_lora_rank) == (str(assets["causal"]), str(out), 16)
    assert vllm_target(str(assets["causal"])).adapter is None


def test_vllm_backend_without_vllm_says_how_to_install_it(assets, monkeypatch):
    from stepinst_data.evaluation.predict import predict

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError, as on a machine without it
    with pytest.raises(RecipeError, match=r"`--backend vllm` needs vLLM: `pip install -e \"\.\[vllm\]\"` on a CUDA machine"):
        predict(str(assets["causal"]), ["Definition: x"], "vllm")


def test_vllm_refuses_adapters_it_cannot_serve(tmp_path):
    from stepinst_data.evaluation.predict import vllm_target

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "base_model_name_or_path": "b",
                                                             "modules_to_save": ["lm_head"]}))
    with pytest.raises(RecipeError, match=r"also saves full modules \['lm_head'\], which vLLM refuses; merge it"):
        vllm_target(str(adapter))
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 24, "base_model_name_or_path": "b",
                                                             "rank_pattern": {"q_proj": 40}}))
    assert vllm_target(str(adapter)).max_lora_rank == 64


def test_generation_stops_when_every_sequence_has_ended(assets, tmp_path):
    """A batch ends at the first step where all sequences produced EOS, not after max_new_tokens."""
    from stepinst_data.evaluation.predict import generate, load_model

    model = tiny_causal_lm(assets["causal"], tmp_path / "eos-llama", always_eos=True)
    loaded = load_model(str(model), "cpu", "float32")
    calls = []
    loaded.model.register_forward_hook(lambda *_: calls.append(1))
    predictions, _ = generate(loaded, ["Definition: a.", "Definition: a longer one.", "x"], batch_size=3, max_new_tokens=50)
    assert predictions == ["", "", ""] and len(calls) == 1
