"""The pure domain: identities, capacity arithmetic and overflow planning. No AWS, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rooms.domain.model import (
    Family,
    Room,
    RoomStatus,
    family_of,
    main_room,
    parallel_room,
    parallel_room_id,
    ticket_id_for,
)
from rooms.domain.overflow import (
    MAX_SEATS_PER_TRANSACTION,
    parallel_rooms_needed,
    room_to_fill,
    take_for_room,
)

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def room(index: int, occupancy: int, capacity: int = 10, status: RoomStatus = RoomStatus.OPEN) -> Room:
    return Room(
        room_id=parallel_room_id("r_main", index),
        family_id="r_main",
        index=index,
        host_id="host",
        title="t",
        capacity=capacity,
        occupancy=occupancy,
        status=status,
        created_at=NOW,
    )


def test_parallel_room_identity_is_deterministic_and_reversible() -> None:
    assert parallel_room_id("r_abc", 0) == "r_abc"
    assert parallel_room_id("r_abc", 3) == "r_abc-p3"
    assert family_of("r_abc-p3") == ("r_abc", 3)
    assert family_of("r_abc") == ("r_abc", 0)
    assert family_of("r_abc-p0") == ("r_abc-p0", 0)  # not a parallel id: p0 would be the main room
    with pytest.raises(ValueError):
        parallel_room_id("r_abc", -1)


def test_one_ticket_per_user_and_family() -> None:
    assert ticket_id_for("r_a", "u1") == ticket_id_for("r_a", "u1")
    assert ticket_id_for("r_a", "u1") != ticket_id_for("r_a", "u2")
    assert ticket_id_for("r_a", "u1") != ticket_id_for("r_b", "u1")


@pytest.mark.parametrize(
    ("audience", "capacity", "limit", "expected"),
    [(0, 5000, 10, 0), (5000, 5000, 10, 0), (5001, 5000, 10, 1), (12000, 5000, 10, 2), (10**6, 5000, 10, 10)],
)
def test_parallel_rooms_needed_is_ceil_minus_main(audience: int, capacity: int, limit: int, expected: int) -> None:
    assert parallel_rooms_needed(audience, capacity, limit) == expected


def test_the_lowest_open_room_with_a_free_seat_is_filled_first() -> None:
    assert room_to_fill([room(2, 0), room(1, 9)]) == room(1, 9)
    assert room_to_fill([room(1, 10), room(2, 3)]) == room(2, 3)
    assert room_to_fill([room(1, 10), room(2, 0, status=RoomStatus.CLOSED)]) is None
    assert room_to_fill([]) is None


def test_a_batch_takes_what_fits_in_arrival_order_and_fits_a_transaction() -> None:
    users = [f"u{n}" for n in range(100)]
    assert take_for_room(room(1, 7), users) == ["u0", "u1", "u2"]
    assert len(take_for_room(room(1, 0, capacity=5000), users)) == MAX_SEATS_PER_TRANSACTION
    assert 1 + 2 * MAX_SEATS_PER_TRANSACTION <= 100  # DynamoDB's items-per-transaction limit


def test_family_totals() -> None:
    family = Family(main=room(0, 10), parallel=[room(1, 10), room(2, 4)])
    assert family.occupancy == 24 and family.capacity == 30
    assert [r.index for r in family.rooms] == [0, 1, 2]
    assert room(1, 12).free_seats == 0


def test_a_main_room_heads_its_own_family_open_and_empty_on_its_write_shards() -> None:
    # GIVEN a host's new room of 5,000 at 125 seats a shard
    main = main_room(
        "r_new", host_id="host", title="t", capacity=5000, seats_per_shard=125, created_at=NOW, metadata={"a": "b"}
    )
    # THEN it is its family's room 0, open, empty, on 40 write shards
    assert (main.family_id, main.index, main.is_main) == ("r_new", 0, True)
    assert (main.status, main.occupancy, main.shards, main.metadata) == (RoomStatus.OPEN, 0, 40, {"a": "b"})


def test_a_parallel_room_takes_its_main_rooms_shape_but_not_its_metadata() -> None:
    # GIVEN a show's main room with metadata and three parallel rooms
    main = main_room(
        "r_show", host_id="h", title="show", capacity=250, seats_per_shard=125, created_at=NOW, event_id="e_1"
    )
    main = Room(**{**main.__dict__, "metadata": {"topic": "x"}, "parallel_count": 3, "occupancy": 250})
    # WHEN parallel room 4 is made
    fourth = parallel_room(main, 4, NOW)
    # THEN it has the family's deterministic id and the main room's host, capacity, show and shards, and is empty
    assert (fourth.room_id, fourth.family_id, fourth.index) == ("r_show-p4", "r_show", 4)
    assert (fourth.host_id, fourth.capacity, fourth.event_id, fourth.shards) == ("h", 250, "e_1", 2)
    assert (fourth.occupancy, fourth.parallel_count, fourth.metadata, fourth.status) == (0, 0, {}, RoomStatus.OPEN)


def test_an_overflow_batch_is_dealt_round_the_emptiest_shards() -> None:
    from rooms.domain.model import plan_batch

    # 45 seats into a room of 40 empty shards: 6 shards, 7 or 8 seats each, 96 items
    plan = plan_batch([125] * 40, 45, 100)
    assert len(plan) == 6 and sum(taken for _, taken in plan) == 45
    assert {taken for _, taken in plan} <= {7, 8}
    assert 2 * 45 + len(plan) <= 100
    # the emptiest shards first
    assert [shard for shard, _ in plan_batch([3, 9, 0, 5], 2, 100)] == [1]
    assert plan_batch([3, 9, 0, 5], 10, 100) == [(1, 5), (3, 5)]
    # shards that run out draw in the next ones while the transaction has room; none beyond the free seats
    assert plan_batch([1, 1, 1, 0], 5, 100) == [(0, 1), (1, 1), (2, 1)]
    assert plan_batch([0, 0], 5, 100) == []
    # a full transaction spreads less: 49 seats leave room for 2 shard updates only
    plan = plan_batch([125] * 40, 49, 100)
    assert 2 * sum(taken for _, taken in plan) + len(plan) <= 100
