"""A client-side limiter for requests and tokens per minute.

The server's limits are the real ones; staying under them on our side turns a flood of 429s
(each a wasted round trip and a backoff) into a steady pace. Two token buckets, refilled
continuously, start nearly empty so a run does not open with a burst the server would reject;
callers are served in arrival order.
"""

from __future__ import annotations

import asyncio
import time


class _Bucket:
    def __init__(self, per_minute: float, burst_seconds: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_seconds)
        self.level = min(1.0, self.capacity)
        self.stamp = time.monotonic()

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` can be taken (0 = take it now). A request larger than the
        bucket waits for a full bucket and leaves it in debt, so it is slowed, not refused."""
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(amount, self.capacity)
        if self.level >= need:
            self.level -= amount
            return 0.0
        return (need - self.level) / self.rate


class RateLimiter:
    """``await limiter.acquire(tokens)`` before each request; ``None`` limits are off.

    Args:
        rpm: requests per minute.
        tpm: tokens per minute (prompt + max completion tokens, as OpenAI counts them).
        burst_seconds: how many seconds' worth of quota may go out at once.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None, burst_seconds: float = 1.0):
        self.rpm, self.tpm = rpm, tpm
        self._requests = _Bucket(rpm, burst_seconds) if rpm else None
        self._tokens = _Bucket(tpm, burst_seconds) if tpm else None
        self._lock = asyncio.Lock()

    async def acquire(self, tokens: int = 0) -> None:
        async with self._lock:  # FIFO: one waiter at a time takes from the buckets
            while True:
                wait = 0.0
                if self._requests:
                    wait = self._requests.wait_for(1)
                if wait == 0.0 and self._tokens:
                    wait = self._tokens.wait_for(tokens)
                    if wait and self._requests:
                        self._requests.level += 1  # give the request slot back
                if wait == 0.0:
                    return
                await asyncio.sleep(wait)
