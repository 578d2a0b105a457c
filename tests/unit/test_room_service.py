"""RoomService on the in-memory fakes: every branch of join (and its queueing, races included), leave,
heartbeat, kick, close, participants and the ticket's read. No AWS, no socket: milliseconds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rooms.domain.errors import (
    InvalidCursor,
    NotHost,
    NotModerator,
    NotSeated,
    OverflowUnavailable,
    QuotaExceeded,
    RoomClosed,
    RoomFull,
    RoomNotFound,
    TicketNotFound,
)
from rooms.domain.model import (
    KICKED,
    OVERFLOW_UNAVAILABLE,
    ROOM_CLOSED,
    RoomStatus,
    Seat,
    Ticket,
    TicketStatus,
    parallel_room_id,
    ticket_id_for,
)
from rooms.ports import OverflowRequest
from rooms.service import RoomService
from tests.unit.fakes import BUDGET, START, Fakes, main_room

FAMILY = "r_main"
P1 = parallel_room_id(FAMILY, 1)
TICKET = ticket_id_for(FAMILY, "u1")


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY, capacity=2), seated=["u0"])
    return fakes


@pytest.fixture
def service(fakes: Fakes) -> RoomService:
    return fakes.room_service()


def fill(fakes: Fakes, room_id: str = FAMILY) -> None:
    while fakes.table.free_shards(room_id):
        fakes.seat(room_id, f"filler{len(fakes.table.seats)}")


def queued(service: RoomService, user: str = "u1", *, promote: bool = False) -> Ticket:
    outcome = service.join(FAMILY, user, promote=promote)
    assert isinstance(outcome, Ticket) and outcome.status is TicketStatus.QUEUED
    return outcome


def the_worker_seats(fakes: Fakes, user: str = "u1") -> None:
    """What a worker does meanwhile: seat the queued user in a parallel room (created if need be)."""
    fakes.overflow_service().seat_family(FAMILY, [OverflowRequest.of(fakes.ticket(ticket_id_for(FAMILY, user)))])


# ------------------------------------------------------------------ create and read
def test_a_room_is_created_open_with_its_write_shards_and_counted_in_the_hosts_quota(
    fakes: Fakes, service: RoomService
) -> None:
    room = service.create_room("host", "Show", 1000, {"lang": "fr"})
    assert (room.status, room.is_main, room.family_id, room.shards) == (RoomStatus.OPEN, True, room.room_id, 8)
    assert service.get_room(room.room_id) == room
    assert fakes.table.quotas[("host", "open_rooms")] == 1


def test_a_host_at_the_quota_creates_nothing(fakes: Fakes, service: RoomService) -> None:
    created = [service.create_room("host", "Show", 10, {}) for _ in range(20)]
    with pytest.raises(QuotaExceeded):
        service.create_room("host", "One too many", 10, {})
    assert len(fakes.table.rooms) == 21  # the fixture's room and the host's 20
    # closing one gives its unit back, once
    service.close(created[0].room_id, "host")
    service.close(created[0].room_id, "host")
    assert fakes.table.quotas[("host", "open_rooms")] == 19
    service.create_room("host", "Room again", 10, {})


def test_the_family_lists_its_parallel_rooms_with_the_familys_metadata(fakes: Fakes, service: RoomService) -> None:
    room = service.create_room("host", "Show", 10, {"lang": "fr"})
    assert service.family(room.room_id).parallel == []
    fakes.rooms.create_parallel_room(room, 1, START)
    family = service.family(parallel_room_id(room.room_id, 1))
    assert [r.index for r in family.rooms] == [0, 1]
    assert family.parallel[0].metadata == {"lang": "fr"} and family.capacity == 20


def test_an_unknown_room_is_not_found(service: RoomService) -> None:
    for call in (lambda: service.get_room("r_nope"), lambda: service.join("r_nope", "u1")):
        with pytest.raises(RoomNotFound):
            call()


# ------------------------------------------------------------------ join
def test_a_join_takes_a_free_seat_and_a_repeated_join_returns_it(fakes: Fakes, service: RoomService) -> None:
    seat = service.join(FAMILY, "u1")
    assert isinstance(seat, Seat) and seat.room_id == FAMILY
    assert service.join(FAMILY, "u1") == seat
    assert fakes.occupancy(FAMILY) == 2 and fakes.publisher.published == []
    fakes.table.check()


def test_a_join_anywhere_in_the_family_returns_the_seat_held_in_it(fakes: Fakes, service: RoomService) -> None:
    fakes.add_room(main_room(FAMILY, capacity=2, room_id=P1, index=1))
    held = fakes.seat(P1, "u1", ticketed=True)
    fill(fakes)
    assert service.join(FAMILY, "u1") == held  # full main room: still no ticket, the seat it holds


def test_a_join_on_a_closed_room_says_closed(fakes: Fakes, service: RoomService) -> None:
    fakes.set_room(FAMILY, status=RoomStatus.CLOSED)
    with pytest.raises(RoomClosed):
        service.join(FAMILY, "u1")
    assert service.join(FAMILY, "u0") == fakes.table.seats[(FAMILY, "u0")]  # a seat held still answers


def test_a_join_on_a_full_room_queues_one_ticket_and_one_message(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    ticket = queued(service, promote=True)
    assert (ticket.ticket_id, ticket.requested_room_id, ticket.promote) == (TICKET, FAMILY, True)
    assert fakes.publisher.published == [OverflowRequest.of(ticket)]
    assert fakes.table.tickets[TICKET].due is not None  # on the due index until it is settled
    # the failed admission proved there is no seat: one put, one message, no read of the seat
    assert fakes.table.count("get_seat") == 0


def test_a_join_with_the_queue_down_fails_its_ticket_and_says_so(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    fakes.publisher.broken = True
    with pytest.raises(OverflowUnavailable):
        service.join(FAMILY, "u1")
    failed = fakes.ticket(TICKET)
    assert (failed.status, failed.reason) == (TicketStatus.FAILED, OVERFLOW_UNAVAILABLE)
    assert fakes.table.tickets[TICKET].due is None
    # and a retry once the queue is back queues it afresh
    fakes.publisher.broken = False
    fakes.clock.advance(timedelta(seconds=1))
    assert queued(service).queued_since == fakes.clock.now


def test_a_rejoin_while_queued_returns_the_same_ticket_without_a_second_message(
    fakes: Fakes, service: RoomService
) -> None:
    fill(fakes)
    first = queued(service)
    fakes.clock.advance(BUDGET - timedelta(seconds=1))
    assert service.join(FAMILY, "u1") == first
    assert len(fakes.publisher.published) == 1


def test_a_rejoin_past_the_budget_publishes_again_with_a_fresh_budget(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    queued(service)
    fakes.clock.advance(BUDGET)
    again = queued(service)
    assert (again.republished, again.queued_since) == (1, fakes.clock.now)
    assert fakes.publisher.published[-1] == OverflowRequest.of(again)


def test_a_stale_rejoin_that_loses_the_republish_to_the_worker_answers_with_the_ticket_as_it_is(
    fakes: Fakes, service: RoomService
) -> None:
    # GIVEN a ticket queued past its budget
    fill(fakes)
    queued(service)
    fakes.clock.advance(BUDGET)
    # WHEN the worker seats the user between the rejoin's put and its republish
    fakes.table.before("republish_ticket", lambda: the_worker_seats(fakes))
    outcome = service.join(FAMILY, "u1")
    # THEN the rejoin publishes nothing and answers with the ticket, seated
    assert isinstance(outcome, Ticket) and (outcome.status, outcome.room_id) == (TicketStatus.SEATED, P1)
    assert len(fakes.publisher.published) == 1


def test_a_stale_rejoin_whose_ticket_vanished_meanwhile_says_not_found(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    queued(service)
    fakes.clock.advance(BUDGET)
    fakes.table.before("republish_ticket", lambda: fakes.table.tickets.pop(TICKET))  # its TTL ran out
    with pytest.raises(TicketNotFound):
        service.join(FAMILY, "u1")


def test_a_stale_rejoin_with_the_queue_down_fails_the_ticket(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    queued(service)
    fakes.clock.advance(BUDGET)
    fakes.publisher.broken = True
    with pytest.raises(OverflowUnavailable):
        service.join(FAMILY, "u1")
    assert fakes.ticket(TICKET).reason == OVERFLOW_UNAVAILABLE


def test_a_join_that_the_worker_seats_before_its_ticket_is_written_answers_with_the_seat(
    fakes: Fakes, service: RoomService
) -> None:
    # GIVEN a queued user whose rejoin finds the room full
    fill(fakes)
    queued(service)
    # WHEN the worker seats them after the failed admission, before the rejoin's put
    fakes.table.before("put_ticket", lambda: the_worker_seats(fakes))
    outcome = service.join(FAMILY, "u1")
    # THEN the rejoin answers with that seat, and sends nothing
    assert isinstance(outcome, Seat) and outcome.room_id == P1
    assert len(fakes.publisher.published) == 1


@pytest.mark.parametrize("status", [TicketStatus.FAILED, TicketStatus.LEFT, TicketStatus.EXPIRED])
def test_a_join_after_a_finished_ticket_queues_it_afresh(
    fakes: Fakes, service: RoomService, status: TicketStatus
) -> None:
    fill(fakes)
    queued(service)
    fakes.table.tickets[TICKET].ticket = Ticket(
        TICKET, FAMILY, "u1", status, FAMILY, START, START, room_id=P1, reason="x", republished=1
    )
    fakes.clock.advance(timedelta(minutes=1))
    again = queued(service)
    assert (again.room_id, again.reason, again.republished, again.created_at) == (None, None, 0, fakes.clock.now)
    assert fakes.publisher.published[-1] == OverflowRequest.of(again)


def test_two_joins_that_requeue_the_same_finished_ticket_send_one_message(fakes: Fakes, service: RoomService) -> None:
    # GIVEN a user whose ticket failed
    fill(fakes)
    queued(service)
    fakes.tickets.fail_ticket(TICKET, "cancelled", fakes.clock.advance(timedelta(seconds=1)))
    fakes.clock.advance(timedelta(seconds=1))
    # WHEN a second request of theirs requeues it between this one's put and its requeue
    fakes.table.before("requeue_ticket", lambda: fakes.room_service().join(FAMILY, "u1"))
    outcome = service.join(FAMILY, "u1")
    # THEN this one answers with the other's queueing: one message for the two
    assert isinstance(outcome, Ticket) and outcome.status is TicketStatus.QUEUED
    assert len(fakes.publisher.published) == 2  # the first queueing's, and the requeue's one
    assert fakes.publisher.published[-1] == OverflowRequest.of(outcome)


def test_a_requeue_whose_message_is_refused_fails_only_that_queueing(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    queued(service)
    fakes.tickets.fail_ticket(TICKET, "cancelled", fakes.clock.advance(timedelta(seconds=1)))
    fakes.publisher.broken = True
    with pytest.raises(OverflowUnavailable):
        service.join(FAMILY, "u1")
    assert (fakes.ticket(TICKET).status, fakes.ticket(TICKET).reason) == (TicketStatus.FAILED, OVERFLOW_UNAVAILABLE)


def test_a_publish_failure_never_fails_a_newer_queueing(fakes: Fakes, service: RoomService) -> None:
    # GIVEN a join whose publish fails only after another request of the user queued the ticket afresh
    fill(fakes)
    fakes.publisher.broken = True

    def a_newer_queueing() -> None:
        fakes.clock.advance(timedelta(seconds=1))
        held = fakes.table.tickets[TICKET]
        fakes.tickets.republish_ticket(held.ticket, fakes.clock.now)

    fakes.table.before("fail_ticket", a_newer_queueing)
    with pytest.raises(OverflowUnavailable):
        service.join(FAMILY, "u1")
    # THEN the failure names its own queueing: the newer one still waits
    assert fakes.ticket(TICKET).status is TicketStatus.QUEUED


# ------------------------------------------------------------------ leave
def test_leaving_frees_the_seat_once(fakes: Fakes, service: RoomService) -> None:
    result = service.leave(FAMILY, "u0")
    assert (result.left, result.room_id, result.ticket_cancelled) == (True, FAMILY, False)
    assert fakes.occupancy(FAMILY) == 0
    assert not service.leave(FAMILY, "u0").left


def test_leaving_while_queued_cancels_the_ticket(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    queued(service)
    result = service.leave(FAMILY, "u1")
    assert (result.left, result.ticket_cancelled) == (False, True)
    assert (fakes.ticket(TICKET).status, fakes.ticket(TICKET).reason) == (TicketStatus.FAILED, "cancelled")


def test_leaving_what_was_never_joined_changes_nothing(fakes: Fakes, service: RoomService) -> None:
    result = service.leave(FAMILY, "stranger")
    assert (result.left, result.room_id, result.ticket_cancelled) == (False, None, False)


def test_a_leave_that_the_worker_seats_between_its_reads_frees_that_seat(fakes: Fakes, service: RoomService) -> None:
    # GIVEN a queued user who leaves WHEN the worker seats them after the leave found no seat
    fill(fakes)
    queued(service)
    fakes.table.before("fail_ticket", lambda: the_worker_seats(fakes))
    result = service.leave(FAMILY, "u1")
    # THEN the leave frees the new seat and ends the ticket: nobody is left seated who left
    assert (result.left, result.room_id) == (True, P1)
    assert "u1" not in fakes.seated() and fakes.ticket(TICKET).status is TicketStatus.LEFT
    fakes.table.check()


def test_a_leave_that_loses_the_seat_to_the_sweep_frees_nothing_twice(fakes: Fakes, service: RoomService) -> None:
    seat = fakes.table.seats[(FAMILY, "u0")]
    fakes.table.before("release", lambda: fakes.table.release(seat))
    assert service.leave(FAMILY, "u0").left is False
    assert fakes.table.count("end_ticket") == 0


# ------------------------------------------------------------------ heartbeat, participants
def test_a_heartbeat_extends_the_lease_and_one_without_a_seat_says_not_seated(
    fakes: Fakes, service: RoomService
) -> None:
    fakes.clock.advance(timedelta(seconds=30))
    assert service.heartbeat(FAMILY, "u0").expires_at == fakes.clock.now + fakes.rooms.lease
    with pytest.raises(NotSeated):
        service.heartbeat(FAMILY, "stranger")


def test_participants_come_in_pages_across_write_shards(fakes: Fakes, service: RoomService) -> None:
    fakes.add_room(main_room("r_big", capacity=6, shards=3))
    for user in ("a", "b", "c", "d", "e"):
        fakes.clock.advance(timedelta(seconds=1))
        fakes.seat("r_big", user, shard=0 if user in "abc" else 2)
    users, cursor, pages = [], None, 0
    while True:
        page = service.participants("r_big", 2, cursor)
        users += [seat.user_id for seat in page.items]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert users == ["a", "b", "c", "d", "e"] and pages == 3
    with pytest.raises(InvalidCursor):
        service.participants(FAMILY, 2, cursor)  # another room's cursor


# ------------------------------------------------------------------ kick
def test_only_the_host_or_a_moderator_kicks(service: RoomService) -> None:
    with pytest.raises(NotModerator):
        service.kick(FAMILY, "someone", "u0")


def test_a_kick_frees_the_seat_and_ends_its_ticket_kicked(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    queued(service)
    the_worker_seats(fakes)
    assert service.kick(P1, "host", "u1") is True
    assert (fakes.ticket(TICKET).status, fakes.ticket(TICKET).reason) == (TicketStatus.LEFT, KICKED)
    assert service.kick(FAMILY, "host", "u1") is False


def test_a_kick_that_loses_the_seat_to_a_leave_fails_a_ticket_still_queued(fakes: Fakes, service: RoomService) -> None:
    seat = fakes.table.seats[(FAMILY, "u0")]
    fakes.put_ticket(Ticket(ticket_id_for(FAMILY, "u0"), FAMILY, "u0", TicketStatus.QUEUED, FAMILY, START, START))
    fakes.table.before("release", lambda: fakes.table.release(seat))
    assert service.kick(FAMILY, "host", "u0") is False
    assert fakes.ticket(ticket_id_for(FAMILY, "u0")).reason == KICKED


# ------------------------------------------------------------------ close
def test_closing_a_main_room_closes_its_family_and_frees_every_seat(fakes: Fakes, service: RoomService) -> None:
    fakes.add_room(main_room(FAMILY, capacity=2, room_id=P1, index=1), seated=["p"])
    with pytest.raises(NotHost):
        service.close(FAMILY, "someone")
    closed = service.close(FAMILY, "host")
    assert (closed.status, closed.occupancy) == (RoomStatus.CLOSED, 0)
    assert fakes.table.room(P1).status is RoomStatus.CLOSED and fakes.seated() == set()
    assert fakes.rooms.rooms_being_evicted() == []  # emptied: nothing left for housekeeping


def test_closing_a_parallel_room_closes_it_alone(fakes: Fakes, service: RoomService) -> None:
    fakes.add_room(main_room(FAMILY, capacity=2, room_id=P1, index=1), seated=["p"])
    service.close(P1, "host")
    assert fakes.table.room(FAMILY).status is RoomStatus.OPEN and fakes.seated() == {"u0"}


def test_a_close_out_of_time_leaves_the_seats_to_housekeeping(fakes: Fakes, service: RoomService) -> None:
    room = service.close_unchecked(fakes.table.room(FAMILY), budget_seconds=0)
    assert (room.status, room.occupancy) == (RoomStatus.CLOSED, 1)
    assert fakes.rooms.rooms_being_evicted() == [FAMILY]
    assert fakes.housekeeping().run().rooms_emptied == 1
    assert fakes.seated() == set() and fakes.rooms.rooms_being_evicted() == []


# ------------------------------------------------------------------ the ticket's read
def test_a_ticket_is_read_by_its_user_only(fakes: Fakes, service: RoomService) -> None:
    fill(fakes)
    queued(service)
    assert service.ticket(TICKET, "u1").status is TicketStatus.QUEUED
    for ticket_id, user in ((TICKET, "u2"), ("t_nope", "u1")):
        with pytest.raises(TicketNotFound):
            service.ticket(ticket_id, user)


@pytest.mark.parametrize(("room_gone", "closed"), [(False, True), (True, True), (False, False)])
def test_a_seated_ticket_without_its_seat_reads_left(
    fakes: Fakes, service: RoomService, room_gone: bool, closed: bool
) -> None:
    fill(fakes)
    queued(service)
    the_worker_seats(fakes)
    fakes.table.release(fakes.table.seats[(FAMILY, "u1")])  # a path that writes no ticket
    if room_gone:
        del fakes.table.rooms[P1]
    elif closed:
        fakes.set_room(P1, status=RoomStatus.CLOSED)
    seen = service.ticket(TICKET, "u1")
    assert (seen.status, seen.reason) == (TicketStatus.LEFT, ROOM_CLOSED if closed else None)


def test_a_full_room_is_a_room_full_error_for_the_store(fakes: Fakes) -> None:
    fill(fakes)
    with pytest.raises(RoomFull):
        fakes.rooms.admit(FAMILY, FAMILY, "u9", START)


def test_a_rejoin_after_a_finished_ticket_queues_with_this_joins_room_and_wish_to_move_up(
    fakes: Fakes, service: RoomService
) -> None:
    # GIVEN a user whose first ticket (a join on the main room, no promotion asked) was seated then left
    fakes.add_room(main_room(FAMILY, capacity=1, room_id=P1, index=1))
    fill(fakes)
    queued(service)
    the_worker_seats(fakes)
    service.leave(P1, "u1")
    fill(fakes, P1)
    # WHEN they join the full parallel room, asking to move up
    fakes.clock.advance(timedelta(minutes=1))
    again = service.join(P1, "u1", promote=True)
    # THEN the ticket is this join's: its room, its wish, and its place in the promotion queue
    assert isinstance(again, Ticket) and again.status is TicketStatus.QUEUED
    assert (again.requested_room_id, again.promote) == (P1, True)
    assert fakes.table.tickets[TICKET].promoting
