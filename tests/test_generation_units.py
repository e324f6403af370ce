"""Parser, prompt versions, tiktoken offline seeding and the price table."""

from __future__ import annotations

import hashlib
import json

import pytest

from stepinst_data.generation import tokens
from stepinst_data.generation.parse import StepsParseError, parse_steps
from stepinst_data.generation.prompt import build_messages, prompt_version
from stepinst_data.source.natinst import Example, Task

DEFINITION = "Given a sentence, find the main verb and write it in its base form."


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1. Read the sentence.\n2. Find the verb.\n3. Write it.", ["Read the sentence.", "Find the verb.", "Write it."]),
        ("1) Read it.\n2) Write it.", ["Read it.", "Write it."]),
        ("Step 1: Read it.\nStep 2: Write it.", ["Read it.", "Write it."]),
        ("**Step 1:** Read it.\n**Step 2:** Write it.", ["Read it.", "Write it."]),
        ("- Read it.\n* Write it.\n• Check it.", ["Read it.", "Write it.", "Check it."]),
        (
            "Here are the steps:\n1. Read the sentence.\n   - look at every word\n   a) skip articles\n"
            "2. Find the verb\n   and its tense.\n\nThese steps solve the task.",
            ["Read the sentence. look at every word a) skip articles", "Find the verb and its tense."],
        ),
    ],
)
def test_parse_accepts_step_lists(text, expected):
    assert parse_steps(text, DEFINITION) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("I'm sorry, but I can't help with that.", "refusal"),
        ("Read the sentence and then write the verb in its base form.", "paragraph"),
        ("1. Solve the task.", "single step"),
        ("1. Given a sentence, find the main verb\n2. and write it in its base form.", "repeat the task definition"),
    ],
)
def test_parse_rejects_non_steps(text, reason):
    with pytest.raises(StepsParseError, match=reason):
        parse_steps(text, DEFINITION)


def _task(definition=DEFINITION):
    ex = Example("They ran.", "run", "")
    return Task("task1_x", "train", definition, ["C"], [ex, ex, ex], [], [], 0)


def test_prompt_version_and_examples():
    assert prompt_version(False) == "steps-v1" and prompt_version(True) == "steps-v1+pos"
    plain = build_messages(_task())[1]["content"]
    with_examples = build_messages(_task(), with_examples=True)[1]["content"]
    assert DEFINITION in plain and "Example" not in plain
    assert with_examples.count("Input: They ran.") == 2  # at most 2 positive examples


def test_tiktoken_seeded_offline(tmp_path, monkeypatch):
    """With the network unreachable, tiktoken loads o200k_base/cl100k_base from the seeded cache."""
    import requests

    def no_network(*args, **kwargs):
        raise requests.ConnectionError("network unreachable (test)")

    monkeypatch.setattr(requests, "get", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tk"))
    tokens.get_encoding.cache_clear()
    cache = tokens.ensure_tiktoken_cache()
    for name, (url, sha) in tokens.BLOB_URLS.items():
        blob = cache / hashlib.sha1(url.encode()).hexdigest()
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
    enc = tokens.get_encoding("o200k_base")
    assert enc.encode("hello world") == [24912, 2375]
    assert tokens.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    with pytest.raises(tokens.TokenizerError, match="r50k_base"):
        tokens.get_encoding("r50k_base")  # not shipped, and the download fails: an error, not a guess
    tokens.get_encoding.cache_clear()


def test_unknown_model_encoding_is_announced():
    assert tokens.encoding_name_for("gpt-4o-mini") == ("o200k_base", None)
    name, note = tokens.encoding_name_for("llama-3.1-8b-instruct")
    assert name == "o200k_base" and "llama-3.1-8b-instruct" in note and "--encoding" in note
    assert tokens.encoding_name_for("llama", "cl100k_base") == ("cl100k_base", None)


def test_count_message_tokens_follows_openai_accounting():
    enc = tokens.get_encoding("o200k_base")
    messages = [{"role": "user", "content": "hello world"}]
    assert tokens.count_message_tokens(messages, enc) == 3 + 3 + 1 + 2


def test_price_table_overrides_and_batch(tmp_path):
    price = tokens.resolve_price("gpt-4o-mini-2024-07-18")
    assert (price.input, price.output) == tokens.PRICES["gpt-4o-mini"] and tokens.PRICES_DATE in price.source
    assert price.cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    assert price.cost(1_000_000, 1_000_000, batch=True) == pytest.approx(0.375)
    assert tokens.resolve_price("my-local-model") is None
    assert tokens.resolve_price("my-local-model", 1.0, 2.0).cost(1_000_000, 0) == 1.0
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"my-local-model": {"input": 0.5, "output": 0.25}}))
    assert tokens.resolve_price("my-local-model", price_file=prices).output == 0.25
    prices.write_text(json.dumps({"bad": {"input": 1}}))
    with pytest.raises(ValueError, match="'bad' needs 'input' and 'output'"):
        tokens.resolve_price("bad", price_file=prices)


def test_run_coroutine_works_inside_a_running_event_loop():
    """Jupyter runs an event loop: `stepinst steps generate` called from a notebook must still work."""
    import asyncio

    from stepinst_data.generation.runner import run_coroutine

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def inside_a_loop() -> int:
        return run_coroutine(answer())

    assert run_coroutine(answer()) == 42
    assert asyncio.run(inside_a_loop()) == 42
