"""API Gateway HTTP API payload format 2.0: the event Lambda receives, and the proxy result it returns."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from .template import HttpRoute

# Bodies of these types reach Lambda as text; anything else is base64, as API Gateway does.
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "application/x-www-form")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00\r\n]")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]  # as received, repeated names allowed
    body: bytes
    source_ip: str


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    return HttpResponse(
        status,
        [("content-type", "application/json"), *headers],
        json.dumps(payload, separators=(",", ":")).encode("utf-8"),
    )


def _percent_decode(text: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise ValueError(f"malformed percent-escape in {text!r}")
    return unquote_to_bytes(text).decode("utf-8")  # strict: bytes that are not UTF-8 are refused


def decode_path(raw_path: str) -> str:
    """The path as an HTTP API hands it to Lambda (`rawPath`, `requestContext.http.path`).

    Live captures show HTTP APIs decode the path twice and cut it at a `?` the first pass reveals:
    `/a%20b` -> `/a b`, `/a%2Fb` -> `/a/b`, `/a%3Fb` -> `/a`, `/a%253Fb` -> `/a?b`, `/a%2525` -> `/a%`;
    a malformed escape after either pass (`/a%25zz`) is refused with 400 (ValueError here).
    """
    once = _percent_decode(raw_path).partition("?")[0]
    return _percent_decode(once)


def decode_path_parameter(segment: str) -> str:
    """A `{variable}` value from the still-encoded path, percent-decoded once (`auth0%7Cu1` -> `auth0|u1`)."""
    return _percent_decode(segment)


def _is_text(content_type: str) -> bool:
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    return kind.startswith(_TEXT_TYPES) or kind.endswith(("+json", "+xml"))


def build_event(
    request: HttpRequest,
    route: HttpRoute,
    path_parameters: Mapping[str, str],
    *,
    api_id: str,
    account_id: str,
    jwt: tuple[dict[str, str], list[str] | None] | None = None,
) -> dict[str, Any]:
    """The payload-2.0 event for `request` matched to `route`; `jwt` = (string claims, scopes).

    Raises ValueError when the path cannot be decoded (API Gateway answers 400 before routing)."""
    path = decode_path(request.raw_path)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lower = name.lower()
        if lower == "cookie":  # cookies travel in their own list, not as a header
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-port", headers.get("host", "").rpartition(":")[2] or "80")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}")
    now = time.time()
    request_id = base64.b64encode(secrets.token_bytes(10)).decode().rstrip("=") + "="
    domain = headers.get("host", "localhost")
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": request.method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if jwt is not None:
        context["authorizer"] = {"jwt": {"claims": jwt[0], "scopes": jwt[1]}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = False
    if request.body:
        if _is_text(headers.get("content-type", "")):
            event["body"] = request.body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


def proxy_response(result: Any) -> HttpResponse:
    """Turn the function's result into the HTTP response, with API Gateway's format-2.0 rules.

    Raises ValueError for a result API Gateway cannot use (it answers 500 Internal Server Error)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # No statusCode: the whole result is a JSON body with status 200.
        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], text.encode("utf-8"))
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    # Format 2.0 has no multiValueHeaders (API Gateway ignores them): repeated values are comma-joined.
    headers = [_header(name, value) for name, value in _mapping(result, "headers").items()]
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        raise ValueError("cookies must be a list")
    headers.extend(_header("set-cookie", cookie) for cookie in cookies)
    body = result.get("body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise ValueError(f"body must be a string, not {type(body).__name__}")
    if result.get("isBase64Encoded"):
        try:
            return HttpResponse(status, headers, base64.b64decode(body, validate=True))
        except binascii.Error as error:
            raise ValueError(f"isBase64Encoded body is not base64: {error}") from None
    return HttpResponse(status, headers, body.encode("utf-8"))


def _mapping(result: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = result.get(key) or {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be an object")
    return value


def _header(name: Any, value: Any) -> tuple[str, str]:
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}")
    if isinstance(value, dict | list) or value is None:
        raise ValueError(f"header {name} has a non-scalar value")
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if _HEADER_VALUE_FORBIDDEN.search(text):
        raise ValueError(f"header {name} holds a control character")
    return name, text
