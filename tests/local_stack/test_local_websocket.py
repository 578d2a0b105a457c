"""The local WebSocket API end to end: a test template's REQUEST authorizer (verifying dev tokens with
the local JWKS) and connection function, the `websockets` client, and botocore's @connections client.
Needs Java (DynamoDB Local)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from rooms_local import LocalStack, mint_token
from tests.local_stack.records import written_records

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("local_websocket")]
TEMPLATE = Path(__file__).parent / "data" / "websocket" / "template.yaml"
IDLE_TIMEOUT_S = 4.0
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("websocket") / "events.jsonl"


@pytest.fixture(scope="module")
def stack(needs_java: None, records: Path) -> Iterator[LocalStack]:
    with LocalStack(
        TEMPLATE,
        stack_name="ws",
        pollers=False,
        environment={"RECORDS_FILE": str(records)},
        ws_idle_timeout=IDLE_TIMEOUT_S,
    ) as running:
        yield running


def _events(records: Path) -> list[dict[str, Any]]:
    return written_records(records)


def _wait_for(found: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while not (value := found()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {DEADLINE_S} s")
        time.sleep(0.05)
    return value


def _event_of(records: Path, connection_id: str, event_type: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next(
            (
                event
                for event in _events(records)
                if event["requestContext"]["connectionId"] == connection_id
                and event["requestContext"]["eventType"] == event_type
            ),
            None,
        )

    return dict(_wait_for(found, f"{event_type} event of {connection_id}"))


def _open(stack: LocalStack, user: str = "u-1", query: str = "") -> ClientConnection:
    return connect(f"{stack.ws_url}?token={mint_token(user)}{query}", open_timeout=DEADLINE_S)


def _management(stack: LocalStack) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.connections_url,
        region_name=stack.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_the_websocket_url_is_the_stage_and_the_functions_see_the_local_connections_endpoint(
    stack: LocalStack,
) -> None:
    # GIVEN the template's stage "live", its WebSocketUrl output and a function's wss/https URL variable
    # THEN both point at the local servers, not at execute-api
    assert stack.ws_url.startswith("ws://127.0.0.1:") and stack.ws_url.endswith("/live")
    assert stack.template.outputs["WebSocketUrl"] == stack.ws_url
    assert stack.function_env("ConnectionFunction")["WS_ENDPOINT"] == stack.connections_url
    # AND the authorizer is deployed with the local issuer, whose key set the gateway serves
    env = stack.function_env("AuthorizerFunction")
    assert (env["JWT_ISSUER"], env["JWT_AUDIENCE"]) == ("rooms-local", "rooms-local")
    keys = httpx.get(env["JWKS_URL"]).json()["keys"]
    assert [(key["kty"], key["kid"], key["alg"]) for key in keys] == [("oct", "rooms-local", "HS256")]


def test_a_connect_runs_the_authorizer_and_connect_and_a_message_gets_the_route_response(
    stack: LocalStack, records: Path
) -> None:
    # GIVEN a client connected with a dev token
    with _open(stack, "u-echo") as socket:
        # WHEN it sends a message no route key matches
        socket.send(json.dumps({"action": "hello", "n": 1}))
        # THEN $default ran with the authorizer's context and its body came back on the socket
        reply = json.loads(socket.recv(timeout=DEADLINE_S))
    assert reply["route"] == "$default"
    assert json.loads(reply["body"]) == {"action": "hello", "n": 1}
    assert reply["user"] == "u-echo"
    message = next(event for event in _events(records) if event.get("body") == json.dumps({"action": "hello", "n": 1}))
    context = message["requestContext"]
    assert (context["eventType"], context["routeKey"], context["messageDirection"]) == ("MESSAGE", "$default", "IN")
    assert context["authorizer"]["principalId"] == "u-echo"
    assert context["authorizer"]["user_id"] == "u-echo"
    connect_event = _event_of(records, context["connectionId"], "CONNECT")
    assert connect_event["requestContext"]["routeKey"] == "$connect"
    assert connect_event["requestContext"]["authorizer"]["principalId"] == "u-echo"
    assert connect_event["queryStringParameters"]["token"]
    assert connect_event["requestContext"]["connectedAt"] == context["connectedAt"]


def test_a_mock_route_is_absorbed_and_a_route_without_response_sends_nothing_back(
    stack: LocalStack, records: Path
) -> None:
    with _open(stack, "u-ping") as socket:
        # WHEN the client sends a ping (MOCK), a quiet message (no route response), then one with a reply
        socket.send(json.dumps({"action": "ping"}))
        socket.send(json.dumps({"action": "quiet"}))
        socket.send(json.dumps({"action": "last"}))
        # THEN the only frame that comes back is the last message's reply
        reply = json.loads(socket.recv(timeout=DEADLINE_S))
    assert json.loads(reply["body"]) == {"action": "last"}
    routes = [event["requestContext"]["routeKey"] for event in _events(records) if "u-ping" in json.dumps(event)]
    assert "quiet" in routes and "ping" not in routes


def test_connections_post_delivers_a_frame_get_describes_and_delete_closes(stack: LocalStack, records: Path) -> None:
    management = _management(stack)
    with _open(stack, "u-push") as socket:
        socket.send(json.dumps({"action": "quiet", "who": "u-push"}))
        connection_id = _wait_for(
            lambda: next(
                (e["requestContext"]["connectionId"] for e in _events(records) if "u-push" in e.get("body", "")), None
            ),
            "quiet message",
        )
        # WHEN something posts to the connection
        management.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"ticket.seated"}')
        # THEN it arrives as one text frame
        assert socket.recv(timeout=DEADLINE_S) == '{"type":"ticket.seated"}'
        # AND a function reaches the connection through its own endpoint variable
        socket.send(json.dumps({"action": "push"}))
        assert json.loads(socket.recv(timeout=DEADLINE_S)) == {"pushed": True}
        described = management.get_connection(ConnectionId=connection_id)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        assert described["ConnectedAt"] <= described["LastActiveAt"]
        # WHEN it is deleted, THEN the socket closes and $disconnect runs
        management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            socket.recv(timeout=DEADLINE_S)
    disconnect = _event_of(records, connection_id, "DISCONNECT")
    assert disconnect["requestContext"]["routeKey"] == "$disconnect"
    # AND the connection is gone for the management API
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")


def test_an_unknown_connection_is_gone(stack: LocalStack) -> None:
    management = _management(stack)
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId="bm9uZS1zdWNoLWlk", Data=b"x")
    with pytest.raises(management.exceptions.GoneException):
        management.get_connection(ConnectionId="bm9uZS1zdWNoLWlk")


@pytest.mark.parametrize(
    ("url_tail", "status"),
    [
        ("", 401),  # no token: refused before the authorizer runs
        ("?token=", 401),
        ("?token=forged.token.value", 401),  # the authorizer raises "Unauthorized"
        ("?token=deny", 403),  # the authorizer's policy denies
    ],
)
def test_a_connect_without_a_valid_token_is_refused(stack: LocalStack, url_tail: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{stack.ws_url}{url_tail}", open_timeout=DEADLINE_S)
    assert refused.value.response.status_code == status


def test_a_connect_the_function_refuses_is_refused(stack: LocalStack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        _open(stack, "u-refused", "&refuse=1")
    assert refused.value.response.status_code == 403


def test_a_client_close_runs_disconnect_with_its_code(stack: LocalStack, records: Path) -> None:
    with _open(stack, "u-close") as socket:
        socket.send(json.dumps({"action": "quiet", "who": "u-close"}))
        connection_id = _wait_for(
            lambda: next(
                (e["requestContext"]["connectionId"] for e in _events(records) if "u-close" in e.get("body", "")), None
            ),
            "quiet message",
        )
        socket.close(code=4000, reason="bye")
    context = _event_of(records, connection_id, "DISCONNECT")["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (4000, "bye")
    assert context["authorizer"]["user_id"] == "u-close"


def test_an_idle_connection_is_closed_going_away(stack: LocalStack, records: Path) -> None:
    # GIVEN a stack whose idle timeout is a few seconds: a silent client is closed with 1001
    with _open(stack, "u-idle") as socket:
        socket.send(json.dumps({"action": "quiet", "who": "u-idle"}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=DEADLINE_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    connection_id = _wait_for(
        lambda: next(
            (e["requestContext"]["connectionId"] for e in _events(records) if "u-idle" in e.get("body", "")), None
        ),
        "quiet message",
    )
    assert _event_of(records, connection_id, "DISCONNECT")["requestContext"]["disconnectStatusCode"] == 1001


def test_a_failing_function_answers_an_error_frame(stack: LocalStack) -> None:
    with _open(stack, "u-boom") as socket:
        socket.send(json.dumps({"action": "boom"}))
        reply = json.loads(socket.recv(timeout=DEADLINE_S))
    assert reply["message"] == "Internal server error"
    assert reply["connectionId"] and reply["requestId"]
