"""Presence on the fakes (docs/live.md): `hold` ties a seat to a connection with a lease to the
connection's latest end plus the grace, `$disconnect` cuts it to the grace and queues a release, and the
sweeper frees the seat then unless a reconnect held it again. `watch` answers the ticket as the HTTP API."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from rooms.api.schemas import TicketOut
from rooms.domain.live import CONNECTION_LIFETIME, TICKET_SEATED, seat_freed, seat_moved, stamp
from rooms.domain.model import KICKED, ROOM_CLOSED, RoomStatus, Ticket, TicketStatus, parallel_room_id, ticket_id_for
from rooms.presence import Presence
from rooms.sweeper import ReleaseMessage, SweepBatch
from tests.unit.fakes import Fakes, main_room

FAMILY = "r_main"
P1 = parallel_room_id(FAMILY, 1)
GRACE = timedelta(seconds=20)


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY, capacity=3), seated=["alice", "bob"])
    return fakes


@pytest.fixture
def presence(fakes: Fakes) -> Presence:
    return fakes.presence()


def send(presence: Presence, body: object, connection: str = "c1", user: str = "alice") -> dict[str, Any]:
    text = body if isinstance(body, str) else json.dumps(body)
    reply = presence.message(user, connection, text, None)
    assert reply is not None
    return reply


def hold(presence: Presence, connection: str = "c1", room: str = FAMILY) -> dict[str, Any]:
    return send(presence, {"action": "hold", "room_id": room}, connection)


# ------------------------------------------------------------------ hold
def test_a_hold_leases_the_seat_to_the_connections_latest_end_plus_the_grace(fakes: Fakes, presence: Presence) -> None:
    opened = fakes.clock()
    presence.connect("alice", "c1")
    fakes.clock.advance(timedelta(minutes=5))
    reply = hold(presence)
    until = opened + CONNECTION_LIFETIME + GRACE
    assert reply["type"] == "seat.held" and reply["version"] == 1 and reply["at"].endswith("Z")
    assert reply["data"] == {"room_id": FAMILY, "user_id": "alice", "held_until": stamp(until)}
    seat = fakes.table.seats[(FAMILY, "alice")]
    assert (seat.expires_at, seat.holder) == (until, "c1")
    assert fakes.table.connections[("alice", "c1")].holds_room == FAMILY


def test_the_events_open_time_is_used_without_reading_the_connection(fakes: Fakes, presence: Presence) -> None:
    opened = fakes.clock() - timedelta(minutes=30)
    presence.message("alice", "c1", json.dumps({"action": "hold", "room_id": FAMILY}), opened)
    assert fakes.table.seats[(FAMILY, "alice")].expires_at == opened + CONNECTION_LIFETIME + GRACE
    assert fakes.table.count("connections_of") == 0


def test_a_hold_without_a_seat_in_that_room_is_not_seated(fakes: Fakes, presence: Presence) -> None:
    presence.connect("carol", "c9")
    reply = send(presence, {"action": "hold", "room_id": FAMILY}, "c9", user="carol")
    assert reply["type"] == "error" and reply["data"]["error"]["code"] == "NOT_SEATED"
    fakes.add_room(main_room(FAMILY, capacity=2, room_id=P1, index=1))
    reply = hold(presence, room=P1)  # alice sits in the main room, not in p1
    assert reply["data"]["error"]["code"] == "NOT_SEATED"
    assert fakes.table.seats[(FAMILY, "alice")].holder is None


def test_a_heartbeat_on_a_held_seat_succeeds_and_keeps_the_longer_lease(fakes: Fakes, presence: Presence) -> None:
    presence.connect("alice", "c1")
    hold(presence)
    held = fakes.table.seats[(FAMILY, "alice")]
    fakes.clock.advance(timedelta(minutes=10))
    assert fakes.room_service().heartbeat(FAMILY, "alice") == held
    assert fakes.table.seats[(FAMILY, "alice")].expires_at == held.expires_at


# ------------------------------------------------------------------ watch
def test_watch_answers_the_callers_ticket_as_get_tickets_does(fakes: Fakes, presence: Presence) -> None:
    now = fakes.clock()
    ticket_id = ticket_id_for(FAMILY, "alice")
    ticket = Ticket(ticket_id, FAMILY, "alice", TicketStatus.SEATED, FAMILY, now, now, room_id=FAMILY)
    fakes.put_ticket(ticket)
    presence.connect("alice", "c1")
    reply = send(presence, {"action": "watch", "ticket_id": ticket_id})
    assert reply["type"] == "ticket.status"
    assert reply["data"] == TicketOut.of(fakes.room_service().ticket(ticket_id, "alice")).model_dump(mode="json")
    assert fakes.table.connections[("alice", "c1")].watches_ticket == ticket_id
    other = send(presence, {"action": "watch", "ticket_id": ticket_id}, "c2", user="bob")
    assert other["data"]["error"]["code"] == "TICKET_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("not json", None),
        ("", None),
        ({"action": "dance"}, None),
        ({"action": "hold"}, "room_id"),
        ({"action": "hold", "room_id": "r" * 65}, "room_id"),
        ({"action": "hold", "room_id": 7}, "room_id"),
        ({"action": "watch", "ticket_id": "t", "extra": 1}, "extra"),
        ([1, 2], None),
    ],
)
def test_a_message_that_cannot_be_taken_is_answered_with_a_validation_error(
    presence: Presence, body: object, field: str | None
) -> None:
    reply = send(presence, body)
    assert reply["type"] == "error"
    assert reply["data"]["error"]["code"] == "VALIDATION_ERROR"
    assert reply["data"]["error"]["field"] == field


def test_a_ping_that_reaches_the_function_gets_no_reply(fakes: Fakes, presence: Presence) -> None:
    assert presence.message("alice", "c1", json.dumps({"action": "ping"}), None) is None
    assert fakes.table.calls == []


# ------------------------------------------------------------------ disconnect and release
def disconnect_then_sweep(fakes: Fakes, presence: Presence, connection: str = "c1") -> int:
    presence.disconnect("alice", connection)
    fakes.clock.advance(GRACE + timedelta(seconds=1))
    sweeper = fakes.sweeper()
    return sum(sweeper.release(room, user) for room, user, _ in fakes.releases.releases)


def test_a_closed_socket_cuts_the_lease_to_the_grace_and_the_release_frees_the_seat(
    fakes: Fakes, presence: Presence
) -> None:
    presence.connect("alice", "c1")
    hold(presence)
    fakes.clock.advance(timedelta(minutes=3))
    closed_at = fakes.clock()
    assert presence.disconnect("alice", "c1") is True
    seat = fakes.table.seats[(FAMILY, "alice")]
    assert (seat.expires_at, seat.holder) == (closed_at + GRACE, None)
    assert fakes.releases.releases == [(FAMILY, "alice", 21)]
    assert ("alice", "c1") not in fakes.table.connections
    fakes.clock.advance(GRACE + timedelta(seconds=1))
    assert fakes.sweeper().release(FAMILY, "alice") == 1
    assert "alice" not in fakes.seated()
    fakes.table.check()


def test_a_reconnect_that_holds_within_the_grace_keeps_the_seat(fakes: Fakes, presence: Presence) -> None:
    presence.connect("alice", "c1")
    hold(presence)
    presence.disconnect("alice", "c1")
    fakes.clock.advance(GRACE / 2)
    presence.connect("alice", "c2")
    hold(presence, "c2")
    fakes.clock.advance(GRACE)
    assert fakes.sweeper().release(FAMILY, "alice") == 0
    assert fakes.table.seats[(FAMILY, "alice")].holder == "c2"


def test_an_older_connections_close_leaves_a_newer_hold(fakes: Fakes, presence: Presence) -> None:
    presence.connect("alice", "c1")
    hold(presence)
    presence.connect("alice", "c2")
    hold(presence, "c2")
    held = fakes.table.seats[(FAMILY, "alice")]
    assert presence.disconnect("alice", "c1") is False
    assert fakes.table.seats[(FAMILY, "alice")] == held and fakes.releases.releases == []


def test_a_close_after_a_leave_or_without_a_hold_lets_nothing_go(fakes: Fakes, presence: Presence) -> None:
    presence.connect("alice", "c1")
    hold(presence)
    fakes.room_service().leave(FAMILY, "alice")
    presence.connect("bob", "b1")
    assert presence.disconnect("alice", "c1") is False
    assert presence.disconnect("bob", "b1") is False
    assert presence.disconnect("bob", "never-recorded") is False
    assert fakes.releases.releases == []


def test_a_release_queue_that_fails_never_fails_the_disconnect(fakes: Fakes, presence: Presence) -> None:
    presence.connect("alice", "c1")
    hold(presence)
    fakes.releases.broken = True
    assert presence.disconnect("alice", "c1") is False
    assert fakes.table.seats[(FAMILY, "alice")].expires_at == fakes.clock() + GRACE  # the minute sweep frees it


def test_a_release_of_a_heartbeated_seat_frees_nothing(fakes: Fakes, presence: Presence) -> None:
    presence.connect("alice", "c1")
    hold(presence)
    presence.disconnect("alice", "c1")
    fakes.room_service().heartbeat(FAMILY, "alice")  # an HTTP client took over
    fakes.clock.advance(GRACE + timedelta(seconds=1))
    assert fakes.sweeper().release(FAMILY, "alice") == 0
    assert fakes.sweeper().release(FAMILY, "nobody") == 0


def test_the_sweep_batch_takes_a_release_message(fakes: Fakes, presence: Presence) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from tests.conftest import load_event

    presence.connect("alice", "c1")
    hold(presence)
    presence.disconnect("alice", "c1")
    fakes.clock.advance(GRACE + timedelta(seconds=1))
    record = load_event("sweeper/sweep_batch")["Records"][0]
    record["body"] = ReleaseMessage.of(FAMILY, "alice").model_dump_json()
    batch = SweepBatch(fakes.sweeper())
    batch.settle(SQSRecord(record))
    assert batch.freed == 1 and "alice" not in fakes.seated()


# ------------------------------------------------------------------ pushes from the writers
def test_a_kick_and_a_close_tell_the_users_their_seat_is_gone(fakes: Fakes) -> None:
    service = fakes.room_service()
    assert service.kick(FAMILY, "host", "bob") is True
    now = fakes.clock()
    assert fakes.notifier.pushed == [("bob", seat_freed(FAMILY, KICKED, now))]
    service.close(FAMILY, "host")
    assert fakes.notifier.pushed[1:] == [("alice", seat_freed(FAMILY, ROOM_CLOSED, now))]


def test_the_worker_tells_each_user_it_seats_and_each_ticket_it_fails(fakes: Fakes) -> None:
    from rooms.ports import OverflowRequest

    fakes.seat(FAMILY, "carol")  # the main room is full now
    now = fakes.clock()
    requests = []
    for user in ("dave", "erin"):
        ticket = Ticket(ticket_id_for(FAMILY, user), FAMILY, user, TicketStatus.QUEUED, FAMILY, now, now)
        requests.append(OverflowRequest.of(fakes.put_ticket(ticket)))
    fakes.overflow_service().seat_family(FAMILY, requests)
    seated = fakes.notifier.of_type(TICKET_SEATED)
    assert [(user, data["ticket_id"], data["room_id"]) for user, data in seated] == [
        ("dave", ticket_id_for(FAMILY, "dave"), P1),
        ("erin", ticket_id_for(FAMILY, "erin"), P1),
    ]
    lost = Ticket(ticket_id_for(FAMILY, "zed"), FAMILY, "zed", TicketStatus.QUEUED, FAMILY, now, now)
    fakes.put_ticket(lost)
    fakes.set_room(FAMILY, status=RoomStatus.CLOSED)
    fakes.overflow_service().seat_family(FAMILY, [OverflowRequest.of(lost)])
    assert fakes.notifier.of_type("ticket.failed") == [
        ("zed", {"ticket_id": lost.ticket_id, "family_id": FAMILY, "reason": ROOM_CLOSED})
    ]


def test_a_promotion_tells_the_user_their_seat_moved(fakes: Fakes) -> None:
    fakes.add_room(main_room(FAMILY, capacity=2, room_id=P1, index=1))
    seat = fakes.seat(P1, "pat", ticketed=True)
    now = fakes.clock()
    ticket = Ticket(
        ticket_id_for(FAMILY, "pat"), FAMILY, "pat", TicketStatus.SEATED, FAMILY, now, now, seat.room_id, promote=True
    )
    fakes.put_ticket(ticket)
    fakes.housekeeping().run()
    assert fakes.notifier.pushed == [("pat", seat_moved(FAMILY, P1, FAMILY, now))]
