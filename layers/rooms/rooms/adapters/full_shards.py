"""What one API instance has learnt about which write shards of a room are full, for a short while.

A join into a full room must not cost the room a write: at 10,000 joins/s into a full room, each failed
transaction is billed on the shard it tried. A shard whose admission failed on its capacity is taken
for full for `memory_seconds`; joins try the others first and, once every shard is known full, go
straight to the overflow queue. The cost is that a seat freed meanwhile is offered to new joins up to
that long late (the overflow path and promotions seat people in the meantime). Only rooms with more than
one shard are remembered: a small room is never hot, and its freed seat goes to the very next join.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable


class FullShards:
    def __init__(self, memory_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._memory = memory_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, dict[int, float]] = {}  # room id -> shard -> when it is tried again

    def open_shards(self, room_id: str, shards: int) -> list[int]:
        """The shards of a room not known full, in a random order (each join spreads over the shards)."""
        if shards <= 1:
            return [0]
        now = self._clock()
        with self._lock:
            known = self._until.get(room_id, {})
            candidates = [shard for shard in range(shards) if known.get(shard, 0.0) <= now]
        random.shuffle(candidates)
        return candidates

    def mark_full(self, room_id: str, shard: int, shards: int) -> None:
        if shards <= 1 or self._memory <= 0:
            return
        with self._lock:
            known = self._until.setdefault(room_id, {})
            known[shard] = self._clock() + self._memory
            if len(self._until) > 1000:  # an instance serves few hot rooms at a time: forget the stale ones
                now = self._clock()
                for stale in [room for room, marks in self._until.items() if max(marks.values()) <= now]:
                    del self._until[stale]

    def forget(self, room_id: str) -> None:
        """This instance freed a seat of the room: try all its shards again."""
        with self._lock:
            self._until.pop(room_id, None)
