"""Evaluation batching: token-budget batches give the old fixed-16 batches' greedy predictions, in input order."""

from __future__ import annotations

import logging
import random
import sys
import types

import pytest

from recipes_helpers import tiny_causal_lm, tiny_t5, train_tokenizer
from stepinst_data.evaluation import predict as p
from stepinst_data.evaluation.training import RecipeError

WORDS = "define the task then follow each step and answer with one word about the input sentence below".split()


def _prompts(n: int = 40, seed: int = 0) -> list[str]:
    """Prompts of 3 to 60 words in a shuffled order (so length order and input order differ)."""
    rng = random.Random(seed)
    return [f"Definition: {' '.join(rng.choices(WORDS, k=rng.randint(3, 60)))}" for _ in range(n)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    texts = _prompts(200, seed=1)
    causal = tiny_causal_lm(train_tokenizer(texts, root / "tok", vocab_size=300), root / "llama")
    t5 = tiny_t5(train_tokenizer(texts, root / "tok-t5", seq2seq=True, vocab_size=300), root / "t5")
    return {"causal": causal, "t5": t5}


@pytest.mark.parametrize("kind", ["causal", "t5"])
def test_token_budget_batches_give_the_fixed_16_predictions_in_input_order(models, kind):
    loaded = p.load_model(str(models[kind]), "cpu")
    prompts = _prompts()
    old, truncated = p.generate(loaded, prompts, batch_size=16, max_new_tokens=12, max_batch_tokens=None)
    sizes = []
    original = loaded.model.generate
    loaded.model.generate = lambda **batch: sizes.append(batch["input_ids"].shape[0]) or original(**batch)
    new, _ = p.generate(loaded, prompts, batch_size=512, max_new_tokens=12, max_batch_tokens=400)
    loaded.model.generate = original
    assert new == old and truncated == 0
    assert len(set(sizes)) > 2 and sum(sizes) == len(prompts)  # batches grow as the prompts get shorter
    alone = [p.generate(loaded, [prompt], batch_size=1, max_new_tokens=12)[0][0] for prompt in prompts[:6]]
    assert new[:6] == alone  # each prediction belongs to its own prompt: the input order is kept
    assert len(set(new)) > 1  # random weights, distinct prompts: not all the same text


@pytest.mark.parametrize("kind", ["causal", "t5"])
def test_static_cache_decodes_the_same_tokens(models, kind):
    loaded = p.load_model(str(models[kind]), "cpu")
    prompts = _prompts(12)
    dynamic, _ = p.generate(loaded, prompts, max_new_tokens=8, max_batch_tokens=300)
    p.use_static_cache(loaded)
    assert p._is_static(loaded)
    static, _ = p.generate(loaded, prompts, max_new_tokens=8, max_batch_tokens=300)
    assert static == dynamic


def test_rows_per_batch_follows_the_budget_and_the_cap():
    assert p.rows_per_batch(100, 512, None, 28, False) == 512
    assert p.rows_per_batch(100, 512, 1280, 28, False) == 10
    assert p.rows_per_batch(100, 512, 1280, 28, True) == 8  # static caches: powers of two, few shapes
    assert p.rows_per_batch(2000, 512, 1280, 28, False) == 1  # one long prompt always runs
    assert p.rows_per_batch(4, 6, 10_000, 28, False) == 6


def test_a_batch_that_runs_out_of_memory_is_halved_and_the_predictions_stay(models, monkeypatch, caplog):
    import torch

    loaded = p.load_model(str(models["causal"]), "cpu")
    prompts = _prompts(20)
    expected, _ = p.generate(loaded, prompts, batch_size=16, max_new_tokens=6)
    real = p._generate_batch

    def small_memory(loaded, rows, *rest):
        if len(rows) > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return real(loaded, rows, *rest)

    monkeypatch.setattr(p, "_generate_batch", small_memory)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    with caplog.at_level(logging.WARNING, logger=p.__name__):
        got, _ = p.generate(loaded, prompts, batch_size=16, max_new_tokens=6)
    assert got == expected and "ran out of GPU memory" in caplog.text


def test_one_prompt_that_does_not_fit_names_the_flags(models, monkeypatch):
    import torch

    loaded = p.load_model(str(models["causal"]), "cpu")

    def no_memory(*_):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")

    monkeypatch.setattr(p, "_generate_batch", no_memory)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    with pytest.raises(RecipeError, match=r"does not fit in GPU memory; pass a smaller `--max_source_length`"):
        p.generate(loaded, _prompts(3), max_new_tokens=6)


def test_dtype_is_explicit_bf16_on_a_gpu_fp32_on_cpu(models):
    assert p.resolve_dtype("auto", "cpu") == "float32" and p.resolve_dtype("auto", "cuda:0") == "bfloat16"
    assert p.resolve_dtype("float16", "cuda") == "float16"
    with pytest.raises(RecipeError, match=r"`--dtype fp8` is not one of auto, bfloat16, float16, float32"):
        p.resolve_dtype("fp8", "cpu")
    import torch

    loaded = p.load_model(str(models["causal"]), "cpu", "auto")
    assert loaded.model.dtype == torch.float32
    assert p.load_model(str(models["causal"]), "cpu", "bfloat16").model.dtype == torch.bfloat16


def test_row_bytes_grow_with_the_prompt_and_count_t5_attention_scores(models):
    causal = p.load_model(str(models["causal"]), "cpu")
    t5 = p.load_model(str(models["t5"]), "cpu")
    assert p.row_bytes(causal, 200, 128) > p.row_bytes(causal, 100, 128) > 0
    # T5's eager attention keeps fp32 scores of heads x L x L: the row cost grows faster than linearly
    assert p.row_bytes(t5, 800, 128) - p.row_bytes(t5, 400, 128) > 2 * (p.row_bytes(t5, 400, 128) - p.row_bytes(t5, 200, 128))
    assert p.auto_batch_tokens(causal, 100, 128) is None  # CPU: no memory budget, the row cap decides


def test_vllm_gets_an_explicit_dtype_never_its_auto(models, monkeypatch):
    seen = {}

    class LLM:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def generate(self, requests, params, lora_request=None):
            out = types.SimpleNamespace(text=" x ")
            return [types.SimpleNamespace(outputs=[out]) for _ in requests]

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, lambda **kw: kw
    lora = types.ModuleType("vllm.lora.request")
    lora.LoRARequest = object
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora)
    predictions, truncated, backend = p.predict(str(models["causal"]), _prompts(3), "vllm")
    assert (predictions, truncated, backend) == (["x", "x", "x"], 0, "vllm")
    assert seen["dtype"] == "bfloat16" and seen["model"] == str(models["causal"])
