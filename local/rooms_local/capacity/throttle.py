"""AWS's per-partition throughput limits: 1,000 WCU/s and 3,000 RCU/s on every partition key of a table
and of each of its GSIs ("Best practices for designing and using partition keys effectively": a single
partition serves at most 3,000 RCU or 1,000 WCU per second; "Troubleshooting throttling": the limits hold
in on-demand and provisioned modes alike, and a GSI partition that cannot absorb a write throttles the
table write that would update it).

`scale` multiplies the limits so a local run slower than AWS throttles at the same point of its own pace
(0.05: 50 WCU/s per key). Each (table or index, key, reads or writes) has a token bucket refilled at the
limit and holding `burst_seconds` of it. AWS documents a 300-second burst reserve for provisioned tables
as a whole, not for a partition, and nothing for on-demand partitions (they split for heat instead,
which does not help one hot item): the modest one-second bucket is this meter's choice. A request is
admitted while every key it touches has units left, and takes what it uses, possibly into debt
(a request is never refused only for being larger than the bucket); a key in debt refuses until refilled.
Split for heat is not modelled: a hot key stays one partition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .accounting import Cost

KEY_WCU_PER_S = 1000.0
KEY_RCU_PER_S = 3000.0
DEFAULT_BURST_SECONDS = 1.0

BucketKey = tuple[str, str | None, str, str]  # table, index, partition key, "Write" | "Read"


@dataclass(frozen=True)
class Refusal:
    """The key that had nothing left: what the throttling answer names."""

    table: str
    index: str | None
    partition_key: str
    kind: str  # "Write" or "Read"


def _buckets_of(costs: Iterable[Cost]) -> dict[BucketKey, float]:
    units: dict[BucketKey, float] = {}
    for cost in costs:
        for kind, amount in (("Write", cost.wcu), ("Read", cost.rcu)):
            if amount:
                key = (cost.table, cost.index, cost.partition_key, kind)
                units[key] = units.get(key, 0.0) + amount
    return units


class Throttle:
    def __init__(
        self,
        scale: float = 1.0,
        *,
        burst_seconds: float = DEFAULT_BURST_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        if scale <= 0 or burst_seconds <= 0:
            raise ValueError("throughput scale and burst must be > 0")
        self.scale = scale
        self.rates = {"Write": KEY_WCU_PER_S * scale, "Read": KEY_RCU_PER_S * scale}
        self.burst_seconds = burst_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[BucketKey, list[float]] = {}  # key -> [units left, when last refilled]

    def admit(self, predicted: Iterable[Cost]) -> Refusal | None:
        """Admit a request that should use `predicted` (taking those units), or name a key that refuses it."""
        wanted = _buckets_of(predicted)
        with self._lock:
            now = self._clock()
            for key in wanted:
                if self._refilled(key, now) <= 0:
                    return Refusal(*key)
            for key, units in wanted.items():
                self._buckets[key][0] -= units
        return None

    def settle(self, predicted: Iterable[Cost], actual: Iterable[Cost]) -> None:
        """An admitted request used `actual`, not `predicted`: take (or give back) the difference."""
        difference = _buckets_of(actual)
        for key, units in _buckets_of(predicted).items():
            difference[key] = difference.get(key, 0.0) - units
        with self._lock:
            now = self._clock()
            for key, units in difference.items():
                if units:
                    self._refilled(key, now)
                    self._buckets[key][0] -= units

    def _refilled(self, key: BucketKey, now: float) -> float:
        rate = self.rates[key[3]]
        capacity = rate * self.burst_seconds
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [capacity, now]
        else:
            bucket[0] = min(capacity, bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
        return bucket[0]
