"""The minute run's family work on the in-memory fakes: promotions to the main room, closing idle parallel
rooms, retiring closed families, finishing evictions; and the sweepers against a heartbeat that lands
between their read and their release. No AWS, no socket: milliseconds."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from rooms.domain.events import Event, EventStatus
from rooms.domain.expiry import expiry_bucket, expiry_shard
from rooms.domain.model import RoomStatus, Seat, Ticket, TicketStatus, parallel_room_id, ticket_id_for
from rooms.ports import Promotion
from tests.unit.fakes import START, Fakes, StoredEvent, main_room

FAMILY = "r_main"
P1, P2 = parallel_room_id(FAMILY, 1), parallel_room_id(FAMILY, 2)
GRACE = timedelta(seconds=300)


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY, capacity=2), seated=["m1"])  # one free seat
    fakes.add_room(main_room(FAMILY, capacity=3, room_id=P1, index=1))
    return fakes


def seated_in_p1(fakes: Fakes, user: str, *, promote: bool = True) -> Ticket:
    fakes.clock.advance(timedelta(seconds=1))
    seat = fakes.seat(P1, user, ticketed=True)
    ticket = Ticket(
        ticket_id_for(FAMILY, user),
        FAMILY,
        user,
        TicketStatus.SEATED,
        FAMILY,
        fakes.clock(),
        fakes.clock(),
        room_id=seat.room_id,
        promote=promote,
    )
    return fakes.put_ticket(ticket)


# ------------------------------------------------------------------ promotions
def test_opted_in_users_move_up_to_the_main_rooms_free_seats_first_come_first_served(fakes: Fakes) -> None:
    first, second = seated_in_p1(fakes, "a"), seated_in_p1(fakes, "b")
    seated_in_p1(fakes, "stays", promote=False)
    report = fakes.housekeeping().run()
    assert report.promoted == 1 and report.families == 1
    assert fakes.table.seats[(FAMILY, "a")].room_id == FAMILY and fakes.ticket(first.ticket_id).room_id == FAMILY
    assert fakes.table.seats[(FAMILY, "b")].room_id == P1 and fakes.ticket(second.ticket_id).room_id == P1
    assert fakes.tickets.promotion_candidates(FAMILY, FAMILY, 5) == [fakes.ticket(second.ticket_id)]
    fakes.table.check()


def test_a_candidate_who_left_is_dropped_from_the_promotion_queue(fakes: Fakes) -> None:
    gone, waiting = seated_in_p1(fakes, "gone"), seated_in_p1(fakes, "next")
    fakes.table.release(fakes.table.seats[(FAMILY, "gone")])  # left without a ticket write (a closing room)
    # the run reads a few candidates more than the free seats: the one gone does not keep the seat empty
    assert fakes.housekeeping().run().promoted == 1 and not fakes.table.tickets[gone.ticket_id].promoting
    assert fakes.table.seats[(FAMILY, "next")].room_id == FAMILY
    assert fakes.ticket(waiting.ticket_id).room_id == FAMILY


def test_promotions_stop_when_the_main_room_fills_meanwhile(fakes: Fakes) -> None:
    # GIVEN two candidates WHEN a join takes the main room's free seat between the read of the candidates
    # and the first promotion THEN nobody moves, and nobody is dropped from the queue
    a, b = seated_in_p1(fakes, "a"), seated_in_p1(fakes, "b")
    fakes.table.before("promote", lambda: fakes.rooms.admit(FAMILY, FAMILY, "joiner", fakes.clock()))
    assert fakes.housekeeping().run().promoted == 0
    assert fakes.table.count("promote") == 1  # the family is left for the next run at once
    assert fakes.table.tickets[a.ticket_id].promoting and fakes.table.tickets[b.ticket_id].promoting
    assert fakes.seated(P1) == {"a", "b"}
    fakes.table.check()


@pytest.mark.parametrize(
    ("race", "outcome"),
    [("a join fills the main room", Promotion.MAIN_FULL), ("the user leaves", Promotion.GONE)],
)
def test_a_promotion_raced_between_its_read_and_its_write_holds_the_invariants(
    fakes: Fakes, race: str, outcome: Promotion
) -> None:
    ticket = seated_in_p1(fakes, "a")
    if outcome is Promotion.MAIN_FULL:
        fakes.table.before("promote:write", lambda: fakes.rooms.admit(FAMILY, FAMILY, "joiner", fakes.clock()))
    else:
        fakes.table.before("promote:write", lambda: fakes.room_service().leave(P1, "a"))
    assert fakes.rooms.promote(ticket, FAMILY, fakes.clock()) is outcome
    full = outcome is Promotion.MAIN_FULL
    assert (fakes.occupancy(FAMILY), fakes.occupancy(P1)) == ((2, 1) if full else (1, 0))
    fakes.table.check()


def test_a_full_main_room_promotes_nobody(fakes: Fakes) -> None:
    seated_in_p1(fakes, "a")
    fakes.seat(FAMILY, "m2")
    assert fakes.housekeeping().run().promoted == 0
    assert fakes.table.count("promotion_candidates") == 0


# ------------------------------------------------------------------ empty parallel rooms
def test_an_empty_parallel_room_is_closed_after_the_grace_period_only(fakes: Fakes) -> None:
    housekeeping = fakes.housekeeping()
    housekeeping.run()
    assert fakes.table.rooms[P1].empty_since == START  # marked
    fakes.clock.advance(GRACE - timedelta(seconds=1))
    assert housekeeping.run().rooms_closed == 0
    fakes.clock.advance(timedelta(seconds=1))
    assert housekeeping.run().rooms_closed == 1
    assert fakes.table.room(P1).status is RoomStatus.CLOSED and fakes.table.rooms[P1].empty_since is None


def test_a_room_someone_came_back_to_loses_its_empty_mark(fakes: Fakes) -> None:
    housekeeping = fakes.housekeeping()
    housekeeping.run()
    fakes.seat(P1, "back")
    fakes.clock.advance(GRACE)
    assert housekeeping.run().rooms_closed == 0
    assert fakes.table.rooms[P1].empty_since is None and fakes.table.room(P1).status is RoomStatus.OPEN


def test_a_join_that_lands_between_the_read_and_the_close_keeps_the_room_open(fakes: Fakes) -> None:
    housekeeping = fakes.housekeeping()
    housekeeping.run()
    fakes.clock.advance(GRACE)
    fakes.table.before("close_if_empty", lambda: fakes.rooms.admit(P1, FAMILY, "late", fakes.clock()))
    assert housekeeping.run().rooms_closed == 0
    assert fakes.table.room(P1).status is RoomStatus.OPEN and fakes.seated(P1) == {"late"}


def test_a_live_show_keeps_the_rooms_provisioned_for_it(fakes: Fakes) -> None:
    fakes.add_room(main_room(FAMILY, capacity=2, room_id=P2, index=2))
    fakes.set_room(FAMILY, event_id="e1")
    fakes.table.events["e1"] = _stored_live_event(room_id=FAMILY, provisioned_rooms=1)
    housekeeping = fakes.housekeeping()
    housekeeping.run()
    fakes.clock.advance(GRACE)
    assert housekeeping.run().rooms_closed == 1
    assert fakes.table.room(P1).status is RoomStatus.OPEN and fakes.table.room(P2).status is RoomStatus.CLOSED


def test_a_show_that_is_gone_keeps_nothing(fakes: Fakes) -> None:
    fakes.set_room(FAMILY, event_id="e_gone")
    housekeeping = fakes.housekeeping()
    housekeeping.run()
    fakes.clock.advance(GRACE)
    assert housekeeping.run().rooms_closed == 1


def _stored_live_event(room_id: str, provisioned_rooms: int) -> StoredEvent:
    ends = START + timedelta(hours=1)
    event = Event("e1", "host", "Show", START, ends, "UTC", 2, 4, None, EventStatus.LIVE, START, START)
    return StoredEvent(replace(event, room_id=room_id, provisioned_rooms=provisioned_rooms))


# ------------------------------------------------------------------ closed families and evictions
def test_a_closed_family_is_retired_from_the_walk(fakes: Fakes) -> None:
    assert fakes.records.families_with_overflow() == [FAMILY]
    fakes.set_room(FAMILY, status=RoomStatus.CLOSED)
    assert fakes.housekeeping().run().families == 0
    assert fakes.records.families_with_overflow() == []


def test_one_familys_trouble_does_not_stop_the_others(fakes: Fakes) -> None:
    fakes.add_room(main_room("r_a", capacity=2))
    fakes.add_room(main_room("r_a", capacity=2, room_id="r_a-p1", index=1))
    fakes.table.before("empty_since", lambda: (_ for _ in ()).throw(ConnectionError("throttled")))
    report = fakes.housekeeping().run()
    assert report.families == 2
    assert fakes.table.rooms[P1].empty_since == START  # r_main's walk, after r_a's failed


def test_a_run_finishes_the_evictions_a_close_left_and_stops_at_its_budget(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    for user in ("a", "b"):
        fakes.seat(P1, user)
    fakes.rooms.close_room(P1)
    fakes.rooms.close_room(FAMILY)
    monkeypatch.setattr("rooms.housekeeping._EVICTION_BUDGET_SECONDS", 0.0)
    assert fakes.housekeeping().run().rooms_emptied == 0  # out of time: the next run goes on
    monkeypatch.undo()
    assert fakes.housekeeping().run().rooms_emptied == 2
    assert fakes.seated() == set() and fakes.rooms.rooms_being_evicted() == []


def test_an_unreachable_dead_letter_queue_does_not_stop_the_due_index(fakes: Fakes) -> None:
    now = fakes.clock()
    ticket = Ticket(ticket_id_for(FAMILY, "q"), FAMILY, "q", TicketStatus.QUEUED, FAMILY, now, now)
    fakes.put_ticket(ticket)
    fakes.dead_letters.broken = True
    fakes.clock.advance(fakes.budget + timedelta(minutes=1))
    assert fakes.housekeeping().run().tickets_republished == 1


# ------------------------------------------------------------------ the sweepers
def test_a_heartbeat_between_the_sweepers_read_and_its_release_keeps_the_seat(fakes: Fakes) -> None:
    seated_in_p1(fakes, "a")
    seat = fakes.table.seats[(FAMILY, "a")]
    fakes.clock.advance(fakes.rooms.lease)
    bucket = expiry_bucket(seat.expires_at, fakes.interval_seconds)
    shard = expiry_shard(f"SEAT#{FAMILY}#a")
    fakes.table.before("release_expired", lambda: fakes.room_service().heartbeat(P1, "a"))
    assert fakes.sweeper().sweep_shard(bucket, shard) == 0
    assert "a" in fakes.seated() and fakes.ticket(ticket_id_for(FAMILY, "a")).status is TicketStatus.SEATED


def test_an_expired_seat_of_the_main_room_tells_no_ticket(fakes: Fakes) -> None:
    seat: Seat = fakes.table.seats[(FAMILY, "m1")]
    fakes.clock.advance(fakes.rooms.lease)
    bucket = expiry_bucket(seat.expires_at, fakes.interval_seconds)
    assert fakes.sweeper().sweep_shard(bucket, expiry_shard(f"SEAT#{FAMILY}#m1")) == 1
    assert fakes.table.count("end_ticket") == 0 and fakes.occupancy(FAMILY) == 0


# ------------------------------------------------------------------ stale tickets: the branches left
def queued_at(fakes: Fakes, user: str, at: datetime) -> Ticket:
    return fakes.put_ticket(Ticket(ticket_id_for(FAMILY, user), FAMILY, user, TicketStatus.QUEUED, FAMILY, at, at))


def test_a_ticket_due_later_in_the_current_minute_waits_for_its_time(fakes: Fakes) -> None:
    ticket = queued_at(fakes, "q", START + timedelta(seconds=30))  # due at 20:15:30
    housekeeping = fakes.housekeeping()
    fakes.clock.now = START + fakes.budget + timedelta(seconds=10)
    assert housekeeping.run().tickets_republished == 0
    fakes.clock.now = START + fakes.budget + timedelta(seconds=30)
    assert housekeeping.run().tickets_republished == 1 and fakes.ticket(ticket.ticket_id).republished == 1


def test_a_dead_letter_whose_ticket_moved_on_or_moves_meanwhile_is_left_alone(fakes: Fakes) -> None:
    seated, racing = queued_at(fakes, "s", START), queued_at(fakes, "r", START)
    fakes.tickets.mark_ticket_seated(seated.ticket_id, fakes.seat(P1, "s", ticketed=True), START)
    for ticket in (seated, racing):
        fakes.dead_letters.add(
            f'{{"ticket_id": "{ticket.ticket_id}", "family_id": "{FAMILY}", "user_id": "{ticket.user_id}"}}'
        )
    # the worker seats the racing user between the sweep's read of its ticket and its failure
    fakes.table.before(
        "fail_ticket", lambda: fakes.tickets.mark_ticket_seated(racing.ticket_id, fakes.seat(P1, "r"), START)
    )
    report = fakes.housekeeping().run()
    assert (report.dead_letters, report.tickets_failed, report.tickets_seated) == (2, 0, 0)
    assert fakes.ticket(racing.ticket_id).status is TicketStatus.SEATED


def test_a_run_without_a_reconciler_settles_no_ticket(fakes: Fakes) -> None:
    ticket = queued_at(fakes, "q", START)
    fakes.clock.advance(fakes.budget + timedelta(minutes=1))
    assert fakes.housekeeping(settle_tickets=False).run().tickets_republished == 0
    assert fakes.ticket(ticket.ticket_id).republished == 0 and fakes.table.count("due_tickets") == 0


def test_a_family_whose_main_room_vanished_meanwhile_is_retired(fakes: Fakes) -> None:
    fakes.table.before("get_room", lambda: fakes.table.rooms.pop(FAMILY))
    assert fakes.housekeeping().run().families == 0
    assert fakes.table.count("retire_family") == 1
