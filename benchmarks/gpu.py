"""Training and evaluation speed of the recipes on one GPU: tokens/s, MFU, peak memory, prompts/s.

For each model it builds the recipe's own trainer (``build_trainer`` of ``recipes/sft.py`` or
``recipes/seq2seq.py``, from the model's recipe YAML parsed by the recipe's own parser: fp32
master weights + bf16 autocast on a GPU, padding-free batches for the causal LM, length-grouped
batches for T5, 16 instances per optimizer step), trains it on the embedded sample's rendered
``steps_ordered`` rows and times ``--steps`` optimizer steps after ``--warmup-steps``. Then it
times greedy generation of exactly 128 new tokens (``min_new_tokens=128``: random weights that
happen to emit EOS early would flatter the figure) through
:func:`stepinst_data.evaluation.predict.generate` at the evaluation recipe's batch size (16), and
projects the time of the official test split (119 tasks x 100 instances = 11,900 prompts).

Models have random weights built from their published configurations (written below, with the
source): nothing is downloaded. The tokenizer is a byte-level BPE trained on the sample's rows
(``--vocab-size``), so prompt lengths are of the order of real tokenizers' but not equal to them;
the vocabulary the models compute with is the published one (its embedding and output layer cost
what they cost). Useful tokens are counted exactly from the batches ``training_step`` receives.

    python benchmarks/gpu.py                          # t5-lm-adapt-base, qwen2.5-0.5b -> results/gpu_<device>.json
    python benchmarks/gpu.py --models t5-lm-adapt-xl --out /tmp/xl.json
    python benchmarks/gpu.py --tiny --out /tmp/tiny.json   # tiny models on CPU (the test suite runs this)
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

OFFICIAL_TEST_PROMPTS = 119 * 100  # SUP-NATINST's official test split: 119 tasks x 100 instances
EVAL_CONFIG = ROOT / "recipes" / "configs" / "evaluate" / "official.yaml"


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
DEFAULT_MODELS = "t5-lm-adapt-base,qwen2.5-0.5b"

# Dense (no sparsity) BF16 tensor-core peaks, matched against torch.cuda.get_device_name() in order.
PEAK_BF16_TFLOPS = [
    (r"H200(?!.*NVL)", 989.0, "NVIDIA H200 datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS with sparsity, 989 dense; "
                              "the same Hopper tensor cores and clocks as the H100 SXM"),
    (r"H100.*(SXM|HBM3)", 989.0, "NVIDIA H100 datasheet (SXM): BF16 Tensor Core 1,979 TFLOPS with sparsity, 989 dense"),
    (r"H100.*PCIe", 756.0, "NVIDIA H100 datasheet (PCIe): BF16 Tensor Core 1,513 TFLOPS with sparsity, 756 dense"),
    (r"A100", 312.0, "NVIDIA A100 datasheet: BF16 Tensor Core 312 TFLOPS dense (624 with sparsity)"),
]

FLOP_FORMULA = (
    "train FLOPs = 3 x forward FLOPs = 6 x P_tok x T + 3 x attention (backward = 2 x forward; activation "
    "recomputation not counted: this is MFU, not hardware FLOPs utilisation). forward FLOPs of a micro-batch "
    "= 2 x P_tok x T (every nn.Linear weight a token multiplies, the output layer included, tied or not; "
    "embedding lookups are free) + attention: QK^T and AV cost 4 x s_q x s_k x (heads x head_dim) per layer "
    "and sequence, on the real per-instance lengths (padding-free segments or non-pad tokens): causal self-"
    "attention counts half of s^2 (the masked half is not needed), T5 encoder self-attention all of s_enc^2, "
    "T5 cross-attention s_dec x s_enc. T5: encoder tokens multiply the encoder's weights and the decoder's "
    "cross-attention K/V; decoder tokens the rest of the decoder and lm_head. Only non-pad tokens count. mfu "
    "= FLOPs / timed seconds / peak."
)


# ---------------------------------------------------------------- inputs: sample, tokenizer, models


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


def build_sample(tmp: Path) -> Path:
    """The embedded sample's ``steps_ordered`` configuration, built by the library's own CLI."""
    from stepinst_data.cli import main as cli

    out = tmp / "stepinst"
    with stdout_to_stderr():
        status = cli(["build", "--sample", "--configs", "steps_ordered", "--out", str(out),
                      "--cache-dir", str(tmp / "table-cache"), "--overwrite"])
    if status != 0:
        raise SystemExit(f"error: building the embedded sample into {out} failed (exit status {status})")
    return out


def load_rows(dataset: Path, cache: Path):
    import datasets

    return datasets.load_dataset(str(dataset), "steps_ordered", cache_dir=str(cache))


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
    if spec.recipe == "seq2seq":
        model = T5ForConditionalGeneration(T5Config(**values, **ids, decoder_start_token_id=tok.pad_token_id))
    else:
        model = Qwen2ForCausalLM(Qwen2Config(**values, **ids, bos_token_id=None))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


# ---------------------------------------------------------------- FLOPs


@dataclass
class FlopModel:
    """The per-token weights and attention shape of a model, read from its modules (see FLOP_FORMULA)."""

    encoder_params: int  # weights an encoder token multiplies (T5); 0 for a causal LM
    decoder_params: int  # weights a decoder / causal token multiplies, the output layer included
    attn_width: int
    encoder_layers: int
    decoder_layers: int
    total_params: int

    @classmethod
    def of(cls, model) -> "FlopModel":
        import torch

        enc = dec = 0
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            is_cross_kv = ".EncDecAttention." in name and name.endswith((".k", ".v"))
            if name.startswith("encoder.") or is_cross_kv:
                enc += module.weight.numel()
            else:
                dec += module.weight.numel()
        config = model.config
        if config.is_encoder_decoder:
            width, enc_layers, dec_layers = config.num_heads * config.d_kv, config.num_layers, config.num_decoder_layers
        else:
            head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
            width, enc_layers, dec_layers = config.num_attention_heads * head_dim, 0, config.num_hidden_layers
        total = sum(p.numel() for p in model.parameters())
        return cls(enc, dec, width, enc_layers, dec_layers, total)

    def train_flops(self, enc_lengths: list[int], dec_lengths: list[int]) -> float:
        """FLOPs of one micro-batch (forward + backward) given each instance's encoder / decoder length."""
        forward = 2 * self.encoder_params * sum(enc_lengths) + 2 * self.decoder_params * sum(dec_lengths)
        attn = 4 * self.attn_width
        forward += attn * self.encoder_layers * sum(s * s for s in enc_lengths)
        forward += attn * self.decoder_layers * sum(s * s / 2 for s in dec_lengths)
        if enc_lengths:
            forward += attn * self.decoder_layers * sum(d * e for d, e in zip(dec_lengths, enc_lengths))
        return 3 * forward


def instance_lengths(inputs: dict, encoder_decoder: bool) -> tuple[list[int], list[int]]:
    """(encoder lengths, decoder lengths) of the instances of a micro-batch, pads left out.

    T5 batches are padded (``attention_mask``; labels padded with -100); causal padding-free
    batches are one row whose ``position_ids`` restart at 0 for each instance.
    """
    if encoder_decoder:
        return inputs["attention_mask"].sum(dim=1).tolist(), (inputs["labels"] != -100).sum(dim=1).tolist()
    if "position_ids" in inputs and inputs["input_ids"].shape[0] == 1:
        starts = (inputs["position_ids"][0] == 0).nonzero().flatten().tolist() + [inputs["input_ids"].shape[1]]
        return [], [b - a for a, b in zip(starts, starts[1:])]
    if "attention_mask" in inputs:
        return [], inputs["attention_mask"].sum(dim=1).tolist()
    return [], [inputs["input_ids"].shape[1]] * inputs["input_ids"].shape[0]


# ---------------------------------------------------------------- training


@dataclass
class StepLedger:
    """The micro-batches ``training_step`` received, by optimizer step, and the clock at each step's end.

    The batches are kept (references only) and counted after training: counting on the fly would
    read GPU tensors and stall the device between micro-batches.
    """

    flop_model: FlopModel
    batches: list = field(default_factory=list)
    ends: dict = field(default_factory=dict)

    def record(self, step: int, inputs: dict) -> None:
        keep = ("input_ids", "attention_mask", "labels", "position_ids")
        self.batches.append((step, {k: inputs[k] for k in keep if k in inputs}))

    def window(self, first: int, last: int) -> tuple[float, int, int, float]:
        """Seconds, useful tokens, loss tokens and FLOPs of steps ``first + 1 .. last`` (clock from the end of ``first``)."""
        tokens = loss_tokens = 0
        flops = 0.0
        for step, inputs in self.batches:
            if first < step <= last:
                enc, dec = instance_lengths(inputs, self.flop_model.encoder_layers > 0)
                tokens += sum(enc) + sum(dec)
                loss_tokens += int((inputs["labels"] != -100).sum())
                flops += self.flop_model.train_flops(enc, dec)
        return self.ends[last] - self.ends[first], tokens, loss_tokens, flops


def recipe_module(recipe: str):
    """``recipes/<recipe>.py`` as a module (the recipes are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{recipe}", ROOT / "recipes" / f"{recipe}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module
    spec.loader.exec_module(module)
    return module


def recipe_trainer(spec: ModelSpec, model_dir: Path, dataset: Path, tmp: Path, args, cuda: bool):
    """The recipe's trainer, from its YAML and its parser; only the run's length, folders and device differ."""
    recipe = recipe_module(spec.recipe)
    flags = ["--config", str(spec.yaml), "--model_name_or_path", str(model_dir), "--dataset_name", str(dataset),
             "--dataset_config", "steps_ordered", "--dataset_cache_dir", str(tmp / "hf"),
             "--output_dir", str(tmp / f"out-{spec.name}"), "--max_steps", str(args.warmup_steps + args.steps),
             "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--bf16", str(cuda).lower()]
    if spec.recipe == "sft":
        flags += ["--attn_implementation", attention_implementation(cuda)]
    parsed = recipe.make_parser().parse_args_and_config(flags)
    trainer = recipe.build_trainer(*parsed)[0]
    return trainer, parsed[1]


def attention_implementation(cuda: bool) -> str:
    """FlashAttention-2 when it is installed and there is a GPU (the causal YAML's comment), else SDPA."""
    return "flash_attention_2" if cuda and importlib.util.find_spec("flash_attn") else "sdpa"


def time_training(trainer, sync) -> tuple[StepLedger, float]:
    """Train (``max_steps`` optimizer steps); the ledger of every step and the peak memory (GiB)."""
    import torch
    from transformers import TrainerCallback

    ledger = StepLedger(FlopModel.of(trainer.model))
    original = trainer.training_step

    def counted_step(model, inputs, *rest, **kwargs):
        ledger.record(trainer.state.global_step + 1, inputs)
        return original(model, inputs, *rest, **kwargs)

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            sync()
            ledger.ends[state.global_step] = time.perf_counter()

    trainer.training_step = counted_step
    trainer.add_callback(Clock())
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    return ledger, peak_memory_gib()


def train_figures(spec: ModelSpec, model_dir: Path, dataset: Path, tmp: Path, args, env: dict) -> dict:
    trainer, training_args = recipe_trainer(spec, model_dir, dataset, tmp, args, env["cuda"])
    ledger, peak = time_training(trainer, env["sync"])
    seconds, tokens, loss_tokens, flops = ledger.window(args.warmup_steps, args.warmup_steps + args.steps)
    flop_model = ledger.flop_model
    mfu = None if env["peak_tflops"] is None else flops / seconds / (env["peak_tflops"] * 1e12)
    attn = trainer.model.config._attn_implementation
    return {
        "recipe": f"recipes/{spec.recipe}.py build_trainer", "recipe_yaml": str(spec.yaml.relative_to(ROOT)),
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "batching": "padding-free (TRL, position_ids restart per instance)" if spec.recipe == "sft"
        else f"{training_args.train_sampling_strategy} (transformers LengthGroupedSampler), padded per batch",
        "activation_checkpointing": bool(getattr(training_args, "activation_checkpointing", False)
                                         or training_args.gradient_checkpointing),
        "dtype": "fp32 weights, bf16 autocast" if training_args.bf16 else "fp32",
        "attn_implementation": attn, "warmup_steps": args.warmup_steps, "timed_steps": args.steps,
        "parameters": flop_model.total_params,
        "flop_params_per_token": {"encoder": flop_model.encoder_params, "decoder": flop_model.decoder_params},
        "timed_seconds": round(seconds, 4), "useful_tokens": tokens, "loss_tokens": loss_tokens,
        "tokens_per_s": round(tokens / seconds, 1), "loss_tokens_per_s": round(loss_tokens / seconds, 1),
        "model_tflops_per_s": round(flops / seconds / 1e12, 4),
        "mfu": None if mfu is None else round(mfu, 4), "mfu_null_reason": env["mfu_null_reason"],
        "peak_mem_gib": round(peak, 3), "peak_mem_what": env["memory_what"],
    }


# ---------------------------------------------------------------- evaluation


def eval_figures(model_dir: Path, prompts: list[str], args, env: dict) -> dict:
    """Greedy generation of exactly ``max_new_tokens`` tokens through the evaluation recipe's ``generate``."""
    import torch
    import yaml

    from stepinst_data.evaluation.predict import generate, load_model

    official = yaml.safe_load(EVAL_CONFIG.read_text(encoding="utf-8"))
    held = release_memory()
    batch_size, max_new = official["batch_size"], official["max_new_tokens"]
    loaded = load_model(str(model_dir), env["device"], "bfloat16" if env["cuda"] else "float32")
    timed = [prompts[i % len(prompts)] for i in range(args.eval_prompts)]
    generate(loaded, timed[:batch_size], batch_size, 8, official["max_source_length"])  # warm-up: one batch, 8 tokens
    loaded.model.generation_config.min_new_tokens = max_new  # no early EOS from random weights
    new_tokens = count_new_tokens(loaded)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    env["sync"]()
    start = time.perf_counter()
    generate(loaded, timed, batch_size, max_new, official["max_source_length"])
    env["sync"]()
    seconds = time.perf_counter() - start
    per_s = len(timed) / seconds
    return {
        "path": "stepinst_data.evaluation.predict.generate (greedy, length-sorted batches)",
        "batch_size": batch_size, "max_new_tokens": max_new, "min_new_tokens": max_new,
        "new_tokens_per_prompt_observed": sorted(set(new_tokens)),
        "dtype": str(loaded.model.dtype).removeprefix("torch."),
        "attn_implementation": loaded.model.config._attn_implementation,
        "prompts": len(timed), "timed_seconds": round(seconds, 4), "prompts_per_s": round(per_s, 3),
        "official_test_prompts": OFFICIAL_TEST_PROMPTS,
        "projected_official_s": round(OFFICIAL_TEST_PROMPTS / per_s, 1),
        "peak_mem_gib": round(peak_memory_gib(), 3), "peak_mem_what": env["memory_what"],
        "memory_held_before_gib": held,
    }


def release_memory() -> float | None:
    """Free what training left behind; the GPU memory still allocated (GiB) after that, None on CPU."""
    import gc

    import torch

    gc.collect()
    if not torch.cuda.is_available():
        return None
    torch.cuda.empty_cache()
    return round(torch.cuda.memory_allocated() / 2**30, 3)


def count_new_tokens(loaded) -> list[int]:
    """Wrap the model's ``generate`` to record how many tokens each batch generated (prompt and start token excluded)."""
    seen: list[int] = []
    original = loaded.model.generate

    def counting(**batch):
        out = original(**batch)
        seen.append(out.shape[1] - (1 if loaded.is_encoder_decoder else batch["input_ids"].shape[1]))
        return out

    loaded.model.generate = counting
    return seen


# ---------------------------------------------------------------- device, environment, output


def peak_memory_gib() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def device_environment(peak_override: float | None) -> dict:
    """The device, its name, how to synchronize it, its bf16 peak (or why MFU is null), what memory means."""
    import torch

    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name() if cuda else f"cpu ({platform.processor() or platform.machine()})"
    peak, source = (peak_override, "--peak-tflops") if peak_override else peak_of(name) if cuda else (None, None)
    reason = None
    if not cuda:
        reason = "no GPU: MFU is measured against a GPU's dense bf16 peak; this run is fp32 on CPU"
    elif peak is None:
        reason = f"no known dense bf16 peak for {name!r}: pass --peak-tflops"
    return {
        "cuda": cuda, "device": "cuda" if cuda else "cpu", "name": name,
        "sync": torch.cuda.synchronize if cuda else (lambda: None),
        "peak_tflops": peak, "peak_source": source, "mfu_null_reason": reason,
        "memory_what": "torch.cuda.max_memory_allocated (this phase)" if cuda
        else "process peak RSS (ru_maxrss, every phase so far), not a GPU figure",
    }


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


def train_tokenizer(texts: list[str], out: Path, vocab_size: int, seq2seq: bool) -> Path:
    from recipes_helpers import train_tokenizer as train  # the tests' byte-level BPE: <pad>=0, </s>=1, <unk>=2 (T5's ids)

    with stdout_to_stderr():  # tokenizers' progress bar
        return train(texts, out, pad=True, seq2seq=seq2seq, vocab_size=vocab_size)


def tokenizer_figures(tokenizer_dir: Path, prompts: list[str]) -> dict:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    lengths = [len(x) for x in tok(prompts)["input_ids"]]
    return {"kind": "byte-level BPE trained on the sample's steps_ordered rows (tests/recipes_helpers.py)",
            "vocab_size": len(tok), "mean_tokens_per_prompt": round(sum(lengths) / len(lengths), 1),
            "max_tokens_per_prompt": max(lengths),
            "note": "real tokenizers (T5's SentencePiece, Qwen2.5's BPE) give other lengths, so other tokens per "
                    "prompt and prompts/s; the models compute with their published vocabulary size"}


def run_model(spec: ModelSpec, rows, tmp: Path, dataset: Path, args, env: dict) -> dict:
    seq2seq = spec.recipe == "seq2seq"
    texts = [r["prompt"] + r["completion"] for split in rows.values() for r in split]
    tok_dir = train_tokenizer(texts, tmp / f"tok-{spec.name}", args.vocab_size, seq2seq)
    tokenizer = tokenizer_figures(tok_dir, list(rows["train"]["prompt"]))
    values = architecture(spec, args.tiny, tokenizer["vocab_size"])
    model_dir = save_random_model(spec, values, tok_dir, tmp / f"model-{spec.name}")
    test_prompts = list(rows["test"]["prompt"])
    result = {"name": spec.name, "architecture": values, "tokenizer": tokenizer,
              "architecture_source": spec.source + (" (--tiny: sizes and vocabulary replaced)" if args.tiny else "")}
    print(f"{spec.name}: training ...", file=sys.stderr)
    with stdout_to_stderr():  # the Trainer prints its final metrics
        result["train"] = train_figures(spec, model_dir, dataset, tmp, args, env)
    print(f"{spec.name}: generating ...", file=sys.stderr)
    result["eval"] = eval_figures(model_dir, test_prompts, args, env)
    return result


def summary(result: dict) -> str:
    t, e = result["train"], result["eval"]
    mfu = "n/a" if t["mfu"] is None else f"{t['mfu']:.1%}"
    return (f"{result['name']}: train {t['tokens_per_s']:,.0f} useful tokens/s, MFU {mfu}, peak {t['peak_mem_gib']:.2f} GiB"
            f" | eval {e['prompts_per_s']:.2f} prompts/s (batch {e['batch_size']}, {e['max_new_tokens']} new tokens),"
            f" 11,900 prompts in {e['projected_official_s'] / 60:,.1f} min")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated, of: {', '.join(MODELS)}")
    parser.add_argument("--out", type=Path, default=None,
                        help="result JSON (default: benchmarks/results/gpu_<device name>.json)")
    parser.add_argument("--warmup-steps", type=int, default=3, help="optimizer steps before the clock starts")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps (16 instances each)")
    parser.add_argument("--eval-prompts", type=int, default=128, help="timed test prompts (after one warm-up batch)")
    parser.add_argument("--vocab-size", type=int, default=8000,
                        help="largest BPE vocabulary trained on the sample (its text yields about 2,000)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's dense bf16 peak (default: from the table of known GPUs)")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny model sizes, 1 warm-up + 2 timed steps, 16 prompts, vocab 1000 (CPU, the test suite)")
    return parser


def report_header(args, env: dict, argv: list[str] | None) -> dict:
    """What a reader needs to trust the figures: the command, the device, the versions, the peak and the formula."""
    command = ["python", *sys.argv] if argv is None else ["python", "benchmarks/gpu.py", *argv]
    return {
        "command": shlex.join(command), "device": env["name"], "tiny": args.tiny, "versions": versions(),
        "peak_bf16_tflops": env["peak_tflops"], "peak_source": env["peak_source"], "flop_formula": FLOP_FORMULA,
        "data": "the embedded sample's steps_ordered configuration (train split for training, test split for "
                "generation), prompts as rendered by stepinst_data; random weights, so loss values mean nothing",
        "eval_note": "generation is forced to exactly max_new_tokens (min_new_tokens) so that random weights that "
                     "emit EOS early do not flatter prompts/s; a trained model that stops earlier is faster",
        "models": [],
    }


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"error: --models {','.join(unknown)} unknown; choose from {', '.join(MODELS)}")
    if args.tiny:
        args.warmup_steps, args.steps, args.eval_prompts, args.vocab_size = 1, 2, 16, 1000
    if min(args.warmup_steps, args.steps, args.eval_prompts) < 1:
        raise SystemExit("error: --warmup-steps, --steps and --eval-prompts must be at least 1")

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    env = device_environment(args.peak_tflops)
    out = args.out or ROOT / "benchmarks" / "results" / f"gpu_{slug(env['name'])}.json"
    report = report_header(args, env, argv)
    with tempfile.TemporaryDirectory(prefix="stepinst-gpu-") as name:
        tmp = Path(name)
        dataset = build_sample(tmp)
        rows = load_rows(dataset, tmp / "hf")
        for model_name in names:
            result = run_model(MODELS[model_name], rows, tmp, dataset, args, env)
            report["models"].append(result)
            print(summary(result))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
