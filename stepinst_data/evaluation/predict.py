"""Greedy generation of predictions for the official evaluation (transformers, or vLLM for causal LMs).

Prompts are encoded with :func:`stepinst_data.evaluation.training.encode_prompts`, the same function the
training recipes use, so a model is evaluated on exactly the inputs it was trained on. Batches are
sorted by length (longest first: little padding, and an out-of-memory shows up on the first batch)
and sized by a token budget (rows x (longest prompt + new tokens)) that fits the GPU's free memory,
so a batch holds hundreds of short prompts or a few long ones; predictions come back in the input order.
The dtype is explicit in both backends: bfloat16 on a GPU, float32 on CPU, unless the caller names one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .training import RecipeError, TruncationSide, encode_prompts, ensure_pad_token

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS = 128  # the official evaluation's target length
MAX_BATCH_ROWS = 512  # the most prompts in one batch when memory allows (the token budget decides below that)
MEMORY_SHARE = 0.7  # of the GPU memory free after loading, what generation batches may use
DTYPES = ("auto", "bfloat16", "float16", "float32")
COMPILE_LENGTH_MULTIPLE = 64  # with static caches, prompts pad to a multiple of this: few shapes, few recompilations


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    is_encoder_decoder: bool
    device: str


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> ``bfloat16`` on a GPU, ``float32`` on CPU; any other name is checked and kept.

    Not the checkpoint's dtype: vLLM's ``auto`` runs fp32 checkpoints in fp16 and transformers' in
    fp32, so the dtype a result was produced with is named here and recorded with it.
    """
    if dtype not in DTYPES:
        raise RecipeError(f"`--dtype {dtype}` is not one of {', '.join(DTYPES)}")
    if dtype != "auto":
        return dtype
    return "float32" if device == "cpu" else "bfloat16"


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
    """Load a causal LM or an encoder-decoder model (or a PEFT adapter) for generation, in :func:`resolve_dtype`'s dtype."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RecipeError(f"`device={device}` but this machine has no CUDA GPU: pass `--device cpu`")
    encoder_decoder = is_encoder_decoder(model_path)
    tokenizer = load_tokenizer(model_path)
    cls = AutoModelForSeq2SeqLM if encoder_decoder else AutoModelForCausalLM
    torch_dtype = getattr(torch, resolve_dtype(dtype, device))
    model = cls.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
    return LoadedModel(model, tokenizer, encoder_decoder, device)


def use_static_cache(loaded: LoadedModel) -> None:
    """Decode with a static KV cache, which transformers compiles (``torch.compile``, CUDA graphs) on a GPU.

    Opt-in (``--compile``): each new batch shape compiles once (tens of seconds), so it pays off on
    long evaluations only; :func:`generate` then rounds batch rows to powers of two and prompt
    lengths to multiples of ``COMPILE_LENGTH_MULTIPLE`` to keep the shapes few. On CPU the cache is
    static but nothing is compiled. The predictions are the same greedy tokens.
    """
    loaded.model.generation_config.cache_implementation = "static"


def _is_static(loaded: LoadedModel) -> bool:
    return getattr(loaded.model.generation_config, "cache_implementation", None) == "static"


def row_bytes(loaded: LoadedModel, longest: int, max_new_tokens: int) -> int:
    """GPU bytes one row of a batch needs at most: its KV cache, one layer's prefill work, the logits.

    An estimate from the config (no allocation is probed); :func:`generate` halves the batch and
    retries if the GPU disagrees.
    """
    config = loaded.model.config.get_text_config()
    item = loaded.model.dtype.itemsize
    hidden = getattr(config, "d_model", None) or config.hidden_size
    heads = getattr(config, "num_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "d_kv", None) or getattr(config, "head_dim", None) or hidden // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    layers = getattr(config, "num_decoder_layers", None) or config.num_hidden_layers
    ff = getattr(config, "d_ff", None) or getattr(config, "intermediate_size", 4 * hidden)
    tokens = longest + max_new_tokens
    kv = 2 * layers * kv_heads * head_dim * item * tokens * (2 if loaded.is_encoder_decoder else 1)  # T5: + cross K/V
    work = (6 * hidden + 3 * ff) * item * longest
    if loaded.is_encoder_decoder:  # T5 attends eagerly (relative position bias): fp32 scores, bias and softmax
        work += 3 * heads * longest * longest * 4
    logits = 2 * config.vocab_size * 4
    return kv + work + logits


def rows_per_batch(longest: int, max_rows: int, max_tokens: int | None, max_new_tokens: int, powers_of_two: bool) -> int:
    """How many prompts (the longest has ``longest`` tokens) one batch takes: at most ``max_rows``, and
    rows x (longest + new tokens) <= ``max_tokens`` when a budget is set; at least one."""
    rows = max_rows if max_tokens is None else max(1, min(max_rows, max_tokens // (longest + max_new_tokens)))
    return 1 << (rows.bit_length() - 1) if powers_of_two else rows


def auto_batch_tokens(loaded: LoadedModel, longest: int, max_new_tokens: int) -> int | None:
    """The token budget that fits ``MEMORY_SHARE`` of the GPU's free memory; None (no budget) on CPU."""
    import torch

    if not str(loaded.device).startswith("cuda"):
        return None
    free, _ = torch.cuda.mem_get_info(torch.device(loaded.device))
    rows = int(free * MEMORY_SHARE) // row_bytes(loaded, longest, max_new_tokens)
    return max(1, rows) * (longest + max_new_tokens)


def generate(
    loaded: LoadedModel,
    prompts: list[str],
    batch_size: int = MAX_BATCH_ROWS,
    max_new_tokens: int = MAX_NEW_TOKENS,
    max_source_length: int | None = 1024,
    truncation_side: TruncationSide | None = None,
    max_batch_tokens: int | None = None,
) -> tuple[list[str], int]:
    """Greedy predictions in the order of ``prompts``, and how many prompts were truncated.

    Args:
        batch_size: the most prompts in one batch.
        max_batch_tokens: the most rows x (longest prompt + ``max_new_tokens``) in one batch; None:
            what fits the GPU's free memory (see :func:`row_bytes`), no limit on CPU. A batch that
            runs out of GPU memory is halved (with the budget) and retried.
    """
    import torch
    from tqdm.auto import tqdm

    side = truncation_side or ("right" if loaded.is_encoder_decoder else "left")
    ids, truncated = encode_prompts(loaded.tokenizer, prompts, max_source_length, side)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    predictions: list[str] = [""] * len(ids)
    static = _is_static(loaded)
    multiple = COMPILE_LENGTH_MULTIPLE if static else 1
    budget = max_batch_tokens
    if budget is None and order:
        budget = auto_batch_tokens(loaded, _round_up(len(ids[order[0]]), multiple), max_new_tokens)
    unfinished = pos = 0
    progress = tqdm(total=len(ids), desc="generating", unit="prompt")
    while pos < len(order):
        longest = _round_up(len(ids[order[pos]]), multiple)
        chunk = order[pos : pos + rows_per_batch(longest, batch_size, budget, max_new_tokens, static)]
        try:
            texts, open_ended = _generate_batch(loaded, [ids[i] for i in chunk], max_new_tokens, multiple)
        except torch.cuda.OutOfMemoryError:
            if len(chunk) == 1:
                raise RecipeError(f"one prompt of {longest} tokens + {max_new_tokens} new tokens does not fit in GPU memory; "
                                  "pass a smaller `--max_source_length` or a smaller `--dtype`") from None
            torch.cuda.empty_cache()
            budget = len(chunk) // 2 * (longest + max_new_tokens)
            logger.warning("%d prompts of up to %d tokens ran out of GPU memory: batches now hold at most %d tokens",
                           len(chunk), longest, budget)
            continue
        for i, text in zip(chunk, texts):
            predictions[i] = text
        unfinished += open_ended
        pos += len(chunk)
        progress.update(len(chunk))
    progress.close()
    if unfinished:
        logger.warning("%d of %d predictions reached max_new_tokens=%d without an EOS token (an untrained model, or a "
                       "model that never learned to stop)", unfinished, len(ids), max_new_tokens)
    return predictions, truncated


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _generate_batch(loaded: LoadedModel, rows: list[list[int]], max_new_tokens: int, multiple: int) -> tuple[list[str], int]:
    """One batch: the decoded predictions of ``rows`` and how many ended without an EOS token."""
    import torch

    tok = loaded.tokenizer
    padding_side = "right" if loaded.is_encoder_decoder else "left"  # a causal LM continues from the last token
    batch = tok.pad({"input_ids": rows}, padding_side=padding_side, return_tensors="pt",
                    pad_to_multiple_of=multiple if multiple > 1 else None)
    batch = {k: v.to(loaded.device) for k, v in batch.items()}
    eos = eos_token_ids(loaded)
    with torch.inference_mode():
        out = loaded.model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
            pad_token_id=tok.pad_token_id, eos_token_id=eos,
        )
    if not loaded.is_encoder_decoder:
        out = out[:, batch["input_ids"].shape[1] :]
    open_ended = int((~torch.isin(out, torch.tensor(eos, device=out.device)).any(dim=1)).sum())
    return [text.strip() for text in tok.batch_decode(out, skip_special_tokens=True)], open_ended


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
    the HF backend encodes them, and handed to vLLM as token ids. vLLM schedules its own batches
    (continuous batching); the dtype is passed explicitly (``auto`` -> bfloat16), never vLLM's ``auto``.
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
    llm = LLM(model=target.model, dtype=resolve_dtype(dtype, "cuda"), max_model_len=max_model_len, seed=0, **lora)
    params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, skip_special_tokens=True)
    request = LoRARequest("stepinst-adapter", 1, target.adapter) if target.adapter else None
    outputs = llm.generate([{"prompt_token_ids": x} for x in ids], params, lora_request=request)
    return [o.outputs[0].text.strip() for o in outputs], truncated


def predict(model_path: str, prompts: list[str], backend: str = "hf", *, batch_size: int = MAX_BATCH_ROWS,
            max_new_tokens: int = MAX_NEW_TOKENS, max_source_length: int | None = 1024,
            truncation_side: TruncationSide | None = None, dtype: str = "auto",
            device: str | None = None, max_batch_tokens: int | None = None,
            compile: bool = False) -> tuple[list[str], int, str]:
    """Greedy predictions with the requested backend; returns them, the truncated count and the backend used.

    Encoder-decoder models always use transformers' generate: vLLM does not serve T5. ``compile``
    (hf) decodes with a static cache that transformers compiles on a GPU (:func:`use_static_cache`).
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
    if compile:
        use_static_cache(loaded)
    predictions, truncated = generate(loaded, prompts, batch_size, max_new_tokens, max_source_length, truncation_side,
                                      max_batch_tokens)
    return predictions, truncated, backend
