"""What the training and evaluation recipes share: loading a config, tokenizing, truncation, devices.

The recipes in ``recipes/`` stay thin entry points; everything they have in common lives here, so
the SFT recipe, the Seq2Seq recipe, the evaluation recipe and the benchmark tokenize a prompt the
same way (the model sees at evaluation exactly the input it was trained on).

Prompts come from the built dataset (``prompt`` is rendered by :mod:`stepinst_data.dataset.template`);
nothing here renders or re-encodes a prompt.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from .prompt_fit import FitReport, fit_prompts

logger = logging.getLogger(__name__)

TruncationSide = Literal["left", "right"]
REQUIRED_COLUMNS = ("id", "prompt", "completion", "outputs", "task_name", "category")
NO_LIMIT = 2**62  # a prompt budget no prompt reaches (fitting without a maximum length)


class RecipeError(ValueError):
    """Bad recipe input (dataset, config, model, device); the message names it and gives the fix."""


def available_configs(dataset: str, cache_dir: str | os.PathLike | None = None) -> list[str]:
    import datasets

    return list(datasets.get_dataset_config_names(dataset, cache_dir=cache_dir))


def load_instance_split(dataset: str, config: str, split: str, cache_dir: str | os.PathLike | None = None):
    """One split of an instance configuration, checked: the config exists and has the needed columns."""
    import datasets

    names = available_configs(dataset, cache_dir)
    if config not in names:
        raise RecipeError(f"dataset {dataset!r} has no config {config!r}; it has: {', '.join(names)}")
    loaded = datasets.load_dataset(dataset, config, cache_dir=None if cache_dir is None else str(cache_dir))
    if split not in loaded:
        raise RecipeError(f"dataset {dataset!r} config {config!r} has no split {split!r}; it has: {', '.join(loaded)}")
    rows = loaded[split]
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.column_names]
    if missing:
        raise RecipeError(f"{dataset!r} config {config!r} lacks the column(s) {missing}: is it an instance config (not `ratings`)?")
    return rows


def ensure_pad_token(tokenizer, name: str = "the tokenizer") -> bool:
    """Give a tokenizer without a pad token one (EOS, else UNK); return True when it was set."""
    if tokenizer.pad_token is not None:
        return False
    fallback = tokenizer.eos_token or tokenizer.unk_token
    if fallback is None:
        raise RecipeError(f"{name} has neither a pad, an EOS nor an UNK token; add a pad token to the tokenizer first")
    tokenizer.pad_token = fallback
    logger.warning("%s has no pad token: using %r as the pad token", name, fallback)
    return True


def encode_prompts(tokenizer, prompts: list[str], max_length: int | None, side: TruncationSide) -> tuple[list[list[int]], int]:
    """Token ids of prompts with the tokenizer's special tokens, truncated from ``side``; and how many were."""
    ids = tokenizer(prompts)["input_ids"]
    if max_length is None:
        return ids, 0
    long = [i for i, x in enumerate(ids) if len(x) > max_length]
    if long:
        old_side = tokenizer.truncation_side
        tokenizer.truncation_side = side
        try:
            cut = tokenizer([prompts[i] for i in long], truncation=True, max_length=max_length)["input_ids"]
        finally:
            tokenizer.truncation_side = old_side
        for i, x in zip(long, cut):
            ids[i] = x
    return ids, len(long)


def tokenize_causal(rows, tokenizer, max_length: int | None, side: TruncationSide = "left",
                    step_order_seed: int | None = None, max_prompt_length: int | None = None) -> tuple[Any, FitReport]:
    """``input_ids`` + ``completion_mask`` rows for TRL: fitted prompt + completion + EOS.

    TRL would truncate the joined sequence from the end, cutting the completion away; here each
    prompt is fitted to what the completion leaves of ``max_length``, and to ``max_prompt_length``
    (Tk-Instruct's 1,024-token source, the budget evaluation fits to), as Tk-Instruct fits its source
    (examples, then steps dropped; :mod:`.prompt_fit`). A completion longer than half of
    ``max_length`` is cut first (its EOS kept).
    """
    if tokenizer.eos_token_id is None:
        raise RecipeError("the tokenizer has no EOS token; the model could never learn to stop. Set `eos_token`.")
    completions = tokenizer(list(rows["completion"]), add_special_tokens=False)["input_ids"]
    completions = [c + [tokenizer.eos_token_id] for c in completions]
    truncated_targets = 0
    if max_length is not None:
        budget = max(1, max_length // 2)
        truncated_targets = sum(len(c) > budget for c in completions)
        completions = [c if len(c) <= budget else c[: budget - 1] + [tokenizer.eos_token_id] for c in completions]
    budgets = [min(NO_LIMIT if max_length is None else max_length - len(c), max_prompt_length or NO_LIMIT)
               for c in completions]
    prompts, report = fit_prompts(rows, tokenizer, budgets, side, step_order_seed)
    report.truncated_targets = truncated_targets
    if max_length is None and max_prompt_length is None:
        report.budget = None
    prompt_ids = tokenizer(prompts)["input_ids"]
    input_ids = [p + c for p, c in zip(prompt_ids, completions)]
    masks = [[0] * len(p) + [1] * len(c) for p, c in zip(prompt_ids, completions)]
    import datasets

    keep = {"id": list(rows["id"]), "input_ids": input_ids, "completion_mask": masks}
    return datasets.Dataset.from_dict(keep), report


def tokenize_seq2seq(rows, tokenizer, max_source_length: int, max_target_length: int, side: TruncationSide = "right",
                     step_order_seed: int | None = None) -> tuple[Any, FitReport]:
    """``input_ids``/``attention_mask``/``labels`` rows for an encoder-decoder model (Tk-Instruct lengths, fitted sources)."""
    import datasets

    prompts, report = fit_prompts(rows, tokenizer, max_source_length, side, step_order_seed)
    sources = tokenizer(prompts)["input_ids"]
    targets, report.truncated_targets = encode_prompts(tokenizer, list(rows["completion"]), max_target_length, "right")
    data = {"input_ids": sources, "attention_mask": [[1] * len(s) for s in sources], "labels": targets}
    return datasets.Dataset.from_dict(data), report


def evaluation_step_order_seed(config: str, resample: bool | None, trained: dict[str, Any]) -> int | None:
    """The step-order seed evaluation shows ``config`` with: the model's own configuration exactly as it
    was trained (its record's seed, or the build's order), any other one by :func:`step_order_seed`."""
    if resample is None and trained.get("config") == config and "truncation" in trained:
        return trained["truncation"].get("step_order_seed")
    return step_order_seed(config, resample, trained.get("seed"))


def config_flag(argv: list[str] | None = None) -> str | None:
    """The ``--config FILE.yaml`` a recipe was started with (``sys.argv`` by default), for its run record."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def step_order_seed(config: str, resample: bool | None, seed: int | None) -> int | None:
    """The seed shuffled steps are re-drawn with: the training seed for ``steps_shuffled`` (or when asked), else none.

    ``seed`` is ``None`` for a model stepinst did not train: it sees the build's order.

    The build draws one permutation per task from its own seed; re-drawing per training seed makes the
    seeds of a ``steps_shuffled`` cell sample the permutation too, instead of all sharing one.
    """
    from ..dataset.configs import PRESETS

    if resample is None:
        preset = PRESETS.get(config)
        resample = preset is not None and preset.steps == "shuffled"
    return seed if resample and seed is not None else None


def token_mean_loss(outputs, labels, num_items_in_batch=None):
    """Cross-entropy summed over a micro-batch's target tokens, divided by the tokens of the whole optimizer step.

    The Seq2Seq recipe passes it as ``compute_loss_func``. transformers' Trainer skips dividing by
    the accumulation steps for models whose ``forward`` takes ``**kwargs`` (T5 does), assuming the
    model normalises by ``num_items_in_batch``; T5 returns a plain per-micro-batch mean instead, so
    its loss and gradient grew with the accumulation steps (2x at 8x2, 4x at 4x4). Summing here and
    dividing by ``num_items_in_batch`` (counted over every micro-batch of the step and, with
    ``average_tokens_across_devices``, every process) makes one optimizer step the token mean over
    its 16 instances whatever their split over micro-batches and devices.
    """
    import torch.nn.functional as F

    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    labels = labels.to(logits.device)
    total = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100, reduction="sum")
    if num_items_in_batch is None:  # outside training (no step to normalise over): this batch's token mean
        return total / labels.ne(-100).sum().clamp(min=1)
    return total / num_items_in_batch


def check_device(bf16: bool = False, fp16: bool = False, load_in_4bit: bool = False, load_in_8bit: bool = False,
                 attn_implementation: str | None = None, use_cpu: bool = False) -> str:
    """Refuse GPU-only options on a machine without a GPU with a message that says which flag to change."""
    import torch

    has_cuda = torch.cuda.is_available() and not use_cpu
    device = "cuda" if has_cuda else "cpu"
    problems = []
    if bf16 and not (has_cuda and torch.cuda.is_bf16_supported()):
        problems.append("`bf16=True` needs a GPU with bfloat16 support: pass `--bf16 false` (fp32 on CPU)")
    if fp16 and not has_cuda:
        problems.append("`fp16=True` needs a CUDA GPU: pass `--fp16 false`")
    if (load_in_4bit or load_in_8bit) and not has_cuda:
        problems.append("QLoRA (`load_in_4bit`/`load_in_8bit`) needs a CUDA GPU and bitsandbytes: drop the flag and use `--use_peft` alone")
    if attn_implementation and attn_implementation.startswith("flash_attention") and not has_cuda:
        problems.append(f"`attn_implementation={attn_implementation}` needs a CUDA GPU: pass `--attn_implementation sdpa`")
    if problems:
        raise RecipeError(f"this machine has no usable GPU ({device}); " + "; ".join(problems))
    return device


def require(model_name_or_path: str | None, dataset_name: str | None, dataset_config: str | None) -> None:
    """The three values every recipe needs, with the flag to set when one is missing."""
    from ..dataset.configs import INSTANCE_CONFIGS

    if not model_name_or_path or not dataset_name:
        raise RecipeError("set `model_name_or_path` and `dataset_name` (in the YAML or on the command line)")
    if not dataset_config:
        raise RecipeError(f"set `--dataset_config`: the configuration to use, one of {', '.join(INSTANCE_CONFIGS)}")


def check_master_weights(dtype: str | None, use_peft: bool) -> None:
    """Warn when full fine-tuning would update bf16/fp16 weights directly.

    An Adam update of a weight is often below half a bf16 ulp at learning rates near 1e-5: rounded
    back into a bf16 weight it is lost. Loading fp32 weights and computing in bf16 (``bf16=True``,
    autocast) keeps every update.
    """
    if not use_peft and dtype in ("bfloat16", "float16"):
        logger.warning("full fine-tuning with `dtype=%s` weights loses small updates to rounding; "
                       "pass `--dtype float32` (fp32 master weights) and keep `--bf16 true` for bf16 compute", dtype)


def last_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest complete ``checkpoint-N`` folder of a run (the Trainer writes ``trainer_state.json`` last)."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    steps = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if suffix.isdigit() and (path / "trainer_state.json").is_file():
            steps.append((int(suffix), path))
    return max(steps)[1] if steps else None


def resolve_resume(value: str | bool | None, output_dir: str | os.PathLike) -> str | None:
    """``--resume_from_checkpoint``: ``True`` means the newest complete checkpoint in ``output_dir``.

    transformers types the flag as a path, so ``True`` on the command line arrives as the string
    ``"True"`` and the Trainer would look for a folder of that name.
    """
    if value is None or str(value).lower() in ("false", "no", "0", ""):
        return None
    if value is True or str(value).lower() in ("true", "yes", "1"):
        found = last_checkpoint(output_dir)
        if found is None:
            raise RecipeError(f"`resume_from_checkpoint=True` but {output_dir} holds no complete checkpoint-N folder; "
                              "drop the flag to start from scratch")
        logger.info("resuming from %s", found)
        return str(found)
    if not Path(value, "trainer_state.json").is_file():
        raise RecipeError(f"`resume_from_checkpoint={value}` is not a checkpoint folder (no trainer_state.json); "
                          "pass a checkpoint-N folder, or `True` for the newest one in `output_dir`")
    return str(value)


def run_recipe(make_parser, main, argv: list[str] | None = None) -> None:
    """Parse ``--config file.yaml`` + CLI flags and run ``main``; bad input exits with one clear line.

    Configuration errors raised while parsing (e.g. transformers refusing ``bf16`` without a GPU)
    and :class:`RecipeError` become ``error: ...`` and exit status 1 instead of a stack trace.
    """
    import sys

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        args = make_parser().parse_args_and_config(argv)
    except (ValueError, FileNotFoundError) as e:
        hint = " On a machine without a GPU pass `--bf16 false`." if "bf16" in str(e) else ""
        sys.exit(f"error: {e}{hint}")
    try:
        main(*args)
    except RecipeError as e:
        sys.exit(f"error: {e}")
