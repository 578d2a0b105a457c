"""join() follows a 202 ticket to the seat, polling as the server asks, until seated, failed or timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from rooms_client import (
    AsyncRoomsClient,
    JoinTimeoutError,
    RoomsApiError,
    RoomsClient,
    Ticket,
    TicketFailedError,
)
from tests.sdk.sdk_fakes import FakeClock, seat_json, ticket_json


class Server:
    """Answers joins with ``join``, ticket reads with ``tickets`` in turn, heartbeats with a seat in p1."""

    def __init__(self, join: httpx.Response, tickets: list[dict]) -> None:
        self.join = join
        self.tickets: Iterator[dict] = iter(tickets)
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/join"):
            return self.join
        if request.url.path.startswith("/tickets/"):
            return httpx.Response(200, json=next(self.tickets))
        if request.url.path.endswith("/heartbeat"):
            return httpx.Response(200, json=seat_json("u1", "r_1-p1", 1))
        return httpx.Response(404)


def queued_answer(retry_after: str = "2", ticket_retry: int = 1) -> httpx.Response:
    ticket = ticket_json("queued", retry_after_seconds=ticket_retry)
    return httpx.Response(
        202,
        json={"status": "queued", "ticket": ticket},
        headers={"Retry-After": retry_after, "Location": "/tickets/t_1"},
    )


def seated_ticket() -> dict:
    return ticket_json("seated", room_id="r_1-p1", room_index=1)


def rooms_client(server: Server, clock: FakeClock) -> RoomsClient:
    return RoomsClient("http://api.test", "tok", transport=httpx.MockTransport(server), sleep=clock.sleep, clock=clock)


def test_a_seat_at_once_needs_no_ticket(clock: FakeClock) -> None:
    server = Server(httpx.Response(200, json={"status": "seated", "seat": seat_json()}), [])
    seat = rooms_client(server, clock).join("r_1")
    assert seat.room_id == "r_1"
    assert server.seen == ["POST /rooms/r_1/join"]


def test_a_queued_join_is_followed_to_the_seat_in_a_parallel_room(clock: FakeClock) -> None:
    # GIVEN a full room: 202 with Retry-After 2, the ticket queued once more (hint 3 s), then seated in p1
    server = Server(queued_answer("2"), [ticket_json("queued", retry_after_seconds=3), seated_ticket()])
    # WHEN the user joins
    seat = rooms_client(server, clock).join("r_1")
    # THEN the seat is the one in the parallel room, reached by polling no faster than the server asked
    assert (seat.room_id, seat.index) == ("r_1-p1", 1)
    assert server.seen == [
        "POST /rooms/r_1/join",
        "GET /tickets/t_1",
        "GET /tickets/t_1",
        "POST /rooms/r_1-p1/heartbeat",
    ]
    assert clock.sleeps == [2.0, 3.0]


def test_a_failed_ticket_raises_with_its_reason(clock: FakeClock) -> None:
    server = Server(queued_answer(), [ticket_json("failed", reason="room_closed")])
    with pytest.raises(TicketFailedError) as raised:
        rooms_client(server, clock).join("r_1")
    assert raised.value.reason == "room_closed"
    assert raised.value.ticket.status == "failed"


def test_a_ticket_still_queued_at_the_timeout_raises(clock: FakeClock) -> None:
    # GIVEN a ticket that never moves, polled every 2 s
    server = Server(queued_answer("2", 2), [ticket_json("queued", retry_after_seconds=2)] * 100)
    # WHEN the user waits at most 5 s
    with pytest.raises(JoinTimeoutError) as raised:
        rooms_client(server, clock).join("r_1", timeout=5)
    # THEN it gives up after 5 s of waiting, the last poll at the deadline, and says which ticket
    assert sum(clock.sleeps) == pytest.approx(5.0)
    assert clock.sleeps == [2.0, 2.0, 1.0]
    assert raised.value.ticket.ticket_id == "t_1"


def test_follow_ticket_reports_each_read(clock: FakeClock) -> None:
    server = Server(queued_answer(), [ticket_json("queued"), ticket_json("queued"), seated_ticket()])
    updates: list[str] = []

    def record(ticket: Ticket) -> None:
        updates.append(ticket.status)

    final = rooms_client(server, clock).follow_ticket("t_1", on_update=record)
    assert final.status == "seated" and final.room_id == "r_1-p1"
    assert updates == ["queued", "queued", "seated"]
    assert clock.sleeps == [1.0, 1.0]  # the first read is immediate, then the ticket's hint


def test_a_202_without_a_ticket_is_a_bad_response(clock: FakeClock) -> None:
    server = Server(httpx.Response(202, json={"status": "queued"}), [])
    with pytest.raises(RoomsApiError) as raised:
        rooms_client(server, clock).join("r_1")
    assert raised.value.code == "BAD_RESPONSE"


def test_async_join_follows_the_ticket_too(clock: FakeClock) -> None:
    server = Server(queued_answer("1"), [ticket_json("queued"), seated_ticket()])

    async def join() -> str:
        async with AsyncRoomsClient(
            "http://api.test",
            "tok",
            transport=httpx.MockTransport(server),
            sleep=clock.async_sleep,
            clock=clock,
        ) as rooms:
            return (await rooms.join("r_1")).room_id

    assert asyncio.run(join()) == "r_1-p1"
    assert clock.sleeps == [1.0, 1.0]
