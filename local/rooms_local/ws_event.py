"""API Gateway WebSocket APIs as Lambda sees them: the REQUEST authorizer event of a `$connect`, the proxy
events of CONNECT, MESSAGE and DISCONNECT, the authorizer's policy, and route selection.

Pure: ids and times are arguments, so each shape is tested as a value (the server passes new ones).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "AuthorizerDenied",
    "AuthorizerMisconfigured",
    "Connection",
    "Handshake",
    "authorizer_context",
    "authorizer_event",
    "connect_event",
    "disconnect_event",
    "error_frame",
    "identity_value",
    "message_event",
    "new_id",
    "select_route",
]

_INVOKE_ACTIONS = ("execute-api:Invoke", "execute-api:*", "*")


class AuthorizerDenied(Exception):
    """The policy does not allow the connect (API Gateway answers 403)."""


class AuthorizerMisconfigured(Exception):
    """The authorizer's answer is not a policy API Gateway can use (it answers 500)."""


@dataclass(frozen=True)
class Handshake:
    """The opening handshake's request, as received."""

    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]  # repeated names allowed
    source_ip: str

    @property
    def user_agent(self) -> str:
        return next((value for name, value in self.headers if name.lower() == "user-agent"), "")


@dataclass(frozen=True)
class Connection:
    """What every event of one connection shares."""

    api_id: str
    stage: str
    account_id: str
    region: str
    connection_id: str
    connected_at_ms: int
    domain_name: str
    source_ip: str
    user_agent: str

    @property
    def connect_arn(self) -> str:
        return f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{self.stage}/$connect"


def new_id() -> str:
    """An id in the form API Gateway's connection and request ids take (16 characters, base64)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def _request_time(now_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000))


def _context(
    connection: Connection, route_key: str, event_type: str, *, request_id: str, now_ms: int, identity: dict[str, str]
) -> dict[str, Any]:
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": _request_time(now_ms),
        "messageDirection": "IN",
        "stage": connection.stage,
        "connectedAt": connection.connected_at_ms,
        "requestTimeEpoch": now_ms,
        "identity": identity,
        "requestId": request_id,
        "domainName": connection.domain_name,
        "connectionId": connection.connection_id,
        "apiId": connection.api_id,
    }


def _multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """REST-style single and multi-value maps: the single one holds the last value."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _request_parts(handshake: Handshake, request_id: str, now_ms: int) -> dict[str, Any]:
    """Headers (with those API Gateway adds) and the query string, in both forms."""
    received = {name.lower() for name, _ in handshake.headers}
    trace = hashlib.sha256(request_id.encode()).hexdigest()[:24]
    added = [
        ("X-Amzn-Trace-Id", f"Root=1-{now_ms // 1000:08x}-{trace}"),
        ("X-Forwarded-For", handshake.source_ip),
        ("X-Forwarded-Port", next((v.rpartition(":")[2] for n, v in handshake.headers if n.lower() == "host"), "80")),
        ("X-Forwarded-Proto", "http"),
    ]
    headers, multi_headers = _multi([*handshake.headers, *(pair for pair in added if pair[0].lower() not in received)])
    parts: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
    query, multi_query = _multi(parse_qsl(handshake.raw_query, keep_blank_values=True))
    if query:
        parts["queryStringParameters"] = query
        parts["multiValueQueryStringParameters"] = multi_query
    return parts


def identity_value(source: str, handshake: Handshake) -> str | None:
    """The value of an identity source (`route.request.querystring.token`, `route.request.header.Auth`),
    or None when it is missing or empty: API Gateway then refuses with 401 without calling the authorizer."""
    _, _, rest = source.partition("route.request.")
    kind, _, name = rest.partition(".")
    if kind == "querystring":
        values = [value for key, value in parse_qsl(handshake.raw_query, keep_blank_values=True) if key == name]
    else:
        values = [value for key, value in handshake.headers if key.lower() == name.lower()]
    return ",".join(values) if any(values) else None


def authorizer_event(handshake: Handshake, connection: Connection, *, request_id: str, now_ms: int) -> dict[str, Any]:
    """The REQUEST authorizer's input for a `$connect` (its methodArn ends with `$connect`)."""
    identity = {"userAgent": connection.user_agent, "sourceIp": connection.source_ip}
    return {
        "type": "REQUEST",
        "methodArn": connection.connect_arn,
        **_request_parts(handshake, request_id, now_ms),
        "stageVariables": {},
        "requestContext": _context(
            connection, "$connect", "CONNECT", request_id=request_id, now_ms=now_ms, identity=identity
        ),
    }


def authorizer_context(result: Any, method_arn: str, integration_latency_ms: int) -> dict[str, Any]:
    """`requestContext.authorizer` of the connection's events from the authorizer's answer: its context
    (values as strings), its principalId and the latency. AuthorizerDenied when the policy does not allow `method_arn`,
    AuthorizerMisconfigured when the answer is not a policy."""
    if not isinstance(result, Mapping) or not isinstance(result.get("principalId"), str):
        raise AuthorizerMisconfigured("the authorizer's answer has no principalId")
    statements = (result.get("policyDocument") or {}).get("Statement")
    if not isinstance(statements, list):
        raise AuthorizerMisconfigured("the authorizer's answer has no policyDocument.Statement list")
    context = result.get("context") or {}
    if not isinstance(context, Mapping) or not all(
        isinstance(value, str | int | float | bool) for value in context.values()
    ):
        raise AuthorizerMisconfigured("the authorizer's context holds values that are not strings, numbers or booleans")
    effects = {str(statement.get("Effect")) for statement in statements if _matches(statement, method_arn)}
    if "Deny" in effects or "Allow" not in effects:
        raise AuthorizerDenied(f"the policy does not allow {method_arn}")
    # API Gateway hands the context on as strings ("1", "true"), the latency as a number
    values = {key: _context_text(value) for key, value in context.items()}
    return {**values, "principalId": result["principalId"], "integrationLatency": integration_latency_ms}


def _context_text(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _listed(value: Any) -> list[str]:
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


def _matches(statement: Mapping[str, Any], method_arn: str) -> bool:
    if not any(action in _INVOKE_ACTIONS for action in _listed(statement.get("Action"))):
        return False
    return any(_wildcard(resource).fullmatch(method_arn) for resource in _listed(statement.get("Resource")))


def connect_event(
    handshake: Handshake, connection: Connection, authorizer: Mapping[str, Any] | None, *, request_id: str, now_ms: int
) -> dict[str, Any]:
    identity = {"userAgent": connection.user_agent, "sourceIp": connection.source_ip}
    context = _context(connection, "$connect", "CONNECT", request_id=request_id, now_ms=now_ms, identity=identity)
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return {**_request_parts(handshake, request_id, now_ms), "requestContext": context, "isBase64Encoded": False}


def message_event(
    connection: Connection,
    route_key: str,
    data: str | bytes,
    authorizer: Mapping[str, Any] | None,
    *,
    request_id: str,
    message_id: str,
    now_ms: int,
) -> dict[str, Any]:
    """A text frame reaches Lambda as `body`; a binary one base64 encoded."""
    context = _context(
        connection,
        route_key,
        "MESSAGE",
        request_id=request_id,
        now_ms=now_ms,
        identity={"sourceIp": connection.source_ip},
    )
    context["messageId"] = message_id
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    binary = isinstance(data, bytes)
    body = base64.b64encode(data).decode() if isinstance(data, bytes) else data
    return {"requestContext": context, "body": body, "isBase64Encoded": binary}


def disconnect_event(
    connection: Connection,
    authorizer: Mapping[str, Any] | None,
    status_code: int,
    reason: str,
    *,
    request_id: str,
    now_ms: int,
) -> dict[str, Any]:
    identity = {"userAgent": connection.user_agent, "sourceIp": connection.source_ip}
    context = _context(connection, "$disconnect", "DISCONNECT", request_id=request_id, now_ms=now_ms, identity=identity)
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    # what API Gateway sends with a disconnect: no request, so none of the client's headers
    headers = {"Host": connection.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def select_route(data: str | bytes, field: str, route_keys: Iterable[str]) -> str | None:
    """The route `$request.body.<field>` selects: the field's value when a route has that key, else
    `$default` (non-JSON and binary frames too), or None when there is no `$default` either."""
    keys = set(route_keys)
    selected = None
    if isinstance(data, str):
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        value = body.get(field) if isinstance(body, dict) else None
        selected = value if isinstance(value, str) and value not in ("$connect", "$disconnect") else None
    if selected in keys:
        return selected
    return "$default" if "$default" in keys else None


def error_frame(message: str, connection_id: str, request_id: str) -> str:
    """What API Gateway sends back when it cannot take a message ("Forbidden", "Internal server error")."""
    return json.dumps({"message": message, "connectionId": connection_id, "requestId": request_id})
