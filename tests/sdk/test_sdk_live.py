"""The live connection against an in-process server speaking docs/live.md (tests/sdk/live_fakes.py):
joins told by a push, presence by hold, reconnection with backoff and resubscription, pings, unknown events."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from rooms_client import AsyncRoomsClient, DevToken, RoomsClient, TicketNotFoundError
from rooms_client.live import (
    AsyncLiveConnection,
    LiveConnection,
    LiveOptions,
    ReconnectPolicy,
    SeatFreed,
    SeatHeld,
    TicketSeated,
    UnknownEvent,
)
from tests.sdk.live_fakes import DEADLINE, FakeLiveServer, frame
from tests.sdk.sdk_fakes import seat_json, ticket_json

QUEUED = ticket_json("queued")
SEATED = ticket_json("seated", room_id="r_1-p1", room_index=1)
PUSHED = frame("ticket.seated", {"ticket_id": "t_1", "family_id": "r_1", "room_id": "r_1-p1", "user_id": "u1"})
NO_POLL = LiveOptions(ticket_poll_interval=DEADLINE * 6)  # a join that polls would time out first


class Api:
    """HTTP: a full room (202, ticket t_1); ticket reads answer ``ticket``; heartbeats a seat in p1.
    ``on_join`` runs as the 202 is answered: the overflow worker, pushing the seat it gives."""

    def __init__(self, ticket: dict = SEATED, on_join: Callable[[], None] | None = None) -> None:
        self.ticket = ticket
        self.on_join = on_join
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/join"):
            if self.on_join is not None:
                self.on_join()
            return httpx.Response(202, json={"status": "queued", "ticket": QUEUED}, headers={"Retry-After": "1"})
        if request.url.path.startswith("/tickets/"):
            return httpx.Response(200, json=self.ticket)
        if request.url.path.endswith("/heartbeat"):
            return httpx.Response(200, json=seat_json("u1", "r_1-p1", 1))
        return httpx.Response(404)


def eventually(condition: Callable[[], bool]) -> None:
    """Wait for a condition another thread makes true, with a generous deadline."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def live() -> Iterator[FakeLiveServer]:
    server = FakeLiveServer().start()
    yield server
    server.stop()


def client(api: Api, ws_url: str | None, options: LiveOptions = NO_POLL) -> RoomsClient:
    return RoomsClient(
        "http://api.test", DevToken("u1"), transport=httpx.MockTransport(api), ws_url=ws_url or "", live=options
    )


def test_join_waits_for_the_pushed_seat_then_holds_it(live: FakeLiveServer) -> None:
    # GIVEN a full room: the join is queued, and the overflow worker's push follows
    live.tickets = lambda user, ticket_id: QUEUED
    api = Api(on_join=lambda: live.push("u1", PUSHED))
    with client(api, live.url) as rooms:
        # WHEN the user joins
        seat = rooms.join("r_1", timeout=DEADLINE * 3)
        # THEN the push seated them, without one ticket poll, and the socket holds the seat
        assert (seat.room_id, seat.index) == ("r_1-p1", 1)
        assert api.seen == ["POST /rooms/r_1/join", "POST /rooms/r_1-p1/heartbeat"]
        eventually(lambda: rooms.live is not None and rooms.live.holds("r_1-p1"))
        assert not rooms.heartbeat_needed("r_1-p1")
        # and no watch: the socket was open before the join was asked for, so it heard every push since
        assert live.actions() == ["hold"]
        assert live.messages[-1].body == {"action": "hold", "room_id": "r_1-p1"}


def test_a_push_that_carries_the_seat_needs_no_request_to_read_it(live: FakeLiveServer) -> None:
    # GIVEN a server whose seated push carries the seat, as the HTTP API answers it
    seat = seat_json("u1", "r_1-p1", 1)
    pushed = frame(
        "ticket.seated", {"ticket_id": "t_1", "family_id": "r_1", "room_id": "r_1-p1", "user_id": "u1", "seat": seat}
    )
    live.tickets = lambda user, ticket_id: QUEUED
    api = Api(on_join=lambda: live.push("u1", pushed))
    with client(api, live.url) as rooms:
        joined = rooms.join("r_1", timeout=DEADLINE * 3)
        # THEN the join's POST was the only request: no poll, no heartbeat to read the seat
        assert (joined.room_id, joined.index, joined.user_id) == ("r_1-p1", 1, "u1")
        assert api.seen == ["POST /rooms/r_1/join"]
        eventually(lambda: rooms.live is not None and rooms.live.holds("r_1-p1"))


def test_a_watch_reply_already_seated_needs_no_push(live: FakeLiveServer) -> None:
    # GIVEN a ticket asked for before the socket opened, and seated meanwhile: its push went to no socket
    live.tickets = lambda user, ticket_id: SEATED
    api = Api()
    with client(api, live.url, NO_POLL) as rooms:
        outcome = rooms.request_join("r_1")
        assert outcome.ticket is not None
        rooms.connect_live()
        # WHEN the user follows the ticket over the socket
        ticket = rooms.follow_ticket(outcome.ticket, timeout=DEADLINE * 3)
    # THEN it watched the ticket, and the watch's reply closed the race
    assert ticket.status == "seated" and ticket.room_id == "r_1-p1"
    assert live.actions() == ["watch"]
    assert not any(line.startswith("GET /tickets") for line in api.seen)


def test_a_ticket_asked_for_over_an_open_socket_is_followed_without_a_watch(live: FakeLiveServer) -> None:
    # GIVEN a socket open before the join's POST (as the storm's users have it)
    live.tickets = lambda user, ticket_id: QUEUED
    api = Api(on_join=lambda: live.push("u1", PUSHED))
    with client(api, live.url, NO_POLL) as rooms:
        rooms.connect_live()
        outcome = rooms.request_join("r_1")
        assert outcome.ticket is not None
        # WHEN the user follows the ticket
        ticket = rooms.follow_ticket(outcome.ticket, timeout=DEADLINE * 3)
    # THEN the push told it, and nothing was sent: no watch, no poll
    assert ticket.status == "seated" and ticket.room_id == "r_1-p1"
    assert live.actions() == []
    assert api.seen == ["POST /rooms/r_1/join"]


def test_a_socket_that_reconnected_since_the_join_watches_the_ticket(live: FakeLiveServer) -> None:
    # GIVEN a ticket asked for over a socket that then dropped: a push may have gone to no socket
    live.tickets = lambda user, ticket_id: SEATED
    policy = ReconnectPolicy(base_delay=0.01, max_delay=0.02)
    api = Api()
    with client(api, live.url, LiveOptions(ticket_poll_interval=DEADLINE * 6, reconnect=policy)) as rooms:
        connection = rooms.connect_live()
        outcome = rooms.request_join("r_1")
        assert outcome.ticket is not None
        live.drop("u1")
        eventually(lambda: connection.stats.reconnects == 1 and connection.connected)
        ticket = rooms.follow_ticket(outcome.ticket, timeout=DEADLINE * 3)
    # THEN it asked: the watch's reply says seated
    assert ticket.status == "seated"
    assert live.actions(connection=2) == ["watch"]


def test_a_lost_push_is_caught_up_by_the_slow_poll(live: FakeLiveServer) -> None:
    # GIVEN a watch that says queued and a push that never comes; HTTP knows the ticket is seated
    live.tickets = lambda user, ticket_id: QUEUED
    api = Api(SEATED)
    with client(api, live.url, LiveOptions(ticket_poll_interval=0.05)) as rooms:
        seat = rooms.join("r_1", timeout=DEADLINE)
    assert seat.room_id == "r_1-p1"
    assert "GET /tickets/t_1" in api.seen


def test_without_a_socket_the_join_polls() -> None:
    # GIVEN a WebSocket URL where nothing listens
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = Api(SEATED)
    with client(api, f"ws://127.0.0.1:{port}/x", LiveOptions(open_timeout=DEADLINE)) as rooms:
        seat = rooms.join("r_1", timeout=DEADLINE)
        # THEN the join polled the ticket, as without a socket, and heartbeats stay needed
        assert seat.room_id == "r_1-p1"
        assert api.seen == ["POST /rooms/r_1/join", "GET /tickets/t_1", "POST /rooms/r_1-p1/heartbeat"]
        assert rooms.heartbeat_needed("r_1-p1")


def test_a_dropped_socket_reconnects_with_backoff_and_sends_its_hold_and_watch(live: FakeLiveServer) -> None:
    ceilings: list[float] = []

    def jitter(ceiling: float) -> float:
        ceilings.append(ceiling)
        return ceiling

    live.tickets = lambda user, ticket_id: QUEUED
    policy = ReconnectPolicy(base_delay=0.01, max_delay=0.03, jitter=jitter)
    with LiveConnection(live.url, DevToken("u1"), LiveOptions(reconnect=policy)) as connection:
        assert isinstance(connection.hold("r_1"), SeatHeld)
        assert connection.watch("t_1").ticket == connection.watch("t_1").ticket
        assert connection.holds("r_1") and not connection.needs_heartbeat("r_1")
        # WHEN the server closes the socket (the 2-hour limit) and refuses the next two attempts
        live.refuse = 2
        live.drop("u1")
        # THEN the client comes back after backing off 0.01, 0.02, 0.03 (capped), and holds and watches again
        live.wait_for(lambda: sorted(live.actions(connection=2)) == ["hold", "watch"])
        assert ceilings == [0.01, 0.02, 0.03] and live.attempts == 4
        assert live.messages[-2].body == {"action": "hold", "room_id": "r_1"}
        assert live.messages[-1].body == {"action": "watch", "ticket_id": "t_1"}
        eventually(lambda: connection.holds("r_1"))
        assert connection.stats.reconnects == 1


def test_unknown_frames_pass_through_and_the_connection_stays(live: FakeLiveServer) -> None:
    with LiveConnection(live.url, DevToken("u1")) as connection:
        events = connection.events()
        live.push("u1", frame("room.renamed", {"room_id": "r_1", "title": "New"}))
        live.push("u1", "not json at all")
        live.push("u1", frame("ticket.seated", {"ticket_id": "t_1"}))  # fields missing
        live.push("u1", frame("ticket.seated", {"ticket_id": "t_1"}, version=2))
        live.push("u1", PUSHED)
        live.push("u1", frame("seat.freed", {"room_id": "r_1", "reason": "kicked"}))
        got = [next(events) for _ in range(6)]
        assert [type(event) for event in got[:4]] == [UnknownEvent] * 4
        assert [event.type for event in got[:4]] == ["room.renamed", "", "ticket.seated", "ticket.seated"]
        assert got[0].data == {"room_id": "r_1", "title": "New"}
        assert isinstance(got[1], UnknownEvent) and got[1].raw == "not json at all"
        assert isinstance(got[4], TicketSeated) and got[4].room_id == "r_1-p1"
        assert isinstance(got[5], SeatFreed) and got[5].reason == "kicked"
        assert connection.connected


def test_an_error_reply_raises_the_api_error(live: FakeLiveServer) -> None:
    with LiveConnection(live.url, DevToken("u1")) as connection, pytest.raises(TicketNotFoundError):
        connection.watch("t_nope")


def test_a_quiet_socket_is_pinged(live: FakeLiveServer) -> None:
    with LiveConnection(live.url, DevToken("u1"), LiveOptions(ping_interval=0.05)) as connection:
        # the client counts a ping once it is sent: wait for both sides, in either order
        live.wait_for(lambda: live.actions().count("ping") >= 2 and connection.stats.pings >= 2)
        assert live.messages[0].body == {"action": "ping"}


def test_async_join_waits_for_the_push_and_holds(live: FakeLiveServer) -> None:
    live.tickets = lambda user, ticket_id: QUEUED
    api = Api(on_join=lambda: live.push("u1", PUSHED))

    async def join() -> tuple[str, bool]:
        async with AsyncRoomsClient(
            "http://api.test", DevToken("u1"), transport=httpx.MockTransport(api), ws_url=live.url, live=NO_POLL
        ) as rooms:
            seat = await rooms.join("r_1", timeout=DEADLINE * 3)
            assert rooms.live is not None
            await asyncio.wait_for(rooms.live.hold(seat.room_id), DEADLINE)
            return seat.room_id, rooms.heartbeat_needed(seat.room_id)

    assert asyncio.run(join()) == ("r_1-p1", False)
    assert api.seen == ["POST /rooms/r_1/join", "POST /rooms/r_1-p1/heartbeat"]


def test_async_reconnect_sends_the_hold_again(live: FakeLiveServer) -> None:
    policy = ReconnectPolicy(base_delay=0.01, max_delay=0.02)

    async def scenario() -> int:
        async with AsyncLiveConnection(live.url, DevToken("u1"), LiveOptions(reconnect=policy)) as connection:
            await connection.hold("r_1")
            events = connection.events()
            await asyncio.to_thread(live.drop, "u1")
            # the hold's second seat.held arrives on the new socket
            held = await asyncio.wait_for(anext(events), DEADLINE)
            assert isinstance(held, SeatHeld) and held.room_id == "r_1"
            assert connection.holds("r_1")
            return connection.stats.reconnects

    assert asyncio.run(scenario()) == 1
    assert live.actions(connection=2) == ["hold"]
