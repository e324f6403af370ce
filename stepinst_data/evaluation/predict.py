"""Greedy generation of predictions for the official evaluation (transformers, or vLLM if installed).

Prompts are encoded with :func:`stepinst_data.evaluation.training.encode_prompts`, the same function the
training recipes use, so a model is evaluated on exactly the inputs it was trained on. Batches are
sorted by length (longest first: little padding, and an out-of-memory shows up on the first batch).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .training import RecipeError, TruncationSide, encode_prompts, ensure_pad_token

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS = 128  # the official evaluation's target length


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    is_encoder_decoder: bool
    device: str


def _base_config(model_path: str):
    """The model's config, following a PEFT adapter folder to its base model."""
    from transformers import AutoConfig

    adapter = Path(model_path) / "adapter_config.json"
    if adapter.is_file():
        return AutoConfig.from_pretrained(json.loads(adapter.read_text())["base_model_name_or_path"])
    return AutoConfig.from_pretrained(model_path)


def load_model(model_path: str, device: str | None = None, dtype: str = "auto") -> LoadedModel:
    """Load a causal LM or an encoder-decoder model (or a PEFT adapter) for generation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RecipeError(f"`device={device}` but this machine has no CUDA GPU: pass `--device cpu`")
    is_encoder_decoder = bool(getattr(_base_config(model_path), "is_encoder_decoder", False))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    ensure_pad_token(tokenizer, model_path)
    cls = AutoModelForSeq2SeqLM if is_encoder_decoder else AutoModelForCausalLM
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model = cls.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
    return LoadedModel(model, tokenizer, is_encoder_decoder, device)


def generate(
    loaded: LoadedModel,
    prompts: list[str],
    batch_size: int = 16,
    max_new_tokens: int = MAX_NEW_TOKENS,
    max_source_length: int | None = 1024,
    truncation_side: TruncationSide | None = None,
) -> tuple[list[str], int]:
    """Greedy predictions in the order of ``prompts``, and how many prompts were truncated."""
    import torch
    from tqdm.auto import tqdm

    tok = loaded.tokenizer
    side = truncation_side or ("right" if loaded.is_encoder_decoder else "left")
    ids, truncated = encode_prompts(tok, prompts, max_source_length, side)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    predictions: list[str] = [""] * len(ids)
    padding_side = "right" if loaded.is_encoder_decoder else "left"  # a causal LM continues from the last token
    for start in tqdm(range(0, len(order), batch_size), desc="generating", unit="batch"):
        chunk = order[start : start + batch_size]
        batch = tok.pad({"input_ids": [ids[i] for i in chunk]}, padding_side=padding_side, return_tensors="pt")
        batch = {k: v.to(loaded.device) for k, v in batch.items()}
        with torch.inference_mode():
            out = loaded.model.generate(
                **batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
            )
        if not loaded.is_encoder_decoder:
            out = out[:, batch["input_ids"].shape[1] :]
        for i, text in zip(chunk, tok.batch_decode(out, skip_special_tokens=True)):
            predictions[i] = text.strip()
    return predictions, truncated


def generate_vllm(model_path: str, prompts: list[str], max_new_tokens: int = MAX_NEW_TOKENS,
                  max_source_length: int | None = 1024, truncation_side: TruncationSide = "left") -> tuple[list[str], int]:
    """The same greedy decoding with vLLM, for large models; needs ``pip install vllm`` and a GPU."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as e:
        raise RecipeError("`--backend vllm` needs vLLM: `pip install vllm` on a GPU machine, or use `--backend hf`") from e
    import torch

    if not torch.cuda.is_available():
        raise RecipeError("`--backend vllm` needs a CUDA GPU; use `--backend hf` on this machine")
    llm = LLM(model=model_path)
    tok = llm.get_tokenizer()
    ids, truncated = encode_prompts(tok, prompts, max_source_length, truncation_side)
    params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
    outputs = llm.generate([{"prompt_token_ids": x} for x in ids], params)
    return [o.outputs[0].text.strip() for o in outputs], truncated


def write_predictions(ids: list[str], predictions: list[str], path: str | os.PathLike) -> Path:
    """The official predictions JSONL: ``{"id", "prediction"}`` per line."""
    from .metrics import write_jsonl

    return write_jsonl(({"id": i, "prediction": p} for i, p in zip(ids, predictions)), path)
