"""The local Scheduler's clock: the real time, optionally running faster, and able to jump ahead.

Only the Scheduler reads it. The functions keep the real wall clock, so with a fast clock a schedule
fires early in real time while its payload's scheduled time is the (virtual) time it was due.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SchedulerClock:
    """Starts at the real now; runs `speed` times faster than real time (0 freezes it); `advance()` jumps."""

    def __init__(self, speed: float = 1.0, *, start: datetime | None = None):
        if speed < 0:
            raise ValueError("the clock speed must be >= 0 (0 freezes it; advance it by hand)")
        self.speed = float(speed)
        self._real_origin = time.time()
        self._origin = start.timestamp() if start else self._real_origin
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.virtual_at(time.time()), UTC)

    def virtual_at(self, real_epoch: float) -> float:
        """The virtual time (epoch seconds) this clock shows at the real instant `real_epoch`; before
        the clock started, time ran at real speed."""
        with self._lock:
            offset = self._offset
        elapsed = real_epoch - self._real_origin
        return self._origin + (elapsed * self.speed if elapsed > 0 else elapsed) + offset

    def to_virtual(self, real: datetime) -> datetime:
        """A real instant (a schedule's creation, say) on this clock's scale."""
        return datetime.fromtimestamp(self.virtual_at(real.timestamp()), UTC)

    def advance(self, seconds: float) -> datetime:
        """Jump `seconds` ahead (time never goes back); returns the new now."""
        if seconds < 0:
            raise ValueError("the scheduler clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()
