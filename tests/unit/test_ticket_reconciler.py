"""Nobody waits for ever (issue 8, item 1): every branch of settling a queued ticket nobody would seat,
reached from a rejoin, the dead-letter queue and the due index, on in-memory fakes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from rooms.domain.errors import OverflowUnavailable
from rooms.domain.model import OVERFLOW_FAILED, OVERFLOW_UNAVAILABLE, Room, RoomStatus, Seat, Ticket, TicketStatus
from rooms.housekeeping import Housekeeping
from rooms.ports import OverflowRequest
from rooms.reconciler import Settled, TicketReconciler
from rooms.service import RoomService
from tests.unit.fakes import (
    BUDGET,
    START,
    Clock,
    FakeDeadLetters,
    FakePublisher,
    FakeRoomStore,
    Fakes,
    FakeTicketStore,
    main_room,
)

FAMILY = "r_main"


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY), seated=["u0"])  # full: u0 holds its one seat
    return fakes


@pytest.fixture
def clock(fakes: Fakes) -> Clock:
    return fakes.clock


@pytest.fixture
def rooms(fakes: Fakes) -> FakeRoomStore:
    return fakes.rooms


@pytest.fixture
def tickets(fakes: Fakes) -> FakeTicketStore:
    return fakes.tickets


@pytest.fixture
def publisher(fakes: Fakes) -> FakePublisher:
    return fakes.publisher


@pytest.fixture
def service(fakes: Fakes) -> RoomService:
    return fakes.room_service()


@pytest.fixture
def reconciler(fakes: Fakes) -> TicketReconciler:
    return fakes.reconciler()


def queue(service: RoomService, user: str = "u1") -> Ticket:
    outcome = service.join(FAMILY, user)
    assert isinstance(outcome, Ticket) and outcome.status is TicketStatus.QUEUED
    return outcome


# --------------------------------------------------------------------------- rejoin
def test_a_rejoin_within_the_budget_returns_the_same_ticket_and_sends_nothing(
    service: RoomService, publisher: FakePublisher, clock: Clock
) -> None:
    first = queue(service)
    clock.advance(BUDGET - timedelta(seconds=1))
    assert service.join(FAMILY, "u1") == first
    assert len(publisher.published) == 1


def test_a_rejoin_past_the_budget_publishes_the_request_again(
    service: RoomService, publisher: FakePublisher, clock: Clock
) -> None:
    first = queue(service)
    clock.advance(BUDGET)
    again = service.join(FAMILY, "u1")
    assert isinstance(again, Ticket) and again.ticket_id == first.ticket_id and again.status is TicketStatus.QUEUED
    assert again.queued_since == clock.now and again.republished == 1
    # the new message names the new queueing: an old message's last delivery cannot fail it
    assert publisher.published[-1] == OverflowRequest.of(again)
    assert publisher.published[-1].queueing == clock.now
    assert [request.queueing for request in publisher.published] == [START, clock.now]
    # and a second rejoin right after is within the new budget: no third message
    assert service.join(FAMILY, "u1") == again and len(publisher.published) == 2


def test_a_rejoin_past_the_budget_with_the_queue_down_fails_the_ticket_clearly(
    service: RoomService, tickets: FakeTicketStore, publisher: FakePublisher, clock: Clock
) -> None:
    first = queue(service)
    clock.advance(BUDGET)
    publisher.broken = True
    with pytest.raises(OverflowUnavailable):
        service.join(FAMILY, "u1")
    failed = tickets.by_id[first.ticket_id]
    assert (failed.status, failed.reason) == (TicketStatus.FAILED, OVERFLOW_UNAVAILABLE)


def test_a_rejoin_after_overflow_failed_queues_afresh(
    service: RoomService, tickets: FakeTicketStore, publisher: FakePublisher, clock: Clock
) -> None:
    first = queue(service)
    tickets.fail_ticket(first.ticket_id, OVERFLOW_FAILED, clock.advance(BUDGET))
    again = service.join(FAMILY, "u1")
    assert isinstance(again, Ticket) and again.status is TicketStatus.QUEUED and again.republished == 0
    assert publisher.published[-1].queueing == clock.now


# ------------------------------------------------------------------------ settle
def test_settling_a_user_who_has_a_seat_marks_the_ticket_seated(
    service: RoomService,
    rooms: FakeRoomStore,
    tickets: FakeTicketStore,
    reconciler: TicketReconciler,
    publisher: FakePublisher,
) -> None:
    stale = queue(service)
    rooms.seats[(FAMILY, "u1")] = Seat(FAMILY, FAMILY, "u1", START, START + timedelta(minutes=1))
    assert reconciler.settle(stale, dead_lettered=True) is Settled.SEATED
    assert (tickets.by_id[stale.ticket_id].status, tickets.by_id[stale.ticket_id].room_id) == (
        TicketStatus.SEATED,
        FAMILY,
    )
    assert len(publisher.published) == 1


@pytest.mark.parametrize(
    ("main", "reason"),
    [
        (main_room(FAMILY, status=RoomStatus.CLOSED), "room_closed"),
        (main_room(FAMILY, status=RoomStatus.CLOSED, event_id="e1"), "event_ended"),
        (None, "room_not_found"),
    ],
)
def test_settling_a_ticket_of_a_closed_family_fails_it_with_the_reason(
    service: RoomService,
    fakes: Fakes,
    tickets: FakeTicketStore,
    reconciler: TicketReconciler,
    *,
    main: object,
    reason: str,
) -> None:
    stale = queue(service)
    if main is None:
        del fakes.table.rooms[FAMILY]
    else:
        assert isinstance(main, Room)
        fakes.set_room(FAMILY, status=main.status, event_id=main.event_id)
    assert reconciler.settle(stale, dead_lettered=False) is Settled.FAILED
    assert tickets.by_id[stale.ticket_id].reason == reason


def test_a_dead_lettered_request_fails_its_ticket_with_overflow_failed(
    service: RoomService, tickets: FakeTicketStore, reconciler: TicketReconciler
) -> None:
    stale = queue(service)
    assert reconciler.settle(stale, dead_lettered=True) is Settled.FAILED
    assert (tickets.by_id[stale.ticket_id].status, tickets.by_id[stale.ticket_id].reason) == (
        TicketStatus.FAILED,
        OVERFLOW_FAILED,
    )


def test_a_stale_ticket_is_published_again_once_then_failed(
    service: RoomService, tickets: FakeTicketStore, reconciler: TicketReconciler, publisher: FakePublisher, clock: Clock
) -> None:
    stale = queue(service)
    clock.advance(BUDGET)
    assert reconciler.settle(stale, dead_lettered=False) is Settled.REPUBLISHED
    republished = tickets.by_id[stale.ticket_id]
    assert republished.republished == 1 and publisher.published[-1] == OverflowRequest.of(republished)
    clock.advance(BUDGET)
    assert reconciler.settle(republished, dead_lettered=False) is Settled.FAILED
    assert tickets.by_id[stale.ticket_id].reason == OVERFLOW_FAILED
    assert len(publisher.published) == 2


def test_a_ticket_moved_by_someone_else_is_left_alone(
    service: RoomService, tickets: FakeTicketStore, reconciler: TicketReconciler, publisher: FakePublisher, clock: Clock
) -> None:
    read = queue(service)
    clock.advance(BUDGET)
    assert service.join(FAMILY, "u1") != read  # a rejoin published it again meanwhile
    assert reconciler.settle(read, dead_lettered=False) is Settled.UNCHANGED  # the old read publishes nothing
    assert reconciler.settle(read, dead_lettered=True) is Settled.UNCHANGED  # nor fails the newer queueing
    assert tickets.by_id[read.ticket_id].status is TicketStatus.QUEUED
    assert len(publisher.published) == 2


def test_a_republish_the_queue_refuses_fails_the_ticket(
    service: RoomService, tickets: FakeTicketStore, reconciler: TicketReconciler, publisher: FakePublisher, clock: Clock
) -> None:
    stale = queue(service)
    clock.advance(BUDGET)
    publisher.broken = True
    assert reconciler.settle(stale, dead_lettered=False) is Settled.FAILED
    assert tickets.by_id[stale.ticket_id].reason == OVERFLOW_UNAVAILABLE


# ------------------------------------------------------------------ the sweep's finders
@pytest.fixture
def dead_letters(fakes: Fakes) -> FakeDeadLetters:
    return fakes.dead_letters


@pytest.fixture
def sweep(fakes: Fakes, reconciler: TicketReconciler) -> Housekeeping:
    return fakes.housekeeping(reconciler=reconciler)


def body(request: OverflowRequest) -> str:
    return json.dumps(
        {"ticket_id": request.ticket_id, "family_id": request.family_id, "user_id": request.user_id}
        | ({"queued_at": request.queued_at} if request.queued_at else {})
    )


def test_the_sweep_fails_dead_lettered_tickets_and_leaves_the_messages(
    service: RoomService,
    tickets: FakeTicketStore,
    publisher: FakePublisher,
    *,
    sweep: Housekeeping,
    dead_letters: FakeDeadLetters,
    clock: Clock,
) -> None:
    # GIVEN two users whose requests were dead-lettered, a message of an older queueing and a poison body
    dead, legacy = queue(service, "u1"), queue(service, "u2")
    older = queue(service, "u3")
    clock.advance(BUDGET)
    dead_letters.add(body(publisher.published[0]))
    dead_letters.add(body(replace(publisher.published[1], queued_at=None)))  # from before queued_at existed
    stale_message = publisher.published[2]
    service.join(FAMILY, "u3")  # u3 rejoined: its ticket waits on a newer message
    dead_letters.add(body(stale_message))
    dead_letters.add("{not an overflow request")
    # WHEN housekeeping runs
    report = sweep.run()
    # THEN the dead requests' tickets fail, the newer queueing waits on, and nothing leaves the queue
    assert tickets.by_id[dead.ticket_id].reason == OVERFLOW_FAILED
    assert tickets.by_id[legacy.ticket_id].reason == OVERFLOW_FAILED
    assert tickets.by_id[older.ticket_id].status is TicketStatus.QUEUED
    assert report.dead_letters == 4 and report.tickets_failed == 2
    assert len(dead_letters.letters) == 4 and dead_letters.out == []  # all visible again


def test_the_sweep_puts_peeked_messages_back_even_when_settling_breaks(
    service: RoomService, fakes: Fakes, publisher: FakePublisher, dead_letters: FakeDeadLetters
) -> None:
    queue(service)
    dead_letters.add(body(publisher.published[0]))

    class Broken(TicketReconciler):
        def settle(self, ticket: Ticket, *, dead_lettered: bool) -> Settled:
            raise RuntimeError("the table is unreachable")

    broken = Broken(fakes.rooms, fakes.tickets, publisher, BUDGET, fakes.clock)
    fakes.housekeeping(reconciler=broken).run()
    assert dead_letters.out == []


def test_the_sweep_finds_tickets_past_their_budget_through_the_due_index(
    service: RoomService, tickets: FakeTicketStore, publisher: FakePublisher, sweep: Housekeeping, clock: Clock
) -> None:
    # GIVEN a family with no parallel room yet, one user whose message was lost, one queued just now
    lost = queue(service, "u1")
    clock.advance(BUDGET - timedelta(seconds=30))
    fresh = queue(service, "u2")
    assert sweep.run().tickets_republished == 0  # not due yet
    # WHEN the first one's budget has run out THEN it alone is published again, once
    clock.advance(timedelta(seconds=30))
    report = sweep.run()
    assert report.tickets_republished == 1 and publisher.published[-1].ticket_id == lost.ticket_id
    assert tickets.by_id[fresh.ticket_id].republished == 0
    # AND a run soon after does nothing more; past its new budget it fails, while u2 gets its one republish
    assert sweep.run().tickets_republished == 0
    clock.advance(BUDGET)
    report = sweep.run()
    assert (report.tickets_failed, report.tickets_republished) == (1, 1)
    assert tickets.by_id[lost.ticket_id].reason == OVERFLOW_FAILED
    assert tickets.by_id[fresh.ticket_id].republished == 1


def test_the_sweep_marks_seated_a_stale_ticket_whose_user_has_a_seat(
    service: RoomService, rooms: FakeRoomStore, tickets: FakeTicketStore, sweep: Housekeeping, clock: Clock
) -> None:
    stale = queue(service)
    rooms.seats[(FAMILY, "u1")] = Seat(FAMILY, FAMILY, "u1", START, START + timedelta(minutes=1))
    clock.advance(BUDGET)
    assert sweep.run().tickets_seated == 1
    assert tickets.by_id[stale.ticket_id].status is TicketStatus.SEATED


def test_a_sweep_after_an_outage_catches_up_on_past_minutes(
    service: RoomService, tickets: FakeTicketStore, sweep: Housekeeping, clock: Clock
) -> None:
    sweep.run()
    clock.advance(timedelta(minutes=30))
    stale = queue(service)  # due 45 minutes after that sweep
    clock.advance(BUDGET + timedelta(hours=1))  # and housekeeping did not run for an hour and a half
    # THEN each run takes 20 more minutes, and the third reaches the ticket's minute
    assert [sweep.run().tickets_republished for _ in range(3)] == [0, 0, 1]
    assert tickets.by_id[stale.ticket_id].republished == 1


def test_a_failing_due_index_does_not_stop_the_sweep_and_is_read_again_next_run(
    service: RoomService, fakes: Fakes, tickets: FakeTicketStore, sweep: Housekeeping, clock: Clock
) -> None:
    stale = queue(service)
    clock.advance(BUDGET)
    fakes.table.before("due_tickets", lambda: (_ for _ in ()).throw(ConnectionError("throttled")))
    assert sweep.run().tickets_republished == 0
    assert fakes.table.count("families_with_overflow") == 1  # the rest of the sweep ran
    assert sweep.run().tickets_republished == 1  # nothing was skipped: the watermark did not move
    assert tickets.by_id[stale.ticket_id].republished == 1
