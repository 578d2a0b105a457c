"""A token bucket: API Gateway's throttling of a route at a steady rate with a burst above it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """Admits `burst` requests at once and `rate` a second after that; `take()` is False when throttled."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._filled_at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._filled_at) * self.rate)
            self._filled_at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True
