"""The SDK's live connection against the real local stack: its WebSocket API, the authorizer and connection
functions, and the overflow worker's push."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from rooms_client import AsyncRoomsClient, DevToken, RoomsClient
from rooms_local.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]
DEADLINE_S = 120.0  # a safety net for a hung stack, never a bound on the test


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(stack_name="sdk-live", visibility_timeout=20) as local:
        yield local


class Recorded(httpx.HTTPTransport):
    """The real transport, noting each request's method and path."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        return super().handle_request(request)


def full_room(stack: LocalStack) -> str:
    with RoomsClient(stack.api_url, DevToken("sdk-live-host"), ws_url="") as host:
        room = host.create_room("live", 1)
        host.with_token(DevToken("sdk-live-first")).join(room.room_id)
        return room.room_id


def test_a_queued_join_is_told_its_seat_and_the_socket_holds_it(stack: LocalStack) -> None:
    room_id = full_room(stack)
    recorded = Recorded()
    with RoomsClient(stack.api_url, DevToken("sdk-live-queued"), transport=recorded, ws_url=stack.ws_url) as fan:
        # WHEN a listener with the live connection joins the full room
        seat = fan.join(room_id, timeout=DEADLINE_S)
        # THEN it sits in the parallel room, told over the socket: the join is its one HTTP request but for
        # the slow fallback polls of its own ticket (every 5 s: a busy machine may seat it later than that)
        assert seat.room_id == f"{room_id}-p1" and seat.index == 1
        assert recorded.seen[0] == f"POST /rooms/{room_id}/join"
        assert all(request.startswith("GET /tickets/") for request in recorded.seen[1:])
        assert fan.live is not None and fan.live.stats.received >= 1
        assert fan.live is not None and fan.live.stats.reconnects == 0
        # AND the socket holds the seat: its lease runs to the connection's end, no heartbeat is due
        deadline = datetime.now(UTC) + timedelta(seconds=DEADLINE_S)
        while fan.heartbeat_needed(seat.room_id):
            assert datetime.now(UTC) < deadline, "the hold was never confirmed"
            time.sleep(0.05)  # polling pace: the loop waits on the hold itself
        with RoomsClient(stack.api_url, DevToken("sdk-live-host"), ws_url="") as host:
            held = {p.user_id: p for p in host.all_participants(seat.room_id)}["sdk-live-queued"]
        assert held.expires_at > datetime.now(UTC) + timedelta(hours=1)


def test_the_async_client_is_told_its_seat_too(stack: LocalStack) -> None:
    room_id = full_room(stack)

    async def join() -> str:
        async with AsyncRoomsClient(stack.api_url, DevToken("sdk-live-async"), ws_url=stack.ws_url) as fan:
            seat = await fan.join(room_id, timeout=DEADLINE_S)
            return seat.room_id

    assert asyncio.run(join()).startswith(f"{room_id}-p")
