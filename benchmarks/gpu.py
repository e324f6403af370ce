"""Training and evaluation speed of the recipes on one GPU, at real SUP-NATINST lengths; the paper grid's wall time.

For each model it builds the recipe's own trainer (``build_trainer`` of ``recipes/sft.py`` or
``recipes/seq2seq.py``, from the model's recipe YAML parsed by the recipe's own parser: fp32 master
weights + bf16 autocast on a GPU, padding-free batches for the causal LM, length-grouped batches for
T5, 16 instances per optimizer step in the YAML's layout) and trains ``--warmup-steps``, then
``--repeats`` x ``--steps`` timed steps (per-step p10/median/p90 from CUDA events: no host sync per
step), then ``--profile-steps`` under ``torch.profiler`` (the share of time some GPU kernel runs).
Start-up (model load, tokenization) and the first step (allocation, compilation with ``--compile``)
are timed apart. Then it times greedy generation of the test prompts through
:func:`stepinst_data.evaluation.predict.generate` (batches sized to memory, bf16 on a GPU: what
``recipes/evaluate.py`` runs) twice: forced to exactly 128 new tokens, and stopping at the references'
lengths (a trained model's behaviour, imposed by a logits processor), and projects the official test
split (11,900 prompts) and the paper's 36-run grid (``paper_grid_hours``).

Rows are synthetic text with real lengths: ``benchmarks/natinst_lengths.json`` holds the cl100k token
counts of the ``steps_ordered`` rows of the real SUP-NATINST sample (see ``benchmarks/gpu_lengths.py``);
each benchmark row has exactly those counts in the benchmark's tokenizer (a byte-level BPE trained on
the embedded sample, ``--vocab-size``), so real tokenizers (T5's SentencePiece, Qwen's BPE) would give
other counts for the same text. Models have random weights built from their published configurations:
nothing is downloaded; the vocabulary the models compute with is the published one.

    python benchmarks/gpu.py                          # T5 base/large/xl + qwen2.5-0.5b -> results/gpu_<device>.json
    python benchmarks/gpu.py --models t5-lm-adapt-xl --layout 8x2 --out /tmp/xl.json
    python benchmarks/gpu.py --compile --out /tmp/compiled.json   # torch.compile + length buckets, static-cache decoding
    python benchmarks/gpu.py --tiny --out /tmp/tiny.json   # tiny models on CPU: every code path, no GPU figure
    bash benchmarks/gpu_device.sh                     # the whole GPU run as one command (see its header)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import re
import resource
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_flops import FLOP_FORMULA, FlopModel, StepLedger  # noqa: E402
from gpu_lengths import load_pairs, synthetic_rows  # noqa: E402
from gpu_timing import busy_share, paper_grid, step_statistics, stop_at_lengths_processor  # noqa: E402

OFFICIAL_TEST_PROMPTS = 119 * 100  # SUP-NATINST's official test split: 119 tasks x 100 instances
TINY_MAX_PROMPT = 48  # --tiny caps prompts (tokens): the CPU test checks code paths, not lengths


@dataclass(frozen=True)
class ModelSpec:
    """A benchmarked model: its recipe, its published architecture (the source named) and a tiny stand-in."""

    name: str
    recipe: str  # "sft" or "seq2seq"
    config: dict
    source: str
    tiny: dict = field(default_factory=dict)

    @property
    def yaml(self) -> Path:
        return ROOT / "recipes" / "configs" / self.recipe / f"{self.name}.yaml"


T5_COMMON = {"d_kv": 64, "feed_forward_proj": "gated-gelu", "vocab_size": 32128, "tie_word_embeddings": False,
             "relative_attention_num_buckets": 32, "layer_norm_epsilon": 1e-6}
T5_TINY = {"d_model": 64, "d_ff": 128, "d_kv": 16, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4}
MODELS = {
    "t5-lm-adapt-base": ModelSpec(
        "t5-lm-adapt-base", "seq2seq",
        {**T5_COMMON, "d_model": 768, "d_ff": 2048, "num_layers": 12, "num_decoder_layers": 12, "num_heads": 12},
        "config.json of google/t5-base-lm-adapt (T5 v1.1 + LM adaptation)", T5_TINY),
    "t5-lm-adapt-large": ModelSpec(
        "t5-lm-adapt-large", "seq2seq",
        {**T5_COMMON, "d_model": 1024, "d_ff": 2816, "num_layers": 24, "num_decoder_layers": 24, "num_heads": 16},
        "config.json of google/t5-large-lm-adapt (T5 v1.1 + LM adaptation)", T5_TINY),
    "t5-lm-adapt-xl": ModelSpec(
        "t5-lm-adapt-xl", "seq2seq",
        {**T5_COMMON, "d_model": 2048, "d_ff": 5120, "num_layers": 24, "num_decoder_layers": 24, "num_heads": 32},
        "config.json of google/t5-xl-lm-adapt (T5 v1.1 + LM adaptation)", T5_TINY),
    "qwen2.5-0.5b": ModelSpec(
        "qwen2.5-0.5b", "sft",
        {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
         "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True, "hidden_act": "silu",
         "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
         "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}},
        "config.json of Qwen/Qwen2.5-0.5B",
        {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2}),
}
DEFAULT_MODELS = "t5-lm-adapt-base,t5-lm-adapt-large,t5-lm-adapt-xl,qwen2.5-0.5b"

# Dense (no sparsity) BF16 tensor-core peaks, matched against torch.cuda.get_device_name() in order.
PEAK_BF16_TFLOPS = [
    (r"H200(?!.*NVL)", 989.0, "NVIDIA H200 datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS with sparsity, 989 dense; "
                              "the same Hopper tensor cores and clocks as the H100 SXM"),
    (r"H100.*(SXM|HBM3)", 989.0, "NVIDIA H100 datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS with sparsity, 989 dense"),
    (r"H100.*PCIe", 756.0, "NVIDIA H100 datasheet (PCIe): BF16 Tensor Core 1,513 TFLOPS with sparsity, 756 dense"),
    (r"A100", 312.0, "NVIDIA A100 datasheet: BF16 Tensor Core 312 TFLOPS dense (624 with sparsity)"),
]

# ---------------------------------------------------------------- inputs: rows, tokenizer, models


@contextlib.contextmanager
def stdout_to_stderr():
    """Send what libraries print (the build's table, tokenizers' progress from Rust, the Trainer's metrics) to
    stderr at the file-descriptor level, so that stdout carries the figures alone."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def sample_corpus(tmp: Path) -> list[str]:
    """The embedded sample's rendered ``steps_ordered`` rows (prompt + completion), built by the library's CLI:
    the text the benchmark's tokenizer is trained on and its synthetic rows are cut from."""
    import datasets

    from stepinst_data.cli import main as cli

    out = tmp / "sample"
    with stdout_to_stderr():
        status = cli(["build", "--sample", "--configs", "steps_ordered", "--out", str(out),
                      "--cache-dir", str(tmp / "table-cache"), "--overwrite"])
    if status != 0:
        raise SystemExit(f"error: building the embedded sample into {out} failed (exit status {status})")
    rows = datasets.load_dataset(str(out), "steps_ordered", cache_dir=str(tmp / "hf"))
    return [r["prompt"] + r["completion"] for split in rows.values() for r in split]


def write_dataset(splits: dict[str, list[dict]], out: Path) -> Path:
    """A dataset folder the recipes load like a build (``steps_ordered`` config; README ``configs:`` block)."""
    import datasets

    files = []
    for split, rows in splits.items():
        path = out / "steps_ordered" / f"{split}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(rows).to_parquet(str(path))
        files.append(f"  - split: {split}\n    path: steps_ordered/{split}.parquet\n")
    (out / "README.md").write_text("---\nconfigs:\n- config_name: steps_ordered\n  data_files:\n" + "".join(files) + "---\n",
                                   encoding="utf-8")
    return out


def architecture(spec: ModelSpec, tiny: bool, tokenizer_vocab: int) -> dict:
    """The configuration values the model is built with: the published ones, or the tiny sizes + the BPE's vocabulary."""
    return {**spec.config, **spec.tiny, "vocab_size": tokenizer_vocab} if tiny else dict(spec.config)


def save_random_model(spec: ModelSpec, values: dict, tokenizer_dir: Path, out: Path) -> Path:
    """A model folder with random weights (seed 0) from configuration ``values``, plus the tokenizer."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM, T5Config, T5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = {"pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id}
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # a 3B model initializes in seconds on a GPU
        if spec.recipe == "seq2seq":
            model = T5ForConditionalGeneration(T5Config(**values, **ids, decoder_start_token_id=tok.pad_token_id))
        else:
            model = Qwen2ForCausalLM(Qwen2Config(**values, **ids, bos_token_id=None))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def train_tokenizer(texts: list[str], out: Path, vocab_size: int, seq2seq: bool) -> Path:
    from recipes_helpers import train_tokenizer as train  # the tests' byte-level BPE: <pad>=0, </s>=1, <unk>=2 (T5's ids)

    with stdout_to_stderr():  # tokenizers' progress bar
        return train(texts, out, pad=True, seq2seq=seq2seq, vocab_size=vocab_size)


def tokenizer_figures(tokenizer_dir: Path, prompts: list[str], lengths: dict) -> dict:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    counts = [len(x) for x in tok(prompts)["input_ids"]]
    return {"kind": "byte-level BPE trained on the embedded sample (tests/recipes_helpers.py)",
            "vocab_size": len(tok), "mean_tokens_per_prompt": round(sum(counts) / len(counts), 1),
            "max_tokens_per_prompt": max(counts),
            "target_mean_tokens_per_prompt": lengths["prompt_tokens"]["mean"], "target_encoding": lengths["encoding"],
            "note": "synthetic prompts cut to the real prompts' cl100k token counts (capped at 1,024), counted in this "
                    "tokenizer; T5's SentencePiece or Qwen's BPE give other counts for real text"}


# ---------------------------------------------------------------- training


def recipe_module(recipe: str):
    """``recipes/<recipe>.py`` as a module (the recipes are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{recipe}", ROOT / "recipes" / f"{recipe}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


def recipe_flags(spec: ModelSpec, model_dir: Path, dataset: Path, tmp: Path, args, cuda: bool) -> list[str]:
    """The recipe's YAML plus what the benchmark changes: its length, folders, device and the opt-ins asked for."""
    total = args.warmup_steps + args.repeats * args.steps + args.profile_steps
    flags = ["--config", str(spec.yaml), "--model_name_or_path", str(model_dir), "--dataset_name", str(dataset),
             "--dataset_config", "steps_ordered", "--dataset_cache_dir", str(tmp / "hf"),
             "--output_dir", str(tmp / f"out-{spec.name}"), "--max_steps", str(total),
             "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--bf16", str(cuda).lower()]
    if args.layout:
        per_device, accumulation = args.layout.split("x")
        flags += ["--per_device_train_batch_size", per_device, "--gradient_accumulation_steps", accumulation]
    if args.compile:
        flags += ["--torch_compile", "true", "--pad_to_multiple_of", "64"]
    if spec.recipe == "sft":
        flags += ["--attn_implementation", attention_implementation(cuda)]
        if args.liger:
            flags += ["--use_liger_kernel", "true"]
    return flags


def attention_implementation(cuda: bool) -> str:
    """FlashAttention-2 when it is installed and there is a GPU (the causal YAML's comment), else SDPA."""
    return "flash_attention_2" if cuda and importlib.util.find_spec("flash_attn") else "sdpa"


def time_training(trainer, args, env: dict) -> tuple[StepLedger, dict]:
    """Train ``max_steps`` steps, marking each step's end; profile the last ``--profile-steps``."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import TrainerCallback

    causal = not trainer.model.config.is_encoder_decoder  # TRL's fused LM head: the output layer on loss tokens only
    ledger = StepLedger(FlopModel.of(trainer.model, head_on_loss_tokens_only=causal))
    original = trainer.training_step
    first_profiled = args.warmup_steps + args.repeats * args.steps
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if env["cuda"] else [])
    profiler = profile(activities=activities)
    window: dict = {}

    def mark():
        if not env["cuda"]:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def counted_step(model, inputs, *rest, **kwargs):
        ledger.record(trainer.state.global_step + 1, inputs)
        return original(model, inputs, *rest, **kwargs)

    class Clock(TrainerCallback):
        def on_train_begin(self, *_, **__):
            ledger.marks[0] = mark()

        def on_step_end(self, _args, state, control, **kwargs):
            ledger.marks[state.global_step] = mark()
            if state.global_step == first_profiled:
                env["sync"]()
                profiler.start()
                window["start"] = time.perf_counter()
            elif state.global_step == first_profiled + args.profile_steps:
                env["sync"]()
                window["wall_us"] = (time.perf_counter() - window["start"]) * 1e6
                profiler.stop()

    trainer.training_step = counted_step
    trainer.add_callback(Clock())
    if env["cuda"]:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    events = profiler.events()
    return ledger, {"profiled_steps": args.profile_steps, "profiler_events": len(events),
                    "gpu_busy_share": busy_share(events, window["wall_us"])}


def train_figures(spec: ModelSpec, model_dir: Path, dataset: Path, tmp: Path, args, env: dict) -> dict:
    recipe = recipe_module(spec.recipe)
    started = time.perf_counter()
    parsed = recipe.make_parser().parse_args_and_config(recipe_flags(spec, model_dir, dataset, tmp, args, env["cuda"]))
    trainer, training_args = recipe.build_trainer(*parsed)[0], parsed[1]
    startup = time.perf_counter() - started
    ledger, profiled = time_training(trainer, args, env)
    ends, work = ledger.seconds(), ledger.step_work()
    warm = args.warmup_steps
    durations = [ends[s] - ends[s - 1] for s in range(warm + 1, warm + args.repeats * args.steps + 1)]
    repeats = []
    for r in range(args.repeats):
        first, last = warm + r * args.steps, warm + (r + 1) * args.steps
        seconds = ends[last] - ends[first]
        tokens, loss_tokens, flops = (sum(work[s][i] for s in range(first + 1, last + 1)) for i in range(3))
        repeats.append({"seconds": round(seconds, 4), "useful_tokens": tokens, "loss_tokens": loss_tokens,
                        "tokens_per_s": round(tokens / seconds, 1), "flops": flops})
    best = sorted(repeats, key=lambda r: r["tokens_per_s"])[len(repeats) // 2]  # the median repeat
    mfu = None if env["peak_tflops"] is None else best["flops"] / best["seconds"] / (env["peak_tflops"] * 1e12)
    flop_model = ledger.flop_model
    return {
        "recipe": f"recipes/{spec.recipe}.py build_trainer", "recipe_yaml": str(spec.yaml.relative_to(ROOT)),
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "batching": "padding-free (TRL, position_ids restart per instance)" if spec.recipe == "sft"
        else f"{training_args.train_sampling_strategy} sampling, padded per batch"
        + (" (transformers LengthGroupedSampler)" if training_args.train_sampling_strategy == "group_by_length" else ""),
        "activation_checkpointing": bool(getattr(training_args, "activation_checkpointing", False)
                                         or training_args.gradient_checkpointing),
        "torch_compile": bool(training_args.torch_compile), "liger": bool(training_args.use_liger_kernel),
        "dtype": "fp32 weights, bf16 autocast" if training_args.bf16 else "fp32",
        "attn_implementation": trainer.model.config._attn_implementation,
        "warmup_steps": warm, "timed_steps": args.steps, "repeats": args.repeats,
        "startup_s": round(startup, 3), "first_step_s": round(ends[1], 4), "warmup_s": round(ends[warm], 4),
        "step_seconds": step_statistics(durations), **profiled,
        "parameters": flop_model.total_params,
        "flop_params_per_token": {"encoder": flop_model.encoder_params, "decoder": flop_model.decoder_params,
                                  "output_layer": flop_model.head_params},
        "output_layer_tokens": "loss tokens (TRL's fused LM head)" if flop_model.head_on_loss_tokens_only
        else "every non-pad decoder token",
        "repeat_results": repeats, "timed_seconds": best["seconds"], "useful_tokens": best["useful_tokens"],
        "loss_tokens": best["loss_tokens"], "tokens_per_s": best["tokens_per_s"],
        "loss_tokens_per_s": round(best["loss_tokens"] / best["seconds"], 1),
        "model_tflops_per_s": round(best["flops"] / best["seconds"] / 1e12, 4),
        "mfu": None if mfu is None else round(mfu, 4), "mfu_null_reason": env["mfu_null_reason"],
        **memory_figures(env),
    }


def memory_figures(env: dict) -> dict:
    """Peak allocated and reserved GPU memory of this phase (reset before it); the process's peak RSS on CPU."""
    import torch

    if env["cuda"]:
        allocated, reserved = torch.cuda.max_memory_allocated() / 2**30, torch.cuda.max_memory_reserved() / 2**30
        return {"peak_allocated_gib": round(allocated, 3), "peak_reserved_gib": round(reserved, 3),
                "peak_mem_what": "torch.cuda.max_memory_allocated / max_memory_reserved (this phase)"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    return {"peak_allocated_gib": round(rss, 3), "peak_reserved_gib": None,
            "peak_mem_what": "process peak RSS (ru_maxrss, every phase so far), not a GPU figure"}


# ---------------------------------------------------------------- evaluation


def eval_figures(model_dir: Path, rows: list[dict], args, env: dict) -> dict:
    """Greedy generation of the test prompts as ``recipes/evaluate.py`` runs it, forced to 128 new tokens and
    stopping at the references' lengths."""
    import torch

    from stepinst_data.evaluation.predict import MAX_BATCH_ROWS, MAX_NEW_TOKENS, generate, load_model, use_static_cache

    held = release_memory()
    loaded = load_model(str(model_dir), env["device"])  # dtype auto: bfloat16 on a GPU, float32 on CPU
    if args.compile:
        use_static_cache(loaded)
    prompts = [r["prompt"] for r in rows]
    generate(loaded, prompts[: min(8, len(prompts))], max_new_tokens=8)  # warm-up: one small batch
    figures = {"path": "stepinst_data.evaluation.predict.generate (greedy, length-sorted batches sized to memory)",
               "max_batch_rows": MAX_BATCH_ROWS, "dtype": str(loaded.model.dtype).removeprefix("torch."),
               "static_cache": bool(args.compile), "attn_implementation": loaded.model.config._attn_implementation,
               "prompts": len(prompts), "official_test_prompts": OFFICIAL_TEST_PROMPTS, "memory_held_before_gib": held}
    loaded.model.generation_config.min_new_tokens = MAX_NEW_TOKENS  # no early EOS from random weights
    forced = timed_generation(loaded, prompts, None, env)
    loaded.model.generation_config.min_new_tokens = None
    targets = reference_lengths(loaded, rows)
    stopping = timed_generation(loaded, prompts, targets, env)
    stopping["target_new_tokens_mean"] = round(sum(min(t, MAX_NEW_TOKENS) for t in targets) / len(targets), 2)
    # the headline fields (kept from the first version of this file): forced to exactly 128 new tokens
    figures.update({"max_new_tokens": MAX_NEW_TOKENS, "min_new_tokens": MAX_NEW_TOKENS, **forced,
                    "stop_at_reference": stopping})
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return figures


def timed_generation(loaded, prompts: list[str], targets: list[int] | None, env: dict) -> dict:
    """Time one ``generate`` over ``prompts``; with ``targets``, row i stops after ``targets[i]`` new tokens."""
    import torch

    from stepinst_data.evaluation.predict import generate

    batches = watch_batches(loaded, prompts, targets)
    if env["cuda"]:
        torch.cuda.reset_peak_memory_stats()
    env["sync"]()
    start = time.perf_counter()
    generate(loaded, prompts)
    env["sync"]()
    seconds = time.perf_counter() - start
    loaded.model.generate = batches.pop("original")
    per_s = len(prompts) / seconds
    return {"timed_seconds": round(seconds, 4), "prompts_per_s": round(per_s, 3),
            "projected_official_s": round(OFFICIAL_TEST_PROMPTS / per_s, 1),
            "batches": len(batches["rows"]), "batch_rows": sorted(set(batches["rows"])),
            "new_tokens_per_prompt_observed": sorted(set(batches["new_tokens"])),
            "new_tokens_mean": round(sum(batches["new_tokens"]) / len(batches["new_tokens"]), 2),
            **memory_figures(env)}


def watch_batches(loaded, prompts: list[str], targets: list[int] | None) -> dict:
    """Wrap the model's ``generate``: record each batch's rows and each row's new tokens (up to its first EOS);
    with ``targets``, add the logits processor that ends each row at its reference's length."""
    from transformers import LogitsProcessorList

    from stepinst_data.evaluation.training import encode_prompts

    tok, original = loaded.tokenizer, loaded.model.generate
    side = "right" if loaded.is_encoder_decoder else "left"
    ids, _ = encode_prompts(tok, prompts, 1024, side)
    wanted = {tuple(x): t for x, t in zip(ids, targets or [])}
    seen: dict = {"original": original, "rows": [], "new_tokens": []}

    def watched(**batch):
        if targets is not None:
            rows = [tuple(i for i in row.tolist() if i != tok.pad_token_id) for row in batch["input_ids"]]
            start = 1 if loaded.is_encoder_decoder else batch["input_ids"].shape[1]
            processor = stop_at_lengths_processor([wanted[r] for r in rows], start, tok.eos_token_id)
            batch["logits_processor"] = LogitsProcessorList([processor])
        out = original(**batch)
        new = out[:, 1:] if loaded.is_encoder_decoder else out[:, batch["input_ids"].shape[1]:]
        seen["rows"].append(out.shape[0])
        for row in new.tolist():
            seen["new_tokens"].append(row.index(tok.eos_token_id) + 1 if tok.eos_token_id in row else len(row))
        return out

    loaded.model.generate = watched
    return seen


def reference_lengths(loaded, rows: list[dict]) -> list[int]:
    """New tokens each reference takes, its EOS included (what a model trained on it generates)."""
    counts = loaded.tokenizer([r["outputs"][0] for r in rows], add_special_tokens=False)["input_ids"]
    return [len(c) + 1 for c in counts]


def release_memory() -> float | None:
    """Free what training left behind; the GPU memory still allocated (GiB) after that, None on CPU."""
    import gc

    import torch

    gc.collect()
    if not torch.cuda.is_available():
        return None
    torch.cuda.empty_cache()
    return round(torch.cuda.memory_allocated() / 2**30, 3)


# ---------------------------------------------------------------- device, environment, output


def device_environment(peak_override: float | None) -> dict:
    """The device, its name, how to synchronize it, its bf16 peak (or why MFU is null)."""
    import torch

    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name() if cuda else f"cpu ({platform.processor() or platform.machine()})"
    peak, source = (peak_override, "--peak-tflops") if peak_override else peak_of(name) if cuda else (None, None)
    reason = None
    if not cuda:
        reason = "no GPU: MFU is measured against a GPU's dense bf16 peak; this run is fp32 on CPU"
    elif peak is None:
        reason = f"no known dense bf16 peak for {name!r}: pass --peak-tflops"
    return {"cuda": cuda, "device": "cuda" if cuda else "cpu", "name": name,
            "sync": torch.cuda.synchronize if cuda else (lambda: None),
            "peak_tflops": peak, "peak_source": source, "mfu_null_reason": reason}


def peak_of(name: str) -> tuple[float | None, str | None]:
    for pattern, tflops, source in PEAK_BF16_TFLOPS:
        if re.search(pattern, name):
            return tflops, source
    return None, None


def slug(name: str) -> str:
    """``NVIDIA H200`` -> ``h200``: the device's name in the result file's name."""
    words = re.sub(r"\(.*\)", "", name).lower().replace("nvidia", "")
    return re.sub(r"[^a-z0-9]+", "-", words).strip("-") or "device"


def versions() -> dict:
    import torch
    import transformers
    import trl

    return {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__, "trl": trl.__version__}


def run_model(spec: ModelSpec, corpus: list[str], pairs, lengths: dict, tmp: Path, args, env: dict) -> dict:
    seq2seq = spec.recipe == "seq2seq"
    tok_dir = train_tokenizer(corpus, tmp / f"tok-{spec.name}", args.vocab_size, seq2seq)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    steps = args.warmup_steps + args.repeats * args.steps + args.profile_steps
    longest = TINY_MAX_PROMPT if args.tiny else 1024  # --tiny: short rows, so that the CPU test stays quick
    train_rows = synthetic_rows(pairs, tok, corpus, 16 * steps, seed=1, max_prompt=longest)
    test_rows = synthetic_rows(pairs, tok, corpus, args.eval_prompts, seed=2, max_prompt=longest)
    dataset = write_dataset({"train": train_rows, "test": test_rows}, tmp / f"data-{spec.name}")
    tokenizer = tokenizer_figures(tok_dir, [r["prompt"] for r in train_rows], lengths)
    values = architecture(spec, args.tiny, tokenizer["vocab_size"])
    model_dir = save_random_model(spec, values, tok_dir, tmp / f"model-{spec.name}")
    result = {"name": spec.name, "architecture": values, "tokenizer": tokenizer,
              "architecture_source": spec.source + (" (--tiny: sizes and vocabulary replaced)" if args.tiny else "")}
    print(f"{spec.name}: training ...", file=sys.stderr)
    with stdout_to_stderr():  # the Trainer prints its final metrics
        result["train"] = train_figures(spec, model_dir, dataset, tmp, args, env)
    print(f"{spec.name}: generating ...", file=sys.stderr)
    with stdout_to_stderr():
        result["eval"] = eval_figures(model_dir, test_rows, args, env)
    return result


def summary(result: dict) -> str:
    t, e = result["train"], result["eval"]
    mfu = "n/a" if t["mfu"] is None else f"{t['mfu']:.1%}"
    return (f"{result['name']}: train {t['tokens_per_s']:,.0f} useful tokens/s, median step {t['step_seconds']['median']:.4f} s,"
            f" MFU {mfu}, peak {t['peak_allocated_gib']:.2f} GiB | eval {e['prompts_per_s']:.2f} prompts/s forced to 128"
            f" tokens ({e['projected_official_s'] / 60:,.1f} min for 11,900), "
            f"{e['stop_at_reference']['projected_official_s'] / 60:,.1f} min stopping at the references")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated, of: {', '.join(MODELS)}")
    parser.add_argument("--out", type=Path, default=None,
                        help="result JSON (default: benchmarks/results/gpu_<device name>.json)")
    parser.add_argument("--warmup-steps", type=int, default=20, help="optimizer steps before the clock starts")
    parser.add_argument("--steps", type=int, default=50, help="timed optimizer steps per repeat (16 instances each)")
    parser.add_argument("--repeats", type=int, default=3, help="consecutive timed windows of --steps steps")
    parser.add_argument("--profile-steps", type=int, default=5, help="steps under torch.profiler, after the timed ones")
    parser.add_argument("--eval-prompts", type=int, default=1024, help="timed test prompts (after a warm-up batch)")
    parser.add_argument("--vocab-size", type=int, default=8000,
                        help="largest BPE vocabulary trained on the sample (its text yields about 2,000)")
    parser.add_argument("--layout", default=None, help="per-device batch x accumulation, e.g. 8x2 (default: the YAML's)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile with length buckets (pad to 64) for training, a static cache for decoding")
    parser.add_argument("--liger", action="store_true", help="Liger kernels for the causal LMs (CUDA, liger-kernel)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's dense bf16 peak (default: from the table of known GPUs)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny model sizes, prompts of at most 48 tokens, 1 warm-up + 3 x 2 timed + 1 profiled steps, "
                             "8 prompts, vocab 1000 (CPU, the test suite): every code path, no GPU figure")
    return parser


def report_header(args, env: dict, argv: list[str] | None, lengths: dict) -> dict:
    """What a reader needs to trust the figures: the command, the device, the versions, the peak and the formula."""
    command = ["python", *sys.argv] if argv is None else ["python", "benchmarks/gpu.py", *argv]
    return {
        "command": shlex.join(command), "device": env["name"], "tiny": args.tiny, "versions": versions(),
        "figures": "tiny models on CPU: they check the code paths and are not GPU figures" if args.tiny
        else f"measured on {env['name']}",
        "peak_bf16_tflops": env["peak_tflops"], "peak_source": env["peak_source"], "flop_formula": FLOP_FORMULA,
        "data": "synthetic rows whose prompt and completion token counts follow benchmarks/natinst_lengths.json "
                "(steps_ordered rows of the real SUP-NATINST sample, cl100k); text cut from the embedded sample; "
                "random weights, so loss values mean nothing",
        "lengths": lengths,
        "eval_note": "two runs: forced to exactly 128 new tokens (min_new_tokens; the official maximum), and stopping "
                     "at each reference's length (a logits processor ends each row there, as a trained model would)",
        "models": [],
    }


def _layout_of_16(layout: str) -> bool:
    match = re.fullmatch(r"(\d+)x(\d+)", layout)
    return bool(match) and int(match[1]) * int(match[2]) == 16


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"error: --models {','.join(unknown)} unknown; choose from {', '.join(MODELS)}")
    if args.layout and not _layout_of_16(args.layout):
        raise SystemExit(f"error: --layout {args.layout}: give per-device batch x accumulation making 16, e.g. 8x2")
    if args.tiny:
        args.warmup_steps, args.steps, args.repeats, args.profile_steps = 1, 2, 3, 1
        args.eval_prompts, args.vocab_size = 8, 1000
    if min(args.warmup_steps, args.steps, args.repeats, args.profile_steps, args.eval_prompts) < 1:
        raise SystemExit("error: --warmup-steps, --steps, --repeats, --profile-steps and --eval-prompts must be at least 1")

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    pairs, lengths = load_pairs()
    env = device_environment(args.peak_tflops)
    out = args.out or ROOT / "benchmarks" / "results" / f"gpu_{slug(env['name'])}.json"
    report = report_header(args, env, argv, lengths)
    with tempfile.TemporaryDirectory(prefix="stepinst-gpu-") as name:
        tmp = Path(name)
        corpus = sample_corpus(tmp)
        for model_name in names:
            result = run_model(MODELS[model_name], corpus, pairs, lengths, tmp, args, env)
            report["models"].append(result)
            print(summary(result))
    grid = paper_grid(report["models"])
    report["paper_grid"] = grid
    report["paper_grid_hours"] = None if args.tiny else grid["hours"]
    if args.tiny:
        grid["null_reason"] = "tiny models on CPU: the arithmetic is checked, nothing is projected"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
