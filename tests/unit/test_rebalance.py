"""Rebalancing: the plan (rooms.domain.rebalance) and the minute run's moves (rooms.rebalance) on fakes:
fewest rooms, nobody lost or doubled, each move atomic, minimum stay and one move per interval."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rooms.domain.model import (
    Room,
    RoomStatus,
    Ticket,
    TicketStatus,
    main_room,
    parallel_room,
    parallel_room_id,
    ticket_id_for,
)
from rooms.domain.rebalance import Transfer, plan_rebalance
from rooms.rebalance import Rebalancer
from tests.unit.fakes import Fakes
from tests.unit.fakes import main_room as fake_main_room

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
MAIN = main_room("f", host_id="h", title="T", capacity=10, seats_per_shard=4, created_at=NOW, rebalance=True)


def rooms_with(*occupancies: int) -> list[Room]:
    return [replace(parallel_room(MAIN, index, NOW), occupancy=n) for index, n in enumerate(occupancies, start=1)]


@pytest.mark.parametrize(
    ("occupancies", "transfers"),
    [
        ((10, 10), []),  # full: nothing to merge
        ((9, 1), [Transfer("f-p2", "f-p1", 1)]),  # 10 listeners fit one room of 10
        ((5, 2, 3), [Transfer("f-p2", "f-p1", 2), Transfer("f-p3", "f-p1", 3)]),
        ((2, 2, 2, 2, 2), [Transfer(f"f-p{n}", "f-p1", 2) for n in (2, 3, 4, 5)]),
        ((3, 8, 4), [Transfer("f-p1", "f-p2", 2), Transfer("f-p1", "f-p3", 1)]),  # keep the fullest
        ((6, 6, 1), [Transfer("f-p3", "f-p1", 1)]),  # 13 need 2 rooms: the emptiest drains
        ((0, 4), []),
    ],
)
def test_the_plan_keeps_the_fullest_rooms_that_hold_everyone_and_drains_the_rest(
    occupancies: tuple[int, ...], transfers: list[Transfer]
) -> None:
    assert plan_rebalance(rooms_with(*occupancies)) == transfers


def test_closed_rooms_and_the_main_room_are_never_part_of_a_plan() -> None:
    closed = replace(rooms_with(2)[0], room_id="f-p2", index=2, status=RoomStatus.CLOSED)
    assert plan_rebalance([replace(MAIN, occupancy=2), rooms_with(2)[0], closed]) == []


FAMILY = "r_main"


def family(*occupancies: int, shards: int = 1) -> Fakes:
    """A rebalancing family: a full main room of 10, and parallel rooms of 10 seated through tickets."""
    fakes = Fakes()
    fakes.add_room(fake_main_room(FAMILY, capacity=10, rebalance=True), seated=[f"m{n}" for n in range(10)])
    for index, count in enumerate(occupancies, start=1):
        room_id = parallel_room_id(FAMILY, index)
        fakes.add_room(fake_main_room(FAMILY, capacity=10, room_id=room_id, index=index, shards=shards))
        for n in range(count):
            user = f"p{index}-{n}"
            seat = fakes.seat(room_id, user, ticketed=True)
            now = fakes.clock()
            fakes.put_ticket(
                Ticket(ticket_id_for(FAMILY, user), FAMILY, user, TicketStatus.SEATED, FAMILY, now, now, seat.room_id)
            )
    return fakes


def rebalancer(fakes: Fakes, **options: Any) -> Rebalancer:
    return Rebalancer(
        fakes.rooms,
        fakes.clock,
        min_stay=timedelta(seconds=120),
        move_interval=timedelta(seconds=600),
        notifier=fakes.notifier,
        **options,
    )


def occupancies(fakes: Fakes, rooms: int) -> list[int]:
    return [fakes.occupancy(parallel_room_id(FAMILY, index)) for index in range(1, rooms + 1)]


def test_five_thin_rooms_end_in_the_fewest_with_nobody_lost_or_doubled() -> None:
    fakes = family(2, 2, 2, 2, 2, shards=2)
    listeners = fakes.seated()
    fakes.clock.advance(timedelta(minutes=3))  # past the minimum stay
    main = fakes.rooms.get_room(FAMILY)
    assert rebalancer(fakes).rebalance(main) == 8
    assert occupancies(fakes, 5) == [10, 0, 0, 0, 0]
    assert fakes.seated() == listeners and len(fakes.table.seats) == len(listeners)  # a seat each: I2
    fakes.table.check()  # every count equals its seats, none over its slice: I1
    # each moved user's ticket moved with the seat, and the user was told where they sit now
    moved = {user for user, _ in fakes.notifier.of_type("seat.moved")}
    assert len(moved) == 8 and all(fakes.table.seats[(FAMILY, u)].room_id == parallel_room_id(FAMILY, 1) for u in moved)
    assert all(fakes.ticket(ticket_id_for(FAMILY, u)).room_id == parallel_room_id(FAMILY, 1) for u in moved)
    # AND a second run finds nothing to do
    assert rebalancer(fakes).rebalance(fakes.rooms.get_room(FAMILY)) == 0


def test_nobody_moves_before_the_minimum_stay_nor_twice_within_the_interval() -> None:
    fakes = family(2, 2, 2)
    main = fakes.rooms.get_room(FAMILY)
    assert rebalancer(fakes).rebalance(main) == 0  # they just sat down
    fakes.clock.advance(timedelta(minutes=3))
    assert rebalancer(fakes, max_moves=2).rebalance(main) == 2  # and at most max_moves a run
    assert occupancies(fakes, 3) == [4, 0, 2]
    # WHEN room 1's own listeners leave and 3 more sit in room 3: room 1 (its two just moved there) drains
    for user in ("p1-0", "p1-1"):
        assert fakes.room_service().leave(FAMILY, user).left
    for n in range(3):
        fakes.seat(parallel_room_id(FAMILY, 3), f"late-{n}", ticketed=True)
        now = fakes.clock()
        ticket_id = ticket_id_for(FAMILY, f"late-{n}")
        fakes.put_ticket(Ticket(ticket_id, FAMILY, f"late-{n}", TicketStatus.SEATED, FAMILY, now, now, f"{FAMILY}-p3"))
    fakes.clock.advance(timedelta(minutes=3))
    # THEN the two moved minutes ago stay, until their interval is over
    assert rebalancer(fakes).rebalance(fakes.rooms.get_room(FAMILY)) == 0
    assert occupancies(fakes, 3) == [2, 0, 5]
    fakes.clock.advance(timedelta(minutes=10))
    assert rebalancer(fakes).rebalance(fakes.rooms.get_room(FAMILY)) == 2
    assert occupancies(fakes, 3) == [0, 0, 7]
    fakes.table.check()


def test_a_family_that_did_not_ask_is_never_rebalanced() -> None:
    fakes = family(2, 2)
    fakes.set_room(FAMILY, rebalance=False)
    fakes.clock.advance(timedelta(minutes=3))
    assert rebalancer(fakes).rebalance(fakes.rooms.get_room(FAMILY)) == 0
    assert occupancies(fakes, 2) == [2, 2]


def test_a_target_filled_meanwhile_stops_the_transfer_and_keeps_the_invariants() -> None:
    fakes = family(5, 5)
    fakes.clock.advance(timedelta(minutes=3))
    target = parallel_room_id(FAMILY, 1)
    # the overflow worker seats 5 users into room 1 between the plan and the first move
    fakes.table.before("relocate:write", lambda: [fakes.seat(target, f"late-{n}", ticketed=True) for n in range(5)])
    assert rebalancer(fakes).rebalance(fakes.rooms.get_room(FAMILY)) == 0
    assert occupancies(fakes, 2) == [10, 5]
    fakes.table.check()
