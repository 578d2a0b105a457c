"""When to retry a request and how long to wait: exponential backoff with full jitter, Retry-After first.

Full jitter (a uniform draw in [0, base * 2**n]) spreads a herd of clients that failed together,
which is exactly the celebrity-storm case; a server's Retry-After is a floor on top of it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

# Every call is safe to repeat (creates carry an Idempotency-Key), so any of these is retried.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

Jitter = Callable[[float], float]


def full_jitter(ceiling: float) -> float:
    return random.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_after_of(reply: httpx.Response | Exception) -> float | None:
    return parse_retry_after(reply.headers.get("Retry-After")) if isinstance(reply, httpx.Response) else None


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; ``max_attempts=1`` turns retries off."""

    max_attempts: int = 6
    base_delay: float = 0.1
    max_delay: float = 8.0
    max_retry_after: float = 60.0  # never sleep longer than this on a server's say-so
    jitter: Jitter = field(default=full_jitter, compare=False, repr=False)

    def should_retry(self, reply: httpx.Response | Exception, attempt: int) -> bool:
        if attempt >= self.max_attempts:
            return False
        if isinstance(reply, httpx.Response):
            return reply.status_code in RETRYABLE_STATUSES
        return isinstance(reply, httpx.TransportError)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        backoff = self.jitter(ceiling)
        if retry_after is None:
            return backoff
        return max(backoff, min(retry_after, self.max_retry_after))


NO_RETRY = RetryPolicy(max_attempts=1)
