"""Greedy generation of predictions for the official evaluation (transformers, or vLLM for causal LMs).

Prompts are encoded with :func:`stepinst_data.evaluation.training.encode_prompts`, the same function the
training recipes use, so a model is evaluated on exactly the inputs it was trained on. Batches are
sorted by length (longest first: little padding, and an out-of-memory shows up on the first batch).
"""

from __future__ import annotations

import json
import logging
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


def load_tokenizer(model_path: str):
    """The tokenizer a model (or a PEFT adapter folder) was saved with, with a pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    ensure_pad_token(tokenizer, model_path)
    return tokenizer


def load_model(model_path: str, device: str | None = None, dtype: str = "auto") -> LoadedModel:
    """Load a causal LM or an encoder-decoder model (or a PEFT adapter) for generation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RecipeError(f"`device={device}` but this machine has no CUDA GPU: pass `--device cpu`")
    encoder_decoder = is_encoder_decoder(model_path)
    tokenizer = load_tokenizer(model_path)
    cls = AutoModelForSeq2SeqLM if encoder_decoder else AutoModelForCausalLM
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model = cls.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
    return LoadedModel(model, tokenizer, encoder_decoder, device)


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
    eos = eos_token_ids(loaded)
    unfinished = 0
    for start in tqdm(range(0, len(order), batch_size), desc="generating", unit="batch"):
        chunk = order[start : start + batch_size]
        batch = tok.pad({"input_ids": [ids[i] for i in chunk]}, padding_side=padding_side, return_tensors="pt")
        batch = {k: v.to(loaded.device) for k, v in batch.items()}
        with torch.inference_mode():
            out = loaded.model.generate(
                **batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                pad_token_id=tok.pad_token_id, eos_token_id=eos,
            )
        if not loaded.is_encoder_decoder:
            out = out[:, batch["input_ids"].shape[1] :]
        unfinished += int((~torch.isin(out, torch.tensor(eos, device=out.device)).any(dim=1)).sum())
        for i, text in zip(chunk, tok.batch_decode(out, skip_special_tokens=True)):
            predictions[i] = text.strip()
    if unfinished:
        logger.warning("%d of %d predictions reached max_new_tokens=%d without an EOS token (an untrained model, or a "
                       "model that never learned to stop)", unfinished, len(ids), max_new_tokens)
    return predictions, truncated


def eos_token_ids(loaded: LoadedModel) -> list[int]:
    """Every token that ends a sequence: the tokenizer's EOS (what training appended) and the model's own.

    ``generate`` stops a batch as soon as every sequence has produced one of them; without them a
    batch always runs to ``max_new_tokens``.
    """
    ids = {loaded.tokenizer.eos_token_id}
    configured = getattr(getattr(loaded.model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    ids.discard(None)
    if not ids:
        raise RecipeError("neither the tokenizer nor the model names an EOS token: generation could never stop; "
                          "set `eos_token` in the tokenizer")
    return sorted(ids)


# The ranks vLLM's LoRA kernels are compiled for (vllm.config.lora.MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


@dataclass
class VllmTarget:
    """What vLLM loads for a model folder: the model itself, or an adapter's base model plus the adapter."""

    model: str
    adapter: str | None = None
    max_lora_rank: int | None = None


def vllm_target(model_path: str) -> VllmTarget:
    """A merged or base model loads as is; a LoRA adapter folder loads on its base model (``enable_lora``).

    vLLM cannot load an adapter folder as a model (it has no ``config.json``); its LoRA support
    applies the adapter per request instead, with ``max_lora_rank`` at least the adapter's rank.
    """
    adapter_file = Path(model_path) / "adapter_config.json"
    if not adapter_file.is_file():
        return VllmTarget(model_path)
    config = json.loads(adapter_file.read_text(encoding="utf-8"))
    if config.get("peft_type") != "LORA":
        raise RecipeError(f"{adapter_file}: vLLM serves LoRA adapters only, not {config.get('peft_type')}; "
                          "merge it (peft `merge_and_unload`) or use `--backend hf`")
    if config.get("modules_to_save"):
        raise RecipeError(f"{adapter_file}: the adapter also saves full modules {config['modules_to_save']}, which vLLM "
                          "refuses; merge it (peft `merge_and_unload`) or use `--backend hf`")
    rank = max([int(config["r"]), *map(int, (config.get("rank_pattern") or {}).values())])
    fitting = [r for r in VLLM_LORA_RANKS if r >= rank]
    if not fitting:
        raise RecipeError(f"{adapter_file}: LoRA rank {rank} exceeds vLLM's largest ({VLLM_LORA_RANKS[-1]}); use `--backend hf`")
    return VllmTarget(config["base_model_name_or_path"], str(model_path), fitting[0])


def is_encoder_decoder(model_path: str) -> bool:
    return bool(getattr(_base_config(model_path), "is_encoder_decoder", False))


def generate_vllm(model_path: str, prompts: list[str], max_new_tokens: int = MAX_NEW_TOKENS,
                  max_source_length: int | None = 1024, truncation_side: TruncationSide = "left",
                  dtype: str = "auto") -> tuple[list[str], int]:
    """The same greedy decoding with vLLM, for large causal LMs; needs ``pip install -e ".[vllm]"`` and a GPU.

    Prompts are encoded by the model folder's own tokenizer (the one training saved), exactly as
    the HF backend encodes them, and handed to vLLM as token ids.
    """
    try:
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
    except ImportError as e:
        raise RecipeError("`--backend vllm` needs vLLM: `pip install -e \".[vllm]\"` on a CUDA machine, or use `--backend hf`") from e
    from transformers import AutoTokenizer

    target = vllm_target(model_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    ids, truncated = encode_prompts(tokenizer, prompts, max_source_length, truncation_side)
    lora = {"enable_lora": True, "max_lora_rank": target.max_lora_rank, "max_loras": 1} if target.adapter else {}
    max_model_len = max(map(len, ids), default=1) + max_new_tokens
    llm = LLM(model=target.model, dtype=dtype, max_model_len=max_model_len, seed=0, **lora)
    params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, skip_special_tokens=True)
    request = LoRARequest("stepinst-adapter", 1, target.adapter) if target.adapter else None
    outputs = llm.generate([{"prompt_token_ids": x} for x in ids], params, lora_request=request)
    return [o.outputs[0].text.strip() for o in outputs], truncated


def predict(model_path: str, prompts: list[str], backend: str = "hf", *, batch_size: int = 16,
            max_new_tokens: int = MAX_NEW_TOKENS, max_source_length: int | None = 1024,
            truncation_side: TruncationSide | None = None, dtype: str = "auto",
            device: str | None = None) -> tuple[list[str], int, str]:
    """Greedy predictions with the requested backend; returns them, the truncated count and the backend used.

    Encoder-decoder models always use transformers' generate: vLLM does not serve T5.
    """
    if backend == "vllm" and is_encoder_decoder(model_path):
        logger.warning("%s is an encoder-decoder model: vLLM does not serve T5-style models, so it runs on "
                       "transformers' generate (`--backend hf`)", model_path)
        backend = "hf"
    if backend == "vllm":
        predictions, truncated = generate_vllm(model_path, prompts, max_new_tokens, max_source_length,
                                               truncation_side or "left", dtype)
        return predictions, truncated, backend
    loaded = load_model(model_path, device, dtype)
    predictions, truncated = generate(loaded, prompts, batch_size, max_new_tokens, max_source_length, truncation_side)
    return predictions, truncated, backend
