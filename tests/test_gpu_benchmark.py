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


TINY_MODELS = "t5-lm-adapt-base,qwen2.5-0.5b"  # both recipes; the grid's other T5 sizes run the same code


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    out = tmp / "tmp.json"
    done = _run(tmp, "--tiny", "--models", TINY_MODELS, "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return done, json.loads(out.read_text(encoding="utf-8")), out


def test_tiny_run_writes_training_figures_for_both_recipes_and_claims_no_gpu_figure(tiny_run):
    _, report, out = tiny_run
    assert [m["name"] for m in report["models"]] == ["t5-lm-adapt-base", "qwen2.5-0.5b"]
    assert report["tiny"] is True and report["command"] == f"python {SCRIPT} --tiny --models {TINY_MODELS} --out {out}"
    assert "not GPU figures" in report["figures"] and report["device"].startswith("cpu")
    assert {"torch", "transformers", "trl"} <= set(report["versions"])
    assert "3 x forward" in report["flop_formula"] and "loss tokens only" in report["flop_formula"]
    assert (report["peak_bf16_tflops"], report["peak_source"]) == (None, None)  # no GPU, no peak
    assert report["lengths"]["encoding"] == "cl100k_base" and report["lengths"]["prompt_tokens"]["mean"] > 100
    for model in report["models"]:
        train = model["train"]
        assert train["tokens_per_s"] > 0 and train["useful_tokens"] > train["loss_tokens"] > 0
        assert (train["warmup_steps"], train["timed_steps"], train["repeats"], len(train["repeat_results"])) == (1, 2, 3, 3)
        steps = train["step_seconds"]
        assert 0 < steps["p10"] <= steps["median"] <= steps["p90"] and steps["steps"] == 6
        assert train["startup_s"] > 0 and train["first_step_s"] > 0 and train["warmup_s"] >= train["first_step_s"]
        assert train["profiled_steps"] == 1 and train["profiler_events"] > 0 and train["gpu_busy_share"] is None
        assert (train["per_device_train_batch_size"], train["gradient_accumulation_steps"]) == (16, 1)  # the YAMLs
        assert train["mfu"] is None and "no GPU" in train["mfu_null_reason"]
        assert train["peak_allocated_gib"] > 0 and train["peak_reserved_gib"] is None and "RSS" in train["peak_mem_what"]
        assert train["dtype"] == "fp32" and train["attn_implementation"] == "sdpa" and not train["torch_compile"]
        median = sorted(r["tokens_per_s"] for r in train["repeat_results"])[1]
        assert train["tokens_per_s"] == median
    t5, qwen = report["models"]
    assert t5["train"]["recipe"] == "recipes/seq2seq.py build_trainer" and t5["train"]["batching"].startswith("random sampling")
    assert qwen["train"]["recipe"] == "recipes/sft.py build_trainer" and "padding-free" in qwen["train"]["batching"]
    assert t5["train"]["flop_params_per_token"]["encoder"] > 0 == qwen["train"]["flop_params_per_token"]["encoder"]
    assert qwen["train"]["output_layer_tokens"].startswith("loss tokens") and t5["train"]["output_layer_tokens"].startswith("every")


def test_tiny_run_generates_128_tokens_or_stops_at_the_references_and_projects_the_official_split(tiny_run):
    _, report, _ = tiny_run
    for model in report["models"]:
        ev = model["eval"]
        assert (ev["max_new_tokens"], ev["prompts"], ev["dtype"], ev["max_batch_rows"]) == (128, 8, "float32", 512)
        assert ev["new_tokens_per_prompt_observed"] == [128]  # min_new_tokens held: no early EOS
        stop = ev["stop_at_reference"]
        assert stop["new_tokens_mean"] == stop["target_new_tokens_mean"] < 128  # each row ended at its reference
        for run in (ev, stop):
            assert run["prompts_per_s"] > 0 and run["batches"] >= 1
            assert run["projected_official_s"] == pytest.approx(11900 * run["timed_seconds"] / 8, rel=1e-3)
        tokenizer = model["tokenizer"]
        assert tokenizer["vocab_size"] == model["architecture"]["vocab_size"] == 1000
        assert 0 < tokenizer["mean_tokens_per_prompt"] <= 49 and tokenizer["target_mean_tokens_per_prompt"] > 100


def test_tiny_run_projects_no_grid_and_says_which_models_are_missing(tiny_run):
    _, report, _ = tiny_run
    assert report["paper_grid_hours"] is None and report["paper_grid"]["hours"] is None
    assert report["paper_grid"]["missing_models"] == ["t5-lm-adapt-large", "t5-lm-adapt-xl"]
    assert report["paper_grid"]["runs"] == 36 and report["paper_grid"]["steps_per_run"] == 9450
    assert "nothing is projected" in report["paper_grid"]["null_reason"]


def test_tiny_run_prints_one_summary_line_per_model_on_stdout(tiny_run):
    done, _, _ = tiny_run
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["t5-lm-adapt-base", "qwen2.5-0.5b"]
    assert lines[-1].startswith("wrote ") and "useful tokens/s" in lines[0] and "stopping at the references" in lines[1]


def test_paper_grid_adds_36_runs_of_start_up_steps_and_evaluation():
    gpu = _gpu_module()

    def measured(name, step, startup, evaluation):
        return {"name": name, "train": {"step_seconds": {"median": step}, "startup_s": startup},
                "eval": {"stop_at_reference": {"projected_official_s": evaluation}}}

    models = [measured("t5-lm-adapt-base", 0.02, 30, 60), measured("t5-lm-adapt-large", 0.05, 60, 120),
              measured("t5-lm-adapt-xl", 0.1, 120, 300), measured("qwen2.5-0.5b", 1.0, 1, 1)]
    grid = gpu.paper_grid(models)
    expected = sum(12 * (startup + 9450 * step + evaluation) for step, startup, evaluation
                   in ((0.02, 30, 60), (0.05, 60, 120), (0.1, 120, 300))) / 3600
    assert grid["hours"] == pytest.approx(expected, abs=0.01) and grid["missing_models"] == []
    assert gpu.paper_grid(models[:2])["hours"] is None


def test_gpu_busy_share_merges_overlapping_kernels():
    from types import SimpleNamespace

    from torch.autograd import DeviceType

    gpu = _gpu_module()

    def event(start, end, device=DeviceType.CUDA):
        return SimpleNamespace(time_range=SimpleNamespace(start=start, end=end), device_type=device)

    events = [event(0, 10), event(5, 20), event(30, 40), event(0, 100, DeviceType.CPU)]
    assert gpu.busy_share(events, 100.0) == 0.3
    assert gpu.busy_share([event(0, 100, DeviceType.CPU)], 100.0) is None


def test_stop_at_lengths_ends_each_row_at_its_target():
    import torch

    gpu = _gpu_module()
    processor = gpu.stop_at_lengths_processor([1, 3], start=4, eos=2)
    scores = processor(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 5))  # no new token yet
    assert scores[0].argmax() == 2 and scores[0, 0] == float("-inf")  # row 0: EOS now
    assert scores[1, 2] == float("-inf") and scores[1, 0] == 0  # row 1: not yet
    scores = processor(torch.zeros(2, 6, dtype=torch.long), torch.zeros(2, 5))  # two new tokens
    assert scores[1].argmax() == 2 and scores[1, 1] == float("-inf")


def test_synthetic_rows_follow_the_token_counts(tmp_path):
    from transformers import AutoTokenizer

    from recipes_helpers import train_tokenizer

    lengths = _gpu_module().synthetic_rows
    corpus = ["Definition: add the two numbers and answer with the sum only.\nInput: 3 + 4\nOutput: 7"] * 20
    tok = AutoTokenizer.from_pretrained(train_tokenizer(corpus, tmp_path / "tok", vocab_size=300))
    rows = lengths([(80, 5), (160, 2)], tok, corpus, 30, seed=0)  # this 300-token vocabulary spends ~50 on the template
    counts = [len(tok(r["prompt"], add_special_tokens=False)["input_ids"]) for r in rows]
    assert set(counts) <= set(range(76, 85)) | set(range(155, 166)) and len(set(counts)) > 1
    from stepinst_data.dataset.template import render_prompt

    assert all(r["prompt"] == render_prompt(r["input"], definition=r["definition"]) for r in rows)  # rows the recipes can fit
    assert all(r["outputs"] == [r["completion"]] for r in rows) and len({r["id"] for r in rows}) == 30


@pytest.mark.skipif(not (ROOT.parent / "shared" / "natinst" / "tasks").is_dir(), reason="../shared/natinst absent")
def test_committed_lengths_are_what_the_real_sample_measures():
    spec = importlib.util.spec_from_file_location("gpu_lengths", ROOT / "benchmarks" / "gpu_lengths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measured = module.measure(ROOT.parent / "shared" / "natinst")
    committed = json.loads((ROOT / "benchmarks" / "natinst_lengths.json").read_text(encoding="utf-8"))
    assert measured == committed


def test_unknown_model_names_the_choices(tmp_path):
    done = _run(tmp_path, "--models", "t5-lm-adapt-base,gpt-9", "--out", str(tmp_path / "x.json"))
    assert done.returncode == 1
    assert "--models gpt-9 unknown; choose from t5-lm-adapt-base, t5-lm-adapt-large, t5-lm-adapt-xl, qwen2.5-0.5b" in done.stderr
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
    assert flops.decoder_params == layers * per_layer and flops.head_params == vocab * d and flops.encoder_params == 0
    # one instance of 10 tokens: 3 x (2 P T + 2 P_head T + 4 x width x L x T^2 / 2)
    attention = 4 * d * layers * 100 / 2
    assert flops.train_flops([], [10]) == 3 * (2 * flops.decoder_params * 10 + 2 * vocab * d * 10 + attention)
    # TRL's fused LM head projects only the loss tokens (here 3 of the 10)
    trl = _gpu_module().FlopModel.of(model, head_on_loss_tokens_only=True)
    assert trl.train_flops([], [10], loss_tokens=3) == 3 * (2 * flops.decoder_params * 10 + 2 * vocab * d * 3 + attention)


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
    assert flops.head_params == 100 * 32  # untied lm_head, on every decoder token


def test_a_layout_that_is_not_16_instances_per_step_is_refused(tmp_path):
    done = _run(tmp_path, "--layout", "8x3", "--out", str(tmp_path / "x.json"))
    assert done.returncode == 1 and "--layout 8x3: give per-device batch x accumulation making 16" in done.stderr


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


DEVICE_SCRIPT = ROOT / "benchmarks" / "gpu_device.sh"


def test_device_script_runs_the_benchmark_and_copies_the_result_and_log_to_out(tmp_path):
    """The GPU run's one command, at tiny size on CPU (this Python's packages instead of the carried wheels)."""
    out, result = tmp_path / "out", tmp_path / "results" / "gpu_tiny.json"
    out.mkdir()
    env = {**os.environ, "STEPINST_DEVICE_CHECK": "cpu", "OUT": str(out), "HF_HOME": str(tmp_path / "hf_home"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", str(DEVICE_SCRIPT), "--tiny", "--models", "qwen2.5-0.5b", "--out", str(result)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["gpu_tiny.json", "gpu_tiny.log"]
    report = json.loads((out / "gpu_tiny.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in report["models"]] == ["qwen2.5-0.5b"] and report["tiny"] is True
    assert f"wrote {result}" in (out / "gpu_tiny.log").read_text(encoding="utf-8")


def test_device_script_lists_the_wheels_to_carry_without_torch():
    done = subprocess.run(["bash", str(DEVICE_SCRIPT), "prepare", "--list"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    names = {line.split("==")[0] for line in done.stdout.split()}
    assert {"trl", "datasets", "transformers", "rouge-score"} <= names and "torch" not in names
