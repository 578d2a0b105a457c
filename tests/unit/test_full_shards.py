"""An instance's memory of a room's full write shards: joins skip shards seen full, a room seen wholly
full costs one probe a memory period, and a seat freed here (or found by a probe) reopens it."""

from __future__ import annotations

from rooms.adapters.full_shards import PROBE_SHARDS, FullShards


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_room_of_one_shard_is_never_remembered() -> None:
    full = FullShards(1.0, Clock())
    full.mark_full("small", 0, 1)
    assert full.open_shards("small", 1) == [0]


def test_shards_seen_full_are_skipped_until_the_memory_runs_out() -> None:
    clock = Clock()
    full = FullShards(1.0, clock)
    assert sorted(full.open_shards("r", 4)) == [0, 1, 2, 3]
    full.mark_full("r", 2, 4)
    assert sorted(full.open_shards("r", 4)) == [0, 1, 3]
    clock.now += 1.0
    assert sorted(full.open_shards("r", 4)) == [0, 1, 2, 3]


def test_a_room_seen_wholly_full_is_skipped_then_probed_on_a_few_shards() -> None:
    clock = Clock()
    full = FullShards(1.0, clock)
    for shard in range(8):
        full.mark_full("r", shard, 8)
    assert full.open_shards("r", 8) == []  # straight to the overflow queue
    clock.now += 1.0
    probe = full.open_shards("r", 8)
    assert len(probe) == PROBE_SHARDS and len(set(probe)) == PROBE_SHARDS
    full.mark_full("r", probe[0], 8)  # the probe found it full still: full for another period
    assert full.open_shards("r", 8) == []
    clock.now += 1.0
    full.seated("r")  # a probe got a seat: every shard is tried again
    assert sorted(full.open_shards("r", 8)) == list(range(8))


def test_a_seat_freed_here_reopens_every_shard_at_once() -> None:
    full = FullShards(1.0, Clock())
    for shard in range(4):
        full.mark_full("r", shard, 4)
    full.forget("r")
    assert sorted(full.open_shards("r", 4)) == [0, 1, 2, 3]


def test_no_memory_means_every_shard_is_always_tried() -> None:
    full = FullShards(0.0, Clock())
    for shard in range(4):
        full.mark_full("r", shard, 4)
    assert sorted(full.open_shards("r", 4)) == [0, 1, 2, 3]


def test_a_join_that_found_every_shard_full_makes_the_room_full_however_slow_it_was() -> None:
    clock = Clock()
    full = FullShards(1.0, clock)
    for shard in range(40):  # one join trying 40 shards, each failure taking a tenth of a second
        full.mark_full("r", shard, 40)
        clock.now += 0.1
    assert full.open_shards("r", 40) != []  # the first marks ran out meanwhile
    full.mark_room_full("r", 40)
    assert full.open_shards("r", 40) == []
