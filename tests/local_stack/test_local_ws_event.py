"""The WebSocket events the local API sends to Lambda, as values: the shapes API Gateway documents."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from rooms_local.ws_event import (
    AuthorizerDenied,
    AuthorizerMisconfigured,
    Connection,
    Handshake,
    authorizer_context,
    authorizer_event,
    connect_event,
    disconnect_event,
    error_frame,
    identity_value,
    message_event,
    new_id,
    select_route,
)

NOW_MS = 1_796_220_000_123  # 2026-12-02T14:00:00.123Z
CONNECTION = Connection(
    api_id="rooms-local-WebSocketApi",
    stage="dev",
    account_id="123456789012",
    region="us-east-1",
    connection_id="Z2l2ZW4taWQtMTI=",
    connected_at_ms=NOW_MS - 5000,
    domain_name="127.0.0.1:8081",
    source_ip="127.0.0.1",
    user_agent="python-websockets/17.4",
)
HANDSHAKE = Handshake(
    raw_path="/dev",
    raw_query="token=abc&tag=a&tag=b",
    headers=[
        ("Host", "127.0.0.1:8081"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "k"),
        ("Sec-WebSocket-Version", "13"),
        ("User-Agent", "python-websockets/17.4"),
    ],
    source_ip="127.0.0.1",
)
ARN = "arn:aws:execute-api:us-east-1:123456789012:rooms-local-WebSocketApi/dev/$connect"


def _policy(effect: str, resource: Any = ARN, action: Any = "execute-api:Invoke", **extra: Any) -> dict[str, Any]:
    statement = {"Action": action, "Effect": effect, "Resource": resource}
    return {"principalId": "u-1", "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}, **extra}


def test_the_authorizer_event_is_a_request_event_for_connect() -> None:
    event = authorizer_event(HANDSHAKE, CONNECTION, request_id="req-1", now_ms=NOW_MS)
    assert (event["type"], event["methodArn"]) == ("REQUEST", ARN)
    # headers as received, plus what API Gateway adds; the last value single, all of them multi
    assert event["headers"]["Host"] == "127.0.0.1:8081"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["headers"]["X-Forwarded-Port"] == "8081"
    assert event["headers"]["X-Amzn-Trace-Id"].startswith(f"Root=1-{NOW_MS // 1000:08x}-")
    assert event["multiValueHeaders"]["Upgrade"] == ["websocket"]
    assert event["queryStringParameters"] == {"token": "abc", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"token": ["abc"], "tag": ["a", "b"]}
    assert event["stageVariables"] == {}
    context = event["requestContext"]
    assert {key: context[key] for key in ("routeKey", "eventType", "messageDirection", "stage", "apiId")} == {
        "routeKey": "$connect",
        "eventType": "CONNECT",
        "messageDirection": "IN",
        "stage": "dev",
        "apiId": "rooms-local-WebSocketApi",
    }
    assert (context["connectionId"], context["connectedAt"]) == (CONNECTION.connection_id, NOW_MS - 5000)
    assert (context["requestId"], context["extendedRequestId"], context["requestTimeEpoch"]) == (
        "req-1",
        "req-1",
        NOW_MS,
    )
    assert context["requestTime"] == "02/Dec/2026:14:00:00 +0000"
    assert context["identity"] == {"userAgent": "python-websockets/17.4", "sourceIp": "127.0.0.1"}
    assert context["domainName"] == "127.0.0.1:8081"
    assert "authorizer" not in context


def test_the_connect_event_carries_the_authorizer_context() -> None:
    authorizer = {"user_id": "u-1", "principalId": "u-1", "integrationLatency": 12}
    event = connect_event(HANDSHAKE, CONNECTION, authorizer, request_id="req-2", now_ms=NOW_MS)
    assert event["requestContext"]["authorizer"] == authorizer
    assert event["requestContext"]["eventType"] == "CONNECT"
    assert event["isBase64Encoded"] is False
    assert "body" not in event and "type" not in event and "methodArn" not in event
    assert event["queryStringParameters"]["token"] == "abc"


def test_a_connect_without_a_query_has_no_query_parameters() -> None:
    event = connect_event(
        Handshake("/dev", "", HANDSHAKE.headers, "127.0.0.1"), CONNECTION, None, request_id="r", now_ms=NOW_MS
    )
    assert "queryStringParameters" not in event and "multiValueQueryStringParameters" not in event
    assert "authorizer" not in event["requestContext"]


def test_a_text_frame_is_the_body_and_a_binary_one_is_base64() -> None:
    text = message_event(
        CONNECTION,
        "$default",
        '{"action":"hold"}',
        {"principalId": "u-1"},
        request_id="r",
        message_id="m",
        now_ms=NOW_MS,
    )
    assert (text["body"], text["isBase64Encoded"]) == ('{"action":"hold"}', False)
    context = text["requestContext"]
    assert (context["eventType"], context["routeKey"], context["messageId"]) == ("MESSAGE", "$default", "m")
    assert context["authorizer"] == {"principalId": "u-1"}
    assert context["identity"] == {"sourceIp": "127.0.0.1"}
    binary = message_event(CONNECTION, "$default", b"\x00\xff", None, request_id="r", message_id="m", now_ms=NOW_MS)
    assert (base64.b64decode(binary["body"]), binary["isBase64Encoded"]) == (b"\x00\xff", True)


def test_the_disconnect_event_has_the_close_code_and_reason() -> None:
    event = disconnect_event(CONNECTION, {"principalId": "u-1"}, 1001, "Going away", request_id="r", now_ms=NOW_MS)
    context = event["requestContext"]
    assert (context["routeKey"], context["eventType"]) == ("$disconnect", "DISCONNECT")
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1001, "Going away")
    assert context["authorizer"] == {"principalId": "u-1"}
    assert event["headers"]["Host"] == "127.0.0.1:8081"
    assert "Sec-WebSocket-Key" not in event["headers"]
    assert "body" not in event


@pytest.mark.parametrize(
    ("source", "query", "headers", "expected"),
    [
        ("route.request.querystring.token", "token=abc", [], "abc"),
        ("route.request.querystring.token", "", [], None),
        ("route.request.querystring.token", "token=", [], None),
        ("route.request.querystring.token", "other=1", [], None),
        ("route.request.header.Auth", "", [("auth", "xyz")], "xyz"),
        ("route.request.header.Auth", "", [], None),
    ],
)
def test_an_identity_source_is_missing_when_absent_or_empty(
    source: str, query: str, headers: list[tuple[str, str]], expected: str | None
) -> None:
    assert identity_value(source, Handshake("/dev", query, headers, "127.0.0.1")) == expected


def test_an_allowing_policy_gives_its_context_and_principal() -> None:
    result = _policy("Allow", context={"user_id": "u-1", "admin": False, "n": 2})
    assert authorizer_context(result, ARN, 7) == {
        "user_id": "u-1",
        "admin": "false",  # context values reach the functions as strings
        "n": "2",
        "principalId": "u-1",
        "integrationLatency": 7,
    }


@pytest.mark.parametrize(
    "resource",
    [ARN, "arn:aws:execute-api:us-east-1:123456789012:rooms-local-WebSocketApi/*", "*", ["x", ARN]],
)
def test_a_policy_resource_matches_with_wildcards(resource: Any) -> None:
    assert authorizer_context(_policy("Allow", resource), ARN, 0)["principalId"] == "u-1"


@pytest.mark.parametrize(
    "result",
    [
        _policy("Deny"),
        _policy("Allow", resource="arn:aws:execute-api:us-east-1:123456789012:other/dev/$connect"),
        _policy("Allow", action="dynamodb:GetItem"),
        {
            "principalId": "u-1",
            "policyDocument": {
                "Statement": [
                    {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN},
                    {"Action": "execute-api:*", "Effect": "Deny", "Resource": "*"},
                ]
            },
        },
    ],
)
def test_a_policy_that_does_not_allow_the_connect_denies_it(result: dict[str, Any]) -> None:
    with pytest.raises(AuthorizerDenied):
        authorizer_context(result, ARN, 0)


@pytest.mark.parametrize(
    "result",
    [
        None,
        {"policyDocument": {"Statement": []}},  # no principalId
        {"principalId": "u-1"},  # no policy
        _policy("Allow", context={"nested": {"a": 1}}),  # context values are scalars
    ],
)
def test_an_answer_that_is_not_a_policy_is_a_misconfiguration(result: Any) -> None:
    with pytest.raises(AuthorizerMisconfigured):
        authorizer_context(result, ARN, 0)


ROUTES = ("$default", "ping", "hold")


@pytest.mark.parametrize(
    ("data", "routes", "expected"),
    [
        ('{"action": "ping"}', ROUTES, "ping"),
        ('{"action": "hold", "room_id": "r"}', ROUTES, "hold"),
        ('{"action": "nope"}', ROUTES, "$default"),
        ('{"action": 3}', ROUTES, "$default"),
        ('{"action": "$connect"}', (*ROUTES, "$connect"), "$default"),
        ("not json", ROUTES, "$default"),
        ('["action"]', ROUTES, "$default"),
        (b'{"action": "ping"}', ROUTES, "$default"),  # binary frames are not parsed
        ('{"action": "nope"}', ("ping",), None),  # no $default: API Gateway answers Forbidden
    ],
)
def test_route_selection_by_the_body_field(data: str | bytes, routes: tuple[str, ...], expected: str | None) -> None:
    assert select_route(data, "action", routes) == expected


def test_an_error_frame_names_the_connection_and_request() -> None:
    assert json.loads(error_frame("Forbidden", "c", "r")) == {
        "message": "Forbidden",
        "connectionId": "c",
        "requestId": "r",
    }


def test_ids_are_sixteen_characters_that_travel_in_a_url_path() -> None:
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(value) == 16 and "/" not in value and "+" not in value for value in ids)
