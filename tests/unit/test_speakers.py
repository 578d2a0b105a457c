"""Speakers on fakes (rooms.service): the main room keeps `stage_seats` of its capacity for speakers; no join
takes them, the host brings a listener of any room of the family up to one, and nothing moves a speaker."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rooms.domain.errors import NotHost, NotSeated, StageFull
from rooms.domain.model import (
    STEPPED_DOWN,
    Ticket,
    TicketStatus,
    main_room,
    parallel_room,
    parallel_room_id,
    ticket_id_for,
)
from rooms.ports import Promotion
from tests.unit.fakes import START, Fakes

FAMILY = "r_stage"


def stage_family(capacity: int = 6, stage: int = 2) -> Fakes:
    """A main room of `capacity` seats, `stage` of them the speakers', and one parallel room."""
    fakes = Fakes()
    main = main_room(
        FAMILY, host_id="host", title="t", capacity=capacity, seats_per_shard=2, created_at=START, stage_seats=stage
    )
    fakes.add_room(main)
    fakes.add_room(parallel_room(main, 1, START))
    return fakes


def test_the_stage_is_a_shard_of_the_capacity_that_no_join_takes() -> None:
    fakes = stage_family()
    main = fakes.rooms.get_room(FAMILY)
    assert (main.shards, main.listener_shards, main.stage_shard) == (3, 2, 2)
    service = fakes.room_service()
    seats = [service.join(FAMILY, f"u{n}") for n in range(5)]
    assert [type(outcome).__name__ for outcome in seats] == ["Seat"] * 4 + ["Ticket"]  # 4 listeners, then queued
    assert fakes.table.occupancies(FAMILY) == [2, 2, 0]
    # a parallel room holds as many listeners as the main room, and has no stage
    parallel = fakes.rooms.get_room(parallel_room_id(FAMILY, 1))
    assert (parallel.capacity, parallel.stage_seats) == (4, 0)
    fakes.table.check()


def test_the_host_brings_a_parallel_room_listener_up_and_nothing_moves_them_again() -> None:
    fakes = stage_family()
    service = fakes.room_service()
    p1 = parallel_room_id(FAMILY, 1)
    seat = fakes.seat(p1, "guest", ticketed=True)
    now = fakes.clock()
    fakes.put_ticket(
        Ticket(
            ticket_id_for(FAMILY, "guest"), FAMILY, "guest", TicketStatus.SEATED, FAMILY, now, now, p1, promote=True
        ),
        promoting=True,
    )
    # WHEN the host brings them up THEN their seat is on the stage, their ticket with it, they are told
    speaker = service.bring_up(FAMILY, "host", "guest")
    assert (speaker.room_id, speaker.shard, speaker.speaker) == (FAMILY, 2, True)
    assert fakes.occupancy(p1) == 0 and fakes.table.occupancies(FAMILY) == [0, 0, 1]
    assert fakes.ticket(ticket_id_for(FAMILY, "guest")).room_id == FAMILY
    assert [data["room_id"] for _, data in fakes.notifier.of_type("seat.moved")] == [FAMILY]
    assert seat.room_id == p1  # (the seat as it was)
    # AND bringing them up again answers the same seat; a promotion never takes them off the stage
    assert service.bring_up(FAMILY, "host", "guest") == speaker
    stored = fakes.ticket(ticket_id_for(FAMILY, "guest"))
    assert fakes.rooms.promote(stored, FAMILY, fakes.clock()) is Promotion.GONE
    fakes.table.check()


def test_a_main_room_listener_brought_up_frees_a_listener_seat_for_the_first_in_line() -> None:
    fakes = stage_family()
    service = fakes.room_service()
    for n in range(4):
        service.join(FAMILY, f"u{n}")
    speaker = service.bring_up(FAMILY, "host", "u0")
    assert speaker.speaker and fakes.table.occupancies(FAMILY)[:2] in ([1, 2], [2, 1])
    assert fakes.releases.promotions == [(FAMILY, 1)]  # the freed listener seat is offered up
    fakes.table.check()


def test_a_full_stage_a_user_not_seated_and_a_listener_who_is_not_the_host_are_refused() -> None:
    fakes = stage_family(stage=1)
    service = fakes.room_service()
    for user in ("a", "b"):
        service.join(FAMILY, user)
    service.bring_up(FAMILY, "host", "a")
    with pytest.raises(StageFull):
        service.bring_up(FAMILY, "host", "b")
    with pytest.raises(NotSeated):
        service.bring_up(FAMILY, "host", "nobody")
    with pytest.raises(NotHost):
        service.bring_up(FAMILY, "b", "b")
    fakes.add_room(main_room("r_flat", host_id="host", title="t", capacity=4, seats_per_shard=2, created_at=START))
    service.join("r_flat", "c")
    with pytest.raises(StageFull):  # a room without a stage
        service.bring_up("r_flat", "host", "c")
    fakes.table.check()


def test_a_speaker_steps_down_or_is_taken_down_and_their_stage_seat_is_free_again() -> None:
    fakes = stage_family(stage=1)
    service = fakes.room_service()
    for user in ("a", "b"):
        service.join(FAMILY, user)
    service.bring_up(FAMILY, "host", "a")
    with pytest.raises(NotHost):
        service.step_down(FAMILY, "b", "a")
    assert service.step_down(FAMILY, "a", "a").left  # the speaker themself
    assert service.step_down(FAMILY, "a", "a").left is False  # again: nothing
    assert fakes.table.occupancies(FAMILY)[2] == 0 and ("r_stage", "a") not in fakes.table.seats
    assert fakes.releases.promotions == [(FAMILY, 1)]  # (from bringing a up; a stage seat frees no listener seat)
    service.bring_up(FAMILY, "host", "b")
    fakes.clock.advance(timedelta(seconds=1))
    assert service.step_down(FAMILY, "host", "b").left
    assert [data["reason"] for _, data in fakes.notifier.of_type("seat.freed")] == [STEPPED_DOWN]
    fakes.table.check()
