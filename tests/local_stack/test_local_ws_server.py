"""The WebSocket server and its @connections API on their own, with in-process functions: what a close
by the server, the maximum duration and a route-less frame do, and the management API's refusals."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from rooms_local.connections_api import ConnectionsApi
from rooms_local.template import load_template
from rooms_local.websocket_template import WebSocketApiSpec
from rooms_local.ws_server import WebSocketServer

TEMPLATE = Path(__file__).parent / "data" / "websocket" / "template.yaml"
DEADLINE_S = 30.0


class Recorder:
    """A function that records its events and answers as the test template's would."""

    def __init__(self, answer: Any):
        self.answer = answer
        self.events: list[dict[str, Any]] = []
        self.changed = threading.Condition()

    def invoke(self, event: Mapping[str, Any]) -> Any:
        with self.changed:
            self.events.append(dict(event))
            self.changed.notify_all()
        return self.answer(event) if callable(self.answer) else self.answer

    def wait_for(self, event_type: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events if e["requestContext"]["eventType"] == event_type), None)

        with self.changed:
            if not self.changed.wait_for(found, timeout=DEADLINE_S):
                raise AssertionError(f"no {event_type} event within {DEADLINE_S} s")
            return found() or {}


def _allow(event: Mapping[str, Any]) -> dict[str, Any]:
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    return {"principalId": "u-1", "policyDocument": {"Statement": [statement]}, "context": {"user_id": "u-1"}}


@pytest.fixture
def api() -> WebSocketApiSpec:
    return load_template(TEMPLATE).websocket_apis["WebSocketApi"]


@pytest.fixture
def connection_function() -> Recorder:
    return Recorder({"statusCode": 200, "body": "reply"})


def _server(api: WebSocketApiSpec, connection_function: Recorder, **options: Any) -> WebSocketServer:
    functions = {"AuthorizerFunction": Recorder(_allow), "ConnectionFunction": connection_function}
    return WebSocketServer(api, functions, **options)


@pytest.fixture
def server(api: WebSocketApiSpec, connection_function: Recorder) -> Iterator[WebSocketServer]:
    with _server(api, connection_function) as running:
        yield running


def test_stopping_the_server_closes_going_away_and_runs_disconnect(
    api: WebSocketApiSpec, connection_function: Recorder
) -> None:
    server = _server(api, connection_function)
    server.start()
    try:
        with connect(f"{server.url}?token=t", open_timeout=DEADLINE_S) as socket:
            connection_function.wait_for("CONNECT")
            server.stop()
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=DEADLINE_S)
    finally:
        server.stop()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    context = connection_function.wait_for("DISCONNECT")["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1001, "Going away")


def test_a_connection_ends_at_the_maximum_duration(api: WebSocketApiSpec, connection_function: Recorder) -> None:
    # GIVEN a maximum duration (2 hours on AWS) well below the idle timeout
    with (
        _server(api, connection_function, max_duration_s=1.0, idle_timeout_s=600.0) as server,
        connect(f"{server.url}?token=t", open_timeout=DEADLINE_S) as socket,
    ):
        socket.send(json.dumps({"action": "ping"}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=DEADLINE_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert connection_function.wait_for("DISCONNECT")["requestContext"]["disconnectStatusCode"] == 1001


def test_without_a_default_route_an_unmatched_frame_is_answered_forbidden(
    api: WebSocketApiSpec, connection_function: Recorder
) -> None:
    routes = {key: route for key, route in api.routes.items() if key != "$default"}
    with (
        _server(replace(api, routes=routes), connection_function) as server,
        connect(f"{server.url}?token=t", open_timeout=DEADLINE_S) as socket,
    ):
        socket.send(json.dumps({"action": "nothing-here"}))
        reply = json.loads(socket.recv(timeout=DEADLINE_S))
    assert reply["message"] == "Forbidden"
    assert reply["connectionId"] == connection_function.wait_for("CONNECT")["requestContext"]["connectionId"]


def test_an_unknown_path_is_forbidden(server: WebSocketServer) -> None:
    host, port = server.address
    response = httpx.get(
        f"http://{host}:{port}/other",
        headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Key": "a2V5a2V5a2V5a2V5a2V5aw==",
                 "Sec-WebSocket-Version": "13"},
    )  # fmt: skip
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_the_connections_api_refuses_what_the_management_api_refuses(server: WebSocketServer) -> None:
    connections = ConnectionsApi(server)
    connections.start()
    try:
        stage = connections.url
        assert httpx.post(f"{stage}/@connections/abc", content=b"x" * (128 * 1024 + 1)).status_code == 413
        gone = httpx.post(f"{stage}/@connections/abc", content=b"x")
        assert (gone.status_code, gone.headers["x-amzn-ErrorType"]) == (410, "GoneException")
        assert httpx.delete(f"{stage}/@connections/abc").status_code == 410
        assert httpx.put(f"{stage}/@connections/abc", content=b"x").status_code == 403
        assert httpx.post(f"{stage}/other/abc", content=b"x").status_code == 403
    finally:
        connections.stop()


def test_a_route_over_its_throttle_is_answered_too_many_requests(
    api: WebSocketApiSpec, connection_function: Recorder
) -> None:
    # GIVEN a stage that admits one request per route and (practically) never refills
    stage = replace(api.stage, throttling_rate_limit=0.001, throttling_burst_limit=1)
    with _server(replace(api, stage=stage), connection_function) as server:
        with connect(f"{server.url}?token=t", open_timeout=DEADLINE_S) as socket:
            socket.send(json.dumps({"action": "hello"}))
            socket.send(json.dumps({"action": "hello"}))
            replies = [socket.recv(timeout=DEADLINE_S), json.loads(socket.recv(timeout=DEADLINE_S))]
        # THEN the first reached the function, the second did not; and a second connect is refused
        assert replies[0] == "reply"
        assert replies[1]["message"] == "Too Many Requests"
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{server.url}?token=t", open_timeout=DEADLINE_S)
        assert refused.value.response.status_code == 429


def test_a_ping_frame_is_answered_with_a_pong_and_runs_nothing(
    server: WebSocketServer, connection_function: Recorder
) -> None:
    with connect(f"{server.url}?token=t", open_timeout=DEADLINE_S) as socket:
        assert socket.ping(b"are you there").wait(timeout=DEADLINE_S)
    assert [event["requestContext"]["eventType"] for event in connection_function.events][:1] == ["CONNECT"]
    assert "MESSAGE" not in {event["requestContext"]["eventType"] for event in connection_function.events}


def test_sockets_open_and_are_answered_while_a_mass_of_disconnects_is_still_running(api: WebSocketApiSpec) -> None:
    # GIVEN a connection function whose $disconnects hang (a storm's thousands of sockets closing at once)
    gate = threading.Event()

    def answer(event: Mapping[str, Any]) -> dict[str, Any]:
        if event["requestContext"]["eventType"] == "DISCONNECT":
            gate.wait(DEADLINE_S)
        return {"statusCode": 200, "body": "reply"}

    function = Recorder(answer)
    closing = 80  # more than all the server's invocation threads
    unthrottled = replace(api, stage=replace(api.stage, throttling_rate_limit=None, throttling_burst_limit=None))
    with _server(unthrottled, function) as server:
        try:
            for _ in range(closing):
                with connect(f"{server.url}?token=t", open_timeout=DEADLINE_S):
                    pass
            with function.changed:
                hung = function.changed.wait_for(
                    lambda: sum(e["requestContext"]["eventType"] == "DISCONNECT" for e in function.events) > 0,
                    timeout=DEADLINE_S,
                )
            assert hung
            # WHEN a new socket opens and sends a message meanwhile
            with connect(f"{server.url}?token=t", open_timeout=DEADLINE_S) as socket:
                socket.send(json.dumps({"action": "hold", "room_id": "r_1"}))
                # THEN it is connected and answered, without waiting for the disconnects
                assert socket.recv(timeout=DEADLINE_S) == "reply"
        finally:
            gate.set()
