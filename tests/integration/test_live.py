"""The live connection through its functions' handlers and moto (docs/live.md): the authorizer of
`$connect`, connect, hold, disconnect and the sweeper's delayed release, a reconnect within the grace,
and the overflow worker's push reaching the user's connection (or forgetting a gone one)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto.core.exceptions import JsonRESTError

from rooms.domain.live import CONNECTION_LIFETIME
from tests.conftest import LambdaContext, load_event, load_function
from tests.integration.test_overflow_worker import run_worker, sqs_event
from tests.unit.fakes import Clock
from tests.unit.issuer import AUDIENCE, ISSUER, Issuer

CallApi = Callable[..., tuple[int, Any]]
GRACE = timedelta(seconds=20)  # the settings' default, as the template's PresenceGraceSeconds
ACCOUNT, REGION = "123456789012", "us-east-1"


# ------------------------------------------------------------------ the authorizer
@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def authorizer(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], dict[str, Any]]:
    """The authorizer function with its key set read from the issuer made here (no network)."""
    from rooms.auth import TokenVerifier

    function = load_function("authorizer")
    verifier = TokenVerifier(issuer.keys(), issuer=ISSUER, audience=AUDIENCE)
    monkeypatch.setattr(function, "verifier", lambda: verifier)

    def call(token: str | None) -> dict[str, Any]:
        event = load_event("authorizer/connect")
        event["queryStringParameters"] = {} if token is None else {"token": token}
        answer: dict[str, Any] = function.lambda_handler(event, LambdaContext(function_name="authorizer"))
        return answer

    return call


def test_a_valid_token_is_allowed_to_connect_as_its_subject(
    aws: dict[str, str], issuer: Issuer, authorizer: Callable[[str | None], dict[str, Any]]
) -> None:
    method_arn = load_event("authorizer/connect")["methodArn"]
    for token in (issuer.rs256(), "Bearer " + issuer.rs256(), Issuer.hs256()):
        answer = authorizer(token)
        assert answer["principalId"] == "user-alice" and answer["context"] == {"user_id": "user-alice"}
        (statement,) = answer["policyDocument"]["Statement"]
        assert statement == {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": method_arn}


def test_a_missing_expired_or_forged_token_is_unauthorized(
    aws: dict[str, str], issuer: Issuer, authorizer: Callable[[str | None], dict[str, Any]]
) -> None:
    for token in (None, "", "not.a.jwt", issuer.rs256(issuer.claims(exp=1_000_000_000)), Issuer().rs256()):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorizer(token)


# ------------------------------------------------------------------ presence
class Live:
    """The connection and sweeper functions on one test clock, and what moto holds."""

    def __init__(self, call_api: CallApi, queues: dict[str, str], clock: Clock) -> None:
        self.call_api = call_api
        self.queues = queues
        self.clock = clock

    def event(self, kind: str, user: str, connection_id: str, body: Any = None, opened: datetime | None = None) -> Any:
        event = copy.deepcopy(load_event(f"connection/{kind}"))
        context = event["requestContext"]
        context["connectionId"] = connection_id
        context["authorizer"].update(user_id=user, principalId=user)
        context["connectedAt"] = int((opened or self.clock()).timestamp() * 1000)
        if body is not None:
            event["body"] = json.dumps(body)
        return event

    def send(self, kind: str, user: str, connection_id: str, body: Any = None, opened: datetime | None = None) -> Any:
        function = load_function("connection")
        answer = function.lambda_handler(
            self.event(kind, user, connection_id, body, opened), LambdaContext(function_name="connection")
        )
        assert answer["statusCode"] == 200
        return json.loads(answer["body"]) if "body" in answer else None

    def hold(self, user: str, connection_id: str, room_id: str, opened: datetime | None = None) -> Any:
        return self.send("hold", user, connection_id, {"action": "hold", "room_id": room_id}, opened)

    def deliver_releases(self) -> int:
        """Every release on the sweep queue, delivered to the sweeper function; the seats it freed."""
        function = load_function("sweeper")
        freed = 0
        while (event := sqs_event(self.queues["SweepQueue"], 1, sample_event="sweeper/sweep_batch"))["Records"]:
            for record in event["Records"]:
                assert "release" in json.loads(record["body"])
            answer = function.lambda_handler(event, LambdaContext(function_name="sweeper"))
            assert answer["batchItemFailures"] == []
            freed += function.sweeper.freed_releases
        return freed


@pytest.fixture
def live(call_api: CallApi, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Live:
    from moto.sqs.models import Message

    from rooms.presence import Presence
    from rooms.service import RoomService
    from rooms.sweeper import ExpirySweeper

    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    connection = load_function("connection")
    adapters = connection.adapters
    presence = Presence(
        connections=adapters.connections,
        holds=adapters.rooms,
        rooms=RoomService(adapters.rooms, adapters.tickets, adapters.publisher, clock),
        releases=adapters.sweep_queue,
        grace_seconds=int(GRACE.total_seconds()),
        clock=clock,
    )
    monkeypatch.setattr(connection, "presence", presence)

    class Sweeper(ExpirySweeper):
        freed_releases = 0

        def release(self, room_id: str, user_id: str) -> int:
            freed = super().release(room_id, user_id)
            self.freed_releases = freed
            return freed

    sweeper = load_function("sweeper")
    monkeypatch.setattr(sweeper, "sweeper", Sweeper(sweeper.adapters.housekeeping, sweeper.adapters.tickets, clock))
    # moto holds a delayed message by the wall clock; these tests move their own clock past the grace
    monkeypatch.setattr(Message, "delayed", property(lambda _: False))
    return Live(call_api, aws, clock)


def seated_room(live: Live, *users: str, capacity: int = 10) -> str:
    status, room = live.call_api("create_room", body={"title": "Live", "capacity": capacity}, sub="host")
    assert status == 201
    for user in users:
        status, _ = live.call_api("join_room", path={"room_id": room["room_id"]}, sub=user)
        assert status == 200
    return str(room["room_id"])


def seat_item(room_id: str, user: str) -> Any:
    from rooms.adapters.models import SeatItem, seat_key

    return SeatItem.get(seat_key(room_id, user), "SEAT", consistent_read=True)


def occupancy(live: Live, room_id: str) -> int:
    return int(live.call_api("get_room", path={"room_id": room_id})[1]["occupancy"])


def test_connect_hold_disconnect_and_the_release_free_the_seat_after_the_grace(live: Live) -> None:
    from rooms.adapters.mapping import expiry_index
    from rooms.adapters.models import ConnectionItem, connection_key, seat_key

    room_id = seated_room(live, "alice")
    opened = live.clock()
    assert live.send("connect", "alice", "c1") is None
    live.clock.advance(timedelta(seconds=5))
    reply = live.hold("alice", "c1", room_id, opened)
    until = opened + CONNECTION_LIFETIME + GRACE
    assert reply["type"] == "seat.held" and reply["data"]["room_id"] == room_id
    item = seat_item(room_id, "alice")
    assert (item.holder, item.expires_at) == ("c1", until)
    assert (item.gsi2pk, item.gsi2sk) == expiry_index(seat_key(room_id, "alice"), until, 30)
    assert ConnectionItem.get(connection_key("alice"), "c1").holds_room == room_id

    live.clock.advance(timedelta(minutes=2))
    closed = live.clock()
    assert live.send("disconnect", "alice", "c1", opened=opened) is None
    item = seat_item(room_id, "alice")
    assert (item.holder, item.expires_at) == (None, closed + GRACE)
    assert list(ConnectionItem.query(connection_key("alice"))) == []

    live.clock.advance(GRACE + timedelta(seconds=1))
    assert live.deliver_releases() == 1
    assert occupancy(live, room_id) == 0


def test_the_release_waits_out_the_grace_on_the_queue(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    room_id = seated_room(live, "alice")
    live.send("connect", "alice", "c1")
    live.hold("alice", "c1", room_id)
    client = load_function("connection").adapters.sweep_queue._client
    sent: list[dict[str, Any]] = []
    real = client.send_message

    def recording(**params: Any) -> Any:
        sent.append(params)
        return real(**params)

    monkeypatch.setattr(client, "send_message", recording)
    live.send("disconnect", "alice", "c1")
    (message,) = sent
    assert message["DelaySeconds"] == 21
    assert json.loads(message["MessageBody"]) == {"release": {"room_id": room_id, "user_id": "alice"}}


def test_a_reconnect_that_holds_within_the_grace_keeps_the_seat(live: Live) -> None:
    room_id = seated_room(live, "alice")
    live.send("connect", "alice", "c1")
    live.hold("alice", "c1", room_id)
    live.send("disconnect", "alice", "c1")
    live.clock.advance(GRACE / 2)
    live.send("connect", "alice", "c2")
    assert live.hold("alice", "c2", room_id)["type"] == "seat.held"
    live.clock.advance(GRACE)
    assert live.deliver_releases() == 0
    assert seat_item(room_id, "alice").holder == "c2" and occupancy(live, room_id) == 1


def test_an_older_connections_disconnect_leaves_a_newer_hold(live: Live) -> None:
    room_id = seated_room(live, "alice")
    live.send("connect", "alice", "c1")
    live.hold("alice", "c1", room_id)
    live.send("connect", "alice", "c2")
    live.hold("alice", "c2", room_id)
    held = seat_item(room_id, "alice")
    live.send("disconnect", "alice", "c1")
    assert seat_item(room_id, "alice").attribute_values == held.attribute_values
    live.clock.advance(GRACE * 2)
    assert live.deliver_releases() == 0  # nothing was queued


def test_a_heartbeat_on_a_held_seat_leaves_its_lease(live: Live) -> None:
    room_id = seated_room(live, "alice")
    live.send("connect", "alice", "c1")
    live.hold("alice", "c1", room_id)
    held = seat_item(room_id, "alice").expires_at
    status, body = live.call_api("heartbeat", path={"room_id": room_id}, sub="alice")
    assert status == 200 and datetime.fromisoformat(body["expires_at"]) == held
    assert seat_item(room_id, "alice").expires_at == held


def test_hold_and_watch_errors_come_back_as_frames(live: Live) -> None:
    room_id = seated_room(live, "alice")
    live.send("connect", "bob", "b1")
    assert live.hold("bob", "b1", room_id)["data"]["error"]["code"] == "NOT_SEATED"
    reply = live.send("watch", "bob", "b1")  # the sample's ticket is not bob's
    assert reply["data"]["error"]["code"] == "TICKET_NOT_FOUND"
    reply = live.send("watch", "bob", "b1", {"action": "watch"})
    assert (reply["type"], reply["data"]["error"]["code"]) == ("error", "VALIDATION_ERROR")


# ------------------------------------------------------------------ pushes
def management_backend() -> Any:
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    return apigatewaymanagementapi_backends[ACCOUNT][REGION]


def pushed_to(connection_id: str) -> list[dict[str, Any]]:
    """The frames moto's @connections API took for one connection (it keeps their bytes end to end)."""
    data: bytes = management_backend().connections[connection_id].data
    decoder, frames, at = json.JSONDecoder(), [], 0
    text = data.decode()
    while at < len(text):
        frame, at = decoder.raw_decode(text, at)
        frames.append(frame)
    return frames


def queue_bob(live: Live) -> tuple[str, str]:
    room_id = seated_room(live, "alice", capacity=1)
    status, body = live.call_api("join_room", path={"room_id": room_id}, sub="bob")
    assert status == 202
    return room_id, body["ticket"]["ticket_id"]


def test_the_overflow_workers_seated_push_reaches_the_users_connection(live: Live) -> None:
    room_id, ticket_id = queue_bob(live)
    live.send("connect", "bob", "b1")
    assert live.send("watch", "bob", "b1", {"action": "watch", "ticket_id": ticket_id})["data"]["status"] == "queued"
    assert run_worker(sqs_event(live.queues["OverflowQueue"])) == []
    (frame,) = [frame for frame in pushed_to("b1") if frame["type"] == "ticket.seated"]
    assert frame["version"] == 1
    seat = frame["data"].pop("seat")
    assert frame["data"] == {"ticket_id": ticket_id, "family_id": room_id, "room_id": f"{room_id}-p1", "user_id": "bob"}
    # AND it carries the seat as the HTTP API answers it, so the client needs no request to read it
    assert (seat["room_id"], seat["index"], seat["user_id"]) == (f"{room_id}-p1", 1, "bob")
    assert set(seat) == {
        "room_id",
        "family_id",
        "index",
        "user_id",
        "joined_at",
        "expires_at",
        "heartbeat_interval_seconds",
        "speaker",
    }
    assert seat["speaker"] is False


def test_a_push_to_a_gone_connection_forgets_it_and_the_worker_still_succeeds(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rooms.adapters.models import ConnectionItem, connection_key

    class Gone(JsonRESTError):
        code = 410

        def __init__(self) -> None:
            super().__init__("GoneException", "the connection is gone")

    backend = type(management_backend())
    real = backend.post_to_connection

    def post(self: Any, data: bytes, connection_id: str) -> None:
        if connection_id == "b-gone":
            raise Gone()
        real(self, data, connection_id)

    monkeypatch.setattr(backend, "post_to_connection", post)
    _, ticket_id = queue_bob(live)
    live.send("connect", "bob", "b-gone")
    live.send("connect", "bob", "b-open")
    assert run_worker(sqs_event(live.queues["OverflowQueue"])) == []
    assert [item.sk for item in ConnectionItem.query(connection_key("bob"))] == ["b-open"]
    assert [frame["data"]["ticket_id"] for frame in pushed_to("b-open")] == [ticket_id]
    status, body = live.call_api("get_ticket", path={"ticket_id": ticket_id}, sub="bob")
    assert (status, body["status"]) == (200, "seated")


def test_a_kick_tells_the_user_on_their_connection(live: Live) -> None:
    room_id = seated_room(live, "alice")
    live.send("connect", "alice", "c1")
    status, _ = live.call_api("kick_participant", path={"room_id": room_id, "user_id": "alice"}, sub="host")
    assert status == 200
    assert [(f["type"], f["data"]) for f in pushed_to("c1")] == [
        ("seat.freed", {"room_id": room_id, "reason": "kicked"})
    ]


def test_a_close_tells_every_user_whose_seat_it_freed(live: Live) -> None:
    room_id = seated_room(live, "alice", "bob")
    live.send("connect", "alice", "c1")
    live.send("connect", "bob", "b1")
    status, _ = live.call_api("close_room", path={"room_id": room_id}, sub="host")
    assert status == 200
    for connection_id in ("c1", "b1"):
        assert [(f["type"], f["data"]) for f in pushed_to(connection_id)] == [
            ("seat.freed", {"room_id": room_id, "reason": "room_closed"})
        ]
