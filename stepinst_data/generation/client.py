"""The OpenAI client shared by generation, the Batch API path and the judge.

One place decides: where the key comes from (``OPENAI_API_KEY`` only, never written anywhere),
which server we talk to (``--base-url`` or ``OPENAI_BASE_URL``: any OpenAI-compatible server),
and how transient failures are retried: 429, 5xx, timeouts and connection errors, with
exponential backoff and jitter, honouring ``Retry-After``, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from .limiter import RateLimiter

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class GenerationError(ValueError):
    """A run that cannot start or go on (no key, unreachable server, rejected key)."""


@dataclass
class ClientConfig:
    """How to reach the model and how hard to try.

    Args:
        model: the model name sent to the server.
        base_url: an OpenAI-compatible ``/v1`` URL; None = ``OPENAI_BASE_URL`` or OpenAI.
        timeout: seconds for one request before it counts as timed out (and is retried).
        max_retries: transport retries per request (429/5xx/timeout/connection).
        backoff_base / backoff_max: exponential backoff, seconds.
        temperature / max_tokens: decoding parameters sent with every request.
    """

    model: str
    base_url: str | None = None
    timeout: float = 60.0
    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    temperature: float = 0.0
    max_tokens: int = 800

    def resolved_base_url(self) -> str:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL


def api_key() -> str:
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        raise GenerationError(
            "OPENAI_API_KEY is not set: export it (for a local OpenAI-compatible server any "
            "non-empty value works, e.g. OPENAI_API_KEY=local). No request was sent."
        )
    return key


def check_reachable(base_url: str, timeout: float = 5.0) -> None:
    """Fail fast, naming the URL, when nothing listens there (instead of retrying for minutes)."""
    parsed = urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise GenerationError(f"--base-url {base_url}: not an http(s) URL (e.g. http://127.0.0.1:8000/v1)")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError as e:
        raise GenerationError(
            f"cannot reach the model server at {base_url} ({e}); check --base-url / OPENAI_BASE_URL "
            "and that the server is running."
        ) from None


def _quiet_http_logs() -> None:
    """httpx logs every request at INFO; a run of 875 tasks would drown the report."""
    for name in ("httpx", "httpx2"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)


def _client_args(config: ClientConfig, check: bool) -> dict[str, Any]:
    """Key, base URL (checked reachable first, so a typo fails at once) and timeout of a client."""
    _quiet_http_logs()
    key = api_key()
    base_url = config.resolved_base_url()
    if check:
        check_reachable(base_url)
    return {"api_key": key, "base_url": base_url, "timeout": config.timeout}


def make_async_client(config: ClientConfig, check: bool = True) -> Any:
    """An ``AsyncOpenAI`` with its own retries off: :func:`chat` retries, honouring Retry-After."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(**_client_args(config, check), max_retries=0)


def make_sync_client(config: ClientConfig, check: bool = True) -> Any:
    """An ``OpenAI`` client for the Batch API calls, retried by the client itself."""
    from openai import OpenAI

    return OpenAI(**_client_args(config, check), max_retries=config.max_retries)


def retry_after_seconds(error: Exception) -> float | None:
    """The server's ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms``, if any."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000.0
        value = headers.get("retry-after")
        if value:
            try:
                return float(value)
            except ValueError:
                from email.utils import parsedate_to_datetime
                from datetime import datetime, timezone

                return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None
    return None


def is_retryable(error: Exception) -> bool:
    import openai

    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError)):
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code >= 500 or error.status_code in (408, 409)
    return False


def backoff_delay(attempt: int, config: ClientConfig, error: Exception) -> float:
    """Retry-After when the server gives one, else base * 2^attempt with full jitter."""
    server = retry_after_seconds(error)
    if server is not None:
        return min(server, config.backoff_max) + random.uniform(0, 0.1)
    ceiling = min(config.backoff_max, config.backoff_base * (2**attempt))
    return random.uniform(ceiling / 2, ceiling)


async def chat(
    client: Any,
    config: ClientConfig,
    limiter: RateLimiter,
    messages: list[dict[str, str]],
    estimated_tokens: int,
    on_request: Callable[[bool], None] | None = None,
) -> Any:
    """One chat completion, paced by ``limiter``, retried on transient errors; raises the last one.

    ``on_request(answered)`` is called once per request sent, answered or not: a request that
    timed out or got a 5xx may still be billed, so the run's accounting counts it.
    """
    import openai

    sent = on_request or (lambda answered: None)
    for attempt in range(config.max_retries + 1):
        await limiter.acquire(estimated_tokens + config.max_tokens)
        try:
            response = await client.chat.completions.create(
                model=config.model,
                messages=messages,
                temperature=config.temperature,
                max_tokens=config.max_tokens,
            )
        except openai.AuthenticationError as e:
            sent(False)
            raise GenerationError(
                f"the server at {config.resolved_base_url()} rejected the API key (401): check OPENAI_API_KEY"
            ) from e
        except Exception as e:
            sent(False)
            if not is_retryable(e) or attempt == config.max_retries:
                raise
            delay = backoff_delay(attempt, config, e)
            logger.debug("%s; retry %d/%d in %.1fs", type(e).__name__, attempt + 1, config.max_retries, delay)
            await asyncio.sleep(delay)
            continue
        sent(True)
        return response
    raise AssertionError("unreachable")
