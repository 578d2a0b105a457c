"""A ticket tells the truth about the seat it led to: the current seat, `left` or `expired` (issue 8, item 2).

Pure domain and the RoomService use cases on in-memory fakes: no AWS, microseconds each.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import get_args

import pytest

from rooms.api.schemas import TicketOut
from rooms.domain.model import KICKED, ROOM_CLOSED, RoomStatus, Seat, Ticket, TicketStatus, ticket_id_for
from rooms.service import RoomService
from rooms_client.models import TICKET_STATUSES
from rooms_client.models import Ticket as SdkTicket
from tests.unit.fakes import BUDGET, START, Fakes, main_room

FAMILY = "r_main"
P1 = f"{FAMILY}-p1"


def ticket(status: TicketStatus = TicketStatus.QUEUED, **changes: object) -> Ticket:
    base = Ticket(ticket_id_for(FAMILY, "u1"), FAMILY, "u1", status, FAMILY, START, START)
    return replace(base, **changes)  # type: ignore[arg-type]


def seat(room_id: str = P1) -> Seat:
    return Seat(room_id, FAMILY, "u1", START, START + timedelta(minutes=1))


@pytest.mark.parametrize(
    ("stored", "held", "status", "room_id"),
    [
        (ticket(), None, TicketStatus.QUEUED, None),
        (ticket(), seat(FAMILY), TicketStatus.SEATED, FAMILY),  # queued, but seated by a rejoin
        (ticket(TicketStatus.SEATED, room_id=P1), seat(), TicketStatus.SEATED, P1),
        (ticket(TicketStatus.SEATED, room_id=P1), seat(FAMILY), TicketStatus.SEATED, FAMILY),  # promoted, or rejoined
        (ticket(TicketStatus.SEATED, room_id=P1), None, TicketStatus.LEFT, P1),  # the seat is gone
        (ticket(TicketStatus.LEFT, room_id=P1), None, TicketStatus.LEFT, P1),
        (ticket(TicketStatus.LEFT, room_id=P1), seat(FAMILY), TicketStatus.SEATED, FAMILY),  # back in
        (ticket(TicketStatus.EXPIRED, room_id=P1), None, TicketStatus.EXPIRED, P1),
        (ticket(TicketStatus.FAILED, reason="cancelled"), None, TicketStatus.FAILED, None),
    ],
)
def test_a_ticket_is_seen_against_the_users_seat(
    stored: Ticket, held: Seat | None, status: TicketStatus, room_id: str | None
) -> None:
    seen = stored.seen_with(held)
    assert (seen.status, seen.room_id) == (status, room_id)
    if seen.status is TicketStatus.SEATED:
        assert seen.reason is None and seen.room_index == (0 if room_id == FAMILY else 1)


def test_the_api_schema_and_the_sdk_know_every_ticket_status() -> None:
    statuses = {status.value for status in TicketStatus}
    assert set(get_args(TicketOut.model_fields["status"].annotation)) == statuses == set(TICKET_STATUSES)
    followed = SdkTicket("t", "queued", FAMILY, FAMILY, 1, START, START)
    assert {status for status in statuses if replace(followed, status=status).is_final} == statuses - {"queued"}


def test_a_seated_ticket_whose_room_closed_says_so() -> None:
    seen = ticket(TicketStatus.SEATED, room_id=P1).seen_with(None, room_closed=True)
    assert (seen.status, seen.reason) == (TicketStatus.LEFT, ROOM_CLOSED)


def test_only_a_queued_ticket_past_its_delivery_budget_is_stale() -> None:
    queued = ticket()
    assert not queued.is_stale(START + BUDGET - timedelta(microseconds=1), BUDGET)
    assert queued.is_stale(START + BUDGET, BUDGET)
    assert not ticket(TicketStatus.FAILED).is_stale(START + 2 * BUDGET, BUDGET)
    # a re-published ticket starts a new budget
    assert not replace(queued, updated_at=START + BUDGET).is_stale(START + BUDGET + timedelta(seconds=1), BUDGET)


# ------------------------------------------------------------------ the use cases, on fakes
@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY))
    fakes.add_room(main_room(FAMILY, room_id=P1, index=1))
    return fakes


@pytest.fixture
def service(fakes: Fakes) -> RoomService:
    return fakes.room_service()


def seated_through_a_ticket(fakes: Fakes) -> Seat:
    fakes.put_ticket(ticket())
    fakes.clock.advance(timedelta(seconds=5))
    held = fakes.seat(P1, "u1", ticketed=True)
    fakes.tickets.mark_ticket_seated(ticket().ticket_id, held, fakes.clock())
    return held


def test_leaving_ends_the_ticket_and_reading_it_says_left(fakes: Fakes, service: RoomService) -> None:
    seated_through_a_ticket(fakes)
    result = service.leave(P1, "u1")
    assert result.left and result.room_id == P1
    stored = fakes.ticket(ticket().ticket_id)
    assert (stored.status, stored.room_id, stored.reason) == (TicketStatus.LEFT, P1, None)
    assert service.ticket(ticket().ticket_id, "u1").status is TicketStatus.LEFT


def test_a_kick_ends_the_ticket_with_its_reason(fakes: Fakes, service: RoomService) -> None:
    seated_through_a_ticket(fakes)
    assert service.kick(FAMILY, "host", "u1") is True
    stored = fakes.ticket(ticket().ticket_id)
    assert (stored.status, stored.reason) == (TicketStatus.LEFT, KICKED)
    assert service.kick(FAMILY, "host", "u1") is False  # nothing left to kick, the ticket stays as it is
    assert fakes.ticket(ticket().ticket_id).status is TicketStatus.LEFT


def test_a_kick_while_queued_fails_the_ticket(fakes: Fakes, service: RoomService) -> None:
    fakes.put_ticket(ticket())
    assert service.kick(FAMILY, "host", "u1") is False
    stored = fakes.ticket(ticket().ticket_id)
    assert (stored.status, stored.reason) == (TicketStatus.FAILED, KICKED)


def test_leaving_a_seat_got_while_queued_ends_the_queued_ticket(fakes: Fakes, service: RoomService) -> None:
    # GIVEN a queued user who got a main-room seat by joining again when one freed
    fakes.put_ticket(ticket())
    fakes.clock.advance(timedelta(seconds=5))
    fakes.seat(FAMILY, "u1")
    assert service.ticket(ticket().ticket_id, "u1").status is TicketStatus.SEATED  # never "queued"
    # WHEN they leave THEN the ticket ends too: its request, if still in flight, seats nobody
    service.leave(FAMILY, "u1")
    assert fakes.ticket(ticket().ticket_id).status is TicketStatus.LEFT


def test_a_ticket_queued_again_after_the_seat_is_not_ended_by_its_release(fakes: Fakes) -> None:
    held = seated_through_a_ticket(fakes)
    fakes.rooms.release(held)
    fakes.clock.advance(timedelta(seconds=1))
    fakes.put_ticket(ticket(created_at=fakes.clock(), updated_at=fakes.clock()))  # a newer join
    assert fakes.tickets.end_ticket(held, TicketStatus.LEFT, None, fakes.clock()) is False
    assert fakes.ticket(ticket().ticket_id).status is TicketStatus.QUEUED


def test_a_ticket_left_seated_by_a_closing_room_reads_left_room_closed(fakes: Fakes, service: RoomService) -> None:
    held = seated_through_a_ticket(fakes)
    fakes.set_room(P1, status=RoomStatus.CLOSED)
    fakes.rooms.release(held)  # the close's bulk eviction does not write tickets
    seen = service.ticket(ticket().ticket_id, "u1")
    assert (seen.status, seen.reason, seen.room_id) == (TicketStatus.LEFT, ROOM_CLOSED, P1)
