"""What one API instance has learnt about which write shards of a room are full, for a short while. A join
into a full room must not cost the room a write: at 10,000 joins/s into a full room, each failed
transaction is billed on the shard it tried. A shard whose admission failed on its capacity is taken for
full for `memory_seconds`, and joins try the others. Once a join has found every shard it could try
full, the room is taken for full (however long that join took: on a slow machine the first marks may
have run out meanwhile): joins go straight to the overflow queue, and when the memory runs out one join
probes a couple of shards (not all of them) before the room is taken for full again, so a full room
costs an instance about one failed transaction a second. The price is that a seat freed in a full room
is offered to new joins late (the overflow path and promotions seat people meanwhile); a seat this
instance frees makes it try every shard again at once. Only rooms with more than one shard are
remembered: a small room is never hot, and its freed seat goes to the very next join.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

PROBE_SHARDS = 2  # shards a join tries in a room taken for full, when the memory of it runs out
_MAX_ROOMS = 1000  # an instance serves few hot rooms at a time: past this, the stale ones are forgotten


class FullShards:
    def __init__(self, memory_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._memory = memory_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._shards: dict[str, dict[int, float]] = {}  # room id -> shard -> until when it is taken for full
        self._rooms: dict[str, float] = {}  # room id -> until when the whole room is taken for full

    def open_shards(self, room_id: str, shards: int) -> list[int]:
        """The shards a join should try, in a random order: none while the room is taken for full."""
        if shards <= 1:
            return [0]
        now = self._clock()
        with self._lock:
            room_until = self._rooms.get(room_id)
            if room_until is not None:
                return [] if room_until > now else random.sample(range(shards), min(PROBE_SHARDS, shards))
            known = self._shards.get(room_id, {})
            candidates = [shard for shard in range(shards) if known.get(shard, 0.0) <= now]
        random.shuffle(candidates)
        return candidates

    def mark_full(self, room_id: str, shard: int, shards: int) -> None:
        """An admission through `shard` failed on its capacity."""
        if shards <= 1 or self._memory <= 0:
            return
        now = self._clock()
        with self._lock:
            until = now + self._memory
            if room_id in self._rooms:  # a probe of a room taken for full found it full still
                self._rooms[room_id] = until
                return
            known = self._shards.setdefault(room_id, {})
            known[shard] = until
            if len(known) == shards and all(mark > now for mark in known.values()):
                self._rooms[room_id] = until
                del self._shards[room_id]
            if len(self._shards) + len(self._rooms) > _MAX_ROOMS:
                self._forget_stale(now)

    def mark_room_full(self, room_id: str, shards: int) -> None:
        """A join found every shard it could try full (the others were seen full within the memory)."""
        if shards <= 1 or self._memory <= 0:
            return
        with self._lock:
            self._rooms[room_id] = self._clock() + self._memory
            self._shards.pop(room_id, None)

    def seated(self, room_id: str) -> None:
        """A join got a seat: if it was a probe, the room is not full any more."""
        if room_id in self._rooms:
            with self._lock:
                self._rooms.pop(room_id, None)

    def forget(self, room_id: str) -> None:
        """A seat of the room was freed here: try all its shards again."""
        with self._lock:
            self._shards.pop(room_id, None)
            self._rooms.pop(room_id, None)

    def _forget_stale(self, now: float) -> None:
        for room in [room for room, marks in self._shards.items() if max(marks.values()) <= now]:
            del self._shards[room]
        for room in [room for room, until in self._rooms.items() if until <= now]:
            del self._rooms[room]
