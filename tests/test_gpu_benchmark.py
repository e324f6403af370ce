"""benchmarks/gpu.py: the GPU benchmark runs at tiny size on CPU and writes every figure it promises."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


def _gpu_module():
    spec = importlib.util.spec_from_file_location("benchmark_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    out = tmp / "tmp.json"
    done = _run(tmp, "--tiny", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(out.read_text(encoding="utf-8")), out


def test_tiny_run_writes_training_figures_for_both_recipes(tiny_run):
    _, report, out = tiny_run
    assert [m["name"] for m in report["models"]] == ["t5-lm-adapt-base", "qwen2.5-0.5b"]
    assert report["tiny"] is True and report["command"] == f"python {SCRIPT} --tiny --out {out}"
    assert {"torch", "transformers", "trl"} <= set(report["versions"]) and report["device"].startswith("cpu")
    assert "3 x forward" in report["flop_formula"] and "attention" in report["flop_formula"]
    assert (report["peak_bf16_tflops"], report["peak_source"]) == (None, None)  # no GPU, no peak
    for model in report["models"]:
        train = model["train"]
        assert train["tokens_per_s"] > 0 and train["useful_tokens"] > train["loss_tokens"] > 0
        assert train["model_tflops_per_s"] > 0 and train["timed_steps"] == 2 and train["warmup_steps"] == 1
        assert train["per_device_train_batch_size"] * train["gradient_accumulation_steps"] == 16
        assert train["mfu"] is None and "no GPU" in train["mfu_null_reason"]
        assert train["peak_mem_gib"] > 0 and "RSS" in train["peak_mem_what"]
        assert train["dtype"] == "fp32" and train["attn_implementation"] == "sdpa"
    t5, qwen = report["models"]
    assert t5["train"]["recipe"] == "recipes/seq2seq.py build_trainer" and "group_by_length" in t5["train"]["batching"]
    assert qwen["train"]["recipe"] == "recipes/sft.py build_trainer" and "padding-free" in qwen["train"]["batching"]
    assert t5["train"]["flop_params_per_token"]["encoder"] > 0 == qwen["train"]["flop_params_per_token"]["encoder"]


def test_tiny_run_generates_exactly_128_tokens_and_projects_the_official_split(tiny_run):
    _, report, _ = tiny_run
    for model in report["models"]:
        ev = model["eval"]
        assert (ev["batch_size"], ev["max_new_tokens"], ev["prompts"]) == (16, 128, 16)
        assert ev["new_tokens_per_prompt_observed"] == [128]  # min_new_tokens held: no early EOS
        assert ev["prompts_per_s"] > 0
        assert ev["projected_official_s"] == pytest.approx(11900 / ev["prompts_per_s"], rel=1e-3)
        tokenizer = model["tokenizer"]
        assert tokenizer["vocab_size"] == model["architecture"]["vocab_size"] == 1000
        assert tokenizer["mean_tokens_per_prompt"] > 0 and "real tokenizers" in tokenizer["note"]


def test_tiny_run_prints_one_summary_line_per_model_on_stdout(tiny_run):
    done, _, _ = tiny_run
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["t5-lm-adapt-base", "qwen2.5-0.5b"]
    assert lines[-1].startswith("wrote ") and "useful tokens/s" in lines[0] and "prompts/s" in lines[1]


def test_unknown_model_names_the_choices(tmp_path):
    done = _run(tmp_path, "--models", "t5-lm-adapt-base,gpt-9", "--out", str(tmp_path / "x.json"))
    assert done.returncode == 1
    assert "--models gpt-9 unknown; choose from t5-lm-adapt-base, t5-lm-adapt-xl, qwen2.5-0.5b" in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_flop_model_counts_every_matmul_weight_once():
    """Qwen2-style causal LM: the per-token weights are the layers' projections plus the (tied) output layer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    d, ff, layers, heads, kv, vocab = 64, 96, 2, 4, 2, 300
    with torch.device("meta"):
        model = Qwen2ForCausalLM(Qwen2Config(hidden_size=d, intermediate_size=ff, num_hidden_layers=layers,
                                             num_attention_heads=heads, num_key_value_heads=kv, vocab_size=vocab,
                                             tie_word_embeddings=True))
    flops = _gpu_module().FlopModel.of(model)
    head_dim = d // heads
    per_layer = d * heads * head_dim + 2 * d * kv * head_dim + heads * head_dim * d + 3 * d * ff
    assert flops.decoder_params == layers * per_layer + vocab * d and flops.encoder_params == 0
    # one instance of 10 tokens: 3 x (2 P T + 4 x width x L x T^2 / 2)
    assert flops.train_flops([], [10]) == 3 * (2 * flops.decoder_params * 10 + 4 * d * layers * 100 / 2)


def test_t5_cross_attention_keys_and_values_count_per_encoder_token():
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    with torch.device("meta"):
        model = T5ForConditionalGeneration(T5Config(vocab_size=100, d_model=32, d_ff=64, d_kv=8, num_layers=2,
                                                    num_decoder_layers=3, num_heads=4, feed_forward_proj="gated-gelu"))
    flops = _gpu_module().FlopModel.of(model)
    inner = 4 * 8
    encoder_side = 2 * (4 * 32 * inner + 3 * 32 * 64) + 3 * (2 * 32 * inner)  # encoder layers + decoder cross K/V
    assert flops.encoder_params == encoder_side and (flops.encoder_layers, flops.decoder_layers) == (2, 3)


@pytest.mark.parametrize(("name", "peak", "slug"), [
    ("NVIDIA H200", 989.0, "h200"),
    ("NVIDIA H100 80GB HBM3", 989.0, "h100-80gb-hbm3"),
    ("NVIDIA H100 PCIe", 756.0, "h100-pcie"),
    ("NVIDIA A100-SXM4-80GB", 312.0, "a100-sxm4-80gb"),
    ("NVIDIA H200 NVL", None, "h200-nvl"),
])
def test_known_bf16_peaks_and_result_file_names(name, peak, slug):
    gpu = _gpu_module()
    assert gpu.peak_of(name)[0] == peak and gpu.slug(name) == slug
