"""The live connection over a real WebSocket against the local stack (docs/live.md): a queued user is told
it is seated; a held seat outlives its HTTP lease; a killed client's seat is freed once the grace has
passed, never before; a reconnect within the grace keeps it; a push to a connection that is gone forgets
the connection and fails nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]

GRACE = 8  # seconds: long enough for a reconnect on a slow machine, short enough to wait out
DEADLINE_S = 300  # a safety net for a hung stack, never a bound on the test


@pytest.fixture(scope="module")
def live() -> Iterator[LocalStack]:
    # no housekeeping: nothing but the presence path may free a seat here
    with LocalStack(stack_name="live", schedules=False, parameters={"PresenceGraceSeconds": GRACE}) as stack:
        yield stack


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user, ttl_seconds=7200)}"}


def open_socket(stack: LocalStack, user: str) -> ClientConnection:
    return connect(f"{stack.ws_url}?token={quote(mint_token(user, ttl_seconds=7200))}", open_timeout=60)


def frame_of(socket: ClientConnection, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first frame `wanted` accepts, skipping the others."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        frame: dict[str, Any] = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        assert frame["version"] == 1 and "at" in frame, frame
        if wanted(frame):
            return frame


def hold(socket: ClientConnection, room_id: str) -> dict[str, Any]:
    socket.send(json.dumps({"action": "hold", "room_id": room_id}))
    return frame_of(socket, lambda frame: frame["type"] in ("seat.held", "error"))


def kill(socket: ClientConnection) -> None:
    """The app dies: the TCP connection drops with no close frame."""
    socket.socket.close()


def room(http: httpx.Client, capacity: int) -> str:
    created = http.post("/rooms", json={"title": "live", "capacity": capacity}, headers=auth("live-host"))
    assert created.status_code == 201, created.text
    return str(created.json()["room_id"])


def seated_users(http: httpx.Client, room_id: str) -> set[str]:
    listed = http.get(f"/rooms/{room_id}/participants", params={"limit": 100}, headers=auth("live-host"))
    assert listed.status_code == 200, listed.text
    return {seat["user_id"] for seat in listed.json()["participants"]}


def join(http: httpx.Client, room_id: str, user: str) -> httpx.Response:
    answer = http.post(f"/rooms/{room_id}/join", headers=auth(user))
    assert answer.status_code in (200, 202), answer.text
    return answer


def connections_of(stack: LocalStack, user: str) -> list[dict[str, Any]]:
    table = stack.template.tables["RoomsTable"].name
    found = stack.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CONN#{user}"}},
        ConsistentRead=True,
    )
    return list(found["Items"])


@pytest.fixture
def http(live: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.api_url, timeout=60) as client:
        yield client


def test_a_queued_user_is_pushed_its_seat(live: LocalStack, http: httpx.Client) -> None:
    # GIVEN a full room, and a listener whose socket is open before it joins
    room_id = room(http, 1)
    join(http, room_id, "live-first")
    with open_socket(live, "live-queued") as socket:
        # WHEN it joins and is queued
        queued = join(http, room_id, "live-queued")
        assert queued.status_code == 202
        ticket_id = queued.json()["ticket"]["ticket_id"]
        # THEN the overflow worker's push tells it where it sits, with no poll
        pushed = frame_of(socket, lambda frame: frame["type"] == "ticket.seated")
    assert pushed["data"]["ticket_id"] == ticket_id
    assert pushed["data"]["room_id"].startswith(f"{room_id}-p")
    assert "live-queued" in seated_users(http, pushed["data"]["room_id"])


def test_a_held_seat_outlives_its_http_lease(live: LocalStack, http: httpx.Client) -> None:
    room_id = room(http, 5)
    lease = datetime.fromisoformat(join(http, room_id, "live-held").json()["seat"]["expires_at"])
    with open_socket(live, "live-held") as socket:
        held = hold(socket, room_id)
        # THEN the seat's lease now runs to the connection's latest end, far beyond the heartbeat lease
        assert held["type"] == "seat.held", held
        assert datetime.fromisoformat(held["data"]["held_until"]) > lease + timedelta(hours=1)
        # AND holding a seat the user does not have is an error frame, and the socket stays open
        refused = hold(socket, room(http, 5))
        assert refused["type"] == "error" and refused["data"]["error"]["code"] == "NOT_SEATED", refused
        socket.send("not json")
        bad = frame_of(socket, lambda frame: frame["type"] == "error")
        assert bad["data"]["error"]["code"], bad
        assert hold(socket, room_id)["type"] == "seat.held"


def test_a_killed_clients_seat_is_freed_after_the_grace_and_not_before(live: LocalStack, http: httpx.Client) -> None:
    room_id = room(http, 5)
    join(http, room_id, "live-killed")
    with open_socket(live, "live-killed") as socket:
        assert hold(socket, room_id)["type"] == "seat.held"
        # WHEN the app dies
        killed_at = time.monotonic()
        kill(socket)
    # THEN the seat stays until the grace has passed, and then goes
    deadline = killed_at + DEADLINE_S
    while "live-killed" in seated_users(http, room_id):
        assert time.monotonic() < deadline, "the seat of a killed client was never freed"
        time.sleep(0.2)  # polling pace: the loop waits on the seat itself
    assert time.monotonic() - killed_at >= GRACE
    assert connections_of(live, "live-killed") == []


def test_a_reconnect_within_the_grace_keeps_the_seat(live: LocalStack, http: httpx.Client) -> None:
    room_id = room(http, 5)
    join(http, room_id, "live-back")
    with open_socket(live, "live-back") as first:
        assert hold(first, room_id)["type"] == "seat.held"
        # WHEN the network drops and the app reconnects at once, holding its seat again
        kill(first)
    with open_socket(live, "live-back") as second:
        assert hold(second, room_id)["type"] == "seat.held"
        # THEN once the first connection's release has come and gone, the seat is still there
        live.wait_idle(timeout=DEADLINE_S)
        assert "live-back" in seated_users(http, room_id)
        assert len(connections_of(live, "live-back")) == 1


def test_a_push_to_a_gone_connection_forgets_it_and_fails_nothing(live: LocalStack, http: httpx.Client) -> None:
    # GIVEN a user whose app died without its $disconnect reaching us: a connection record, no socket
    table = live.template.tables["RoomsTable"].name
    now = datetime.now(UTC)
    live.client("dynamodb").put_item(
        TableName=table,
        Item={
            "pk": {"S": "CONN#live-gone"},
            "sk": {"S": "gone-connection-id="},
            "user_id": {"S": "live-gone"},
            "connected_at": {"S": now.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")},  # the store's format
            "ttl": {"N": str(int((now + timedelta(hours=3)).timestamp()))},
        },
    )
    room_id = room(http, 1)
    join(http, room_id, "live-gone-first")
    # WHEN it is queued and the overflow worker seats it
    ticket_id = join(http, room_id, "live-gone").json()["ticket"]["ticket_id"]
    live.wait_idle(timeout=DEADLINE_S)
    # THEN the user is seated, the push found the connection gone and forgot it, and no request failed
    ticket = http.get(f"/tickets/{ticket_id}", headers=auth("live-gone"))
    assert ticket.json()["status"] == "seated", ticket.text
    assert connections_of(live, "live-gone") == []
    dead = live.client("sqs").get_queue_attributes(
        QueueUrl=live.template.queues["OverflowDeadLetterQueue"].url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert dead["Attributes"]["ApproximateNumberOfMessages"] == "0"
