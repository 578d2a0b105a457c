"""The SDK, the CLI and the storm simulation against the real local stack (DynamoDB Local, moto, the gateway)."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from rooms_client import (
    DevToken,
    NotModeratorError,
    NotSeatedError,
    RoomNotFoundError,
    RoomsClient,
    UnauthenticatedError,
    ValidationError,
)
from rooms_client.cli import main
from rooms_client.simulate import StormConfig, check_invariants, run_storm
from rooms_local.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with LocalStack(visibility_timeout=20) as stack:
        yield stack.api_url


@pytest.fixture
def client(api_url: str) -> Iterator[RoomsClient]:
    with RoomsClient(api_url, DevToken("e2e-host")) as rooms:
        yield rooms


def test_join_overflows_into_a_parallel_room_and_back_out(client: RoomsClient) -> None:
    # GIVEN a room of 2
    room = client.create_room("e2e show", 2, {"kind": "e2e"})
    assert (room.capacity, room.index, room.metadata) == (2, 0, {"kind": "e2e"})
    users = {name: client.with_token(DevToken(name)) for name in ("ann", "ben", "cat")}
    # WHEN three listeners join
    seats = {name: listener.join(room.room_id, timeout=60) for name, listener in users.items()}
    # THEN two sit in the main room and the third was followed to parallel room 1
    assert sorted(seat.index for seat in seats.values()) == [0, 0, 1]
    overflow = next(seat for seat in seats.values() if seat.index == 1)
    family = client.get_family(room.room_id)
    assert [r.occupancy for r in sorted(family.rooms, key=lambda r: r.index)] == [2, 1]
    assert family.total_occupancy == 3
    # a repeated join answers the same seat
    assert users[overflow.user_id].join(room.room_id).room_id == overflow.room_id
    # the participants list pages through the cursor
    page = client.list_participants(room.room_id, limit=1)
    assert len(page.participants) == 1 and page.next_cursor
    assert {seat.user_id for seat in client.all_participants(room.room_id)} == {
        name for name, seat in seats.items() if seat.index == 0
    }
    assert users["ann"].heartbeat(room.room_id).user_id == "ann"
    # leaving and kicking free seats
    left = users[overflow.user_id].leave(room.room_id)
    assert left.left and left.room_id == overflow.room_id
    with pytest.raises(NotModeratorError):
        users["ann"].kick(room.room_id, "ben")
    main_user = next(name for name, seat in seats.items() if seat.index == 0)
    assert client.kick(room.room_id, main_user).kicked
    with pytest.raises(NotSeatedError):
        users[main_user].heartbeat(room.room_id)
    assert client.close_room(room.room_id).status == "closed"


@pytest.mark.parametrize(
    "subject", ["auth0|e2e-ann", "samlp|acme|ben@example.com", "Zo\u00eb \u00dcnal", "\u674e\u96f7 \U0001f399"]
)
def test_a_host_kicks_a_subject_that_travels_percent_encoded(client: RoomsClient, subject: str) -> None:
    # GIVEN a listener whose token subject holds '|', '@', a space or non-ASCII (as Auth0 subjects do)
    room = client.create_room("e2e kick", 3)
    listener = client.with_token(DevToken(subject))
    assert listener.join(room.room_id).user_id == subject
    # WHEN the host kicks that subject through the SDK, the gateway and the function
    kicked = client.kick(room.room_id, subject)
    # THEN that very listener lost their seat, named as in their token
    assert (kicked.kicked, kicked.user_id) == (True, subject)
    assert list(client.all_participants(room.room_id)) == []
    with pytest.raises(NotSeatedError):
        listener.heartbeat(room.room_id)


def test_errors_arrive_typed(api_url: str, client: RoomsClient) -> None:
    with RoomsClient(api_url) as anonymous, pytest.raises(UnauthenticatedError):
        anonymous.get_room("r_missing")
    with pytest.raises(RoomNotFoundError):
        client.get_room("r_missing")
    with pytest.raises(ValidationError) as invalid:
        client.create_room("bad", 0)
    assert invalid.value.field == "capacity"
    assert "/rooms" in client.get_openapi()["paths"]


def test_events_round_trip(client: RoomsClient) -> None:
    assert isinstance(client.list_events().events, list)
    starts = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)  # within the booking horizon
    event = client.create_event(
        "e2e daily",
        starts_at=starts.isoformat(),
        ends_at=(starts + timedelta(hours=1)).isoformat(),
        timezone="Europe/Paris",
        capacity=100,
        expected_audience=250,
        recurrence="daily",
    )
    assert (event.status, event.recurrence, event.expected_audience) == ("scheduled", "daily", 250)
    assert client.get_event(event.event_id).title == "e2e daily"
    assert event.event_id in {listed.event_id for listed in client.list_events(limit=100).events}
    assert client.update_event(event.event_id, {"expected_audience": 300}).expected_audience == 300
    fan = client.with_token(DevToken("e2e-fan"))
    assert fan.rsvp(event.event_id).expected_audience == 301
    assert fan.rsvp(event.event_id).counted is False  # once per user
    assert client.cancel_event(event.event_id).status == "cancelled"


def test_a_storm_keeps_every_invariant(api_url: str) -> None:
    # GIVEN 60 users arriving at once for rooms of 15
    config = StormConfig(users=60, capacity=15, concurrency=16, sample_interval=0.5, join_timeout=120)
    # WHEN they join through the real gateway, functions, table and queue
    result = asyncio.run(run_storm(config, api_url, DevToken("storm-host"), DevToken))
    # THEN everyone is seated, 45 overflow users in exactly 3 full parallel rooms, I1-I5 hold
    checks = check_invariants(result.rooms, result.users, result.any_left)
    failed: list[Any] = [check for check in checks if check.failed]
    assert not failed, failed
    assert [user.outcome for user in result.users].count("seated") == 60
    assert [len(room.participants) for room in result.rooms] == [15, 15, 15, 15]


def test_the_simulate_command_against_the_stack(api_url: str, tmp_path: Path) -> None:
    argv = ["--api-url", api_url, "simulate", "--users", "25", "--capacity", "10", "--arrival", "linear"]
    argv += ["--duration", "2", "--leave-rate", "0.2", "--leave-after", "1", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    assert (tmp_path / "occupancy.png").stat().st_size > 0
    assert (tmp_path / "report.html").stat().st_size > 0


class FlakyFrontDoor:
    """An HTTP server in front of the stack that misbehaves on purpose, request by request.

    Each scripted answer is one of: "429" (throttled, nothing forwarded), "lost" (forwarded to the
    stack, then the answer is replaced by a 503 as if the connection died), or "pass".
    """

    def __init__(self, upstream: str, script: list[str]) -> None:
        self.upstream = upstream
        self.script = list(script)
        self.forwarded: list[dict[str, Any]] = []
        door = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                step = door.script.pop(0) if door.script else "pass"
                if step == "429":
                    self._answer(429, b'{"message":"Too Many Requests"}', {"Retry-After": "0"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                reply = httpx.request(
                    self.command, door.upstream + self.path, headers=headers, content=self.rfile.read(length)
                )
                door.forwarded.append({"path": self.path, "status": reply.status_code, "body": reply.json()})
                if step == "lost":
                    self._answer(503, b'{"message":"Service Unavailable"}', {})
                    return
                self._answer(reply.status_code, reply.content, {"Retry-After": reply.headers.get("Retry-After", "")})

            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    if value:
                        self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_PATCH = _serve

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_retries_over_http_survive_throttling_and_lost_answers(api_url: str) -> None:
    # GIVEN a front door that throttles the first create, then loses the answer of the second
    door = FlakyFrontDoor(api_url, ["429", "lost", "pass", "429", "pass"])
    try:
        with RoomsClient(door.url, DevToken("flaky-host")) as rooms:
            # WHEN the SDK creates a room through it
            room = rooms.create_room("through a flaky network", 3)
            # THEN the retry carried the same Idempotency-Key: the room made by the attempt whose
            # answer was lost is the one returned, not a second room
            created = [f for f in door.forwarded if f["path"] == "/rooms"]
            assert [f["status"] for f in created] == [201, 201]
            assert created[0]["body"]["room_id"] == created[1]["body"]["room_id"] == room.room_id
            # AND a join throttled once still ends in a seat
            seat = rooms.join(room.room_id, timeout=30)
            assert seat.room_id == room.room_id
    finally:
        door.close()
