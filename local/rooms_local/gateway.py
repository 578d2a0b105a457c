"""A local API Gateway HTTP API: routes from the template, the JWT authorizer, Lambda proxy integration.

All the template's HTTP APIs are served from one address; routes match as in API Gateway: literal
segments before `{variables}`, variables before greedy `{proxy+}`, a method before ANY, `$default`
last.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl

import jwt

from .http_event import (
    HttpRequest,
    HttpResponse,
    build_event,
    decode_path,
    decode_path_parameter,
    json_response,
    proxy_response,
)
from .http_server import IDLE_TIMEOUT_S, MAX_BODY_BYTES, HttpServer
from .lambda_pool import RequestTooLarge
from .naming import DEFAULT_ACCOUNT
from .template import HttpApiSpec, HttpRoute
from .tokens import AUDIENCE, ISSUER, JWKS_PATH, claims_as_strings, jwks, scopes, verify_token

log = logging.getLogger(__name__)
_JwtContext = tuple[dict[str, str], list[str] | None]  # claims as strings, scopes
_VARIABLE = re.compile(r"^\{([^{}+]+)(\+?)\}$")


class Invoker(Protocol):
    def invoke(self, event: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class _Compiled:
    route: HttpRoute
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    rank: tuple[int, ...]


def _compile(route: HttpRoute) -> _Compiled:
    parts, names, rank = [], [], []
    for segment in route.path.strip("/").split("/") if route.path != "/" else []:
        variable = _VARIABLE.match(segment)
        if variable is None:
            parts.append(re.escape(segment))
            rank.append(0)
        elif variable.group(2):
            parts.append("(.+)")
            names.append(variable.group(1))
            rank.append(2)
        else:
            parts.append("([^/]+)")
            names.append(variable.group(1))
            rank.append(1)
    pattern = re.compile("/" + "/".join(parts))
    # Most specific first: literal < variable < greedy, segment by segment; then a method before ANY.
    return _Compiled(route, pattern, tuple(names), (*rank, 3, int(route.method == "ANY")))


class Router:
    def __init__(self, routes: Iterable[HttpRoute]):
        routes = list(routes)
        self._default = next((route for route in routes if route.path == "$default"), None)
        self._routes = sorted((_compile(r) for r in routes if r.path != "$default"), key=lambda c: c.rank)

    def match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        """The route for `path` (still percent-encoded, so an encoded `/` stays inside its segment)
        and its path parameters, decoded; ValueError when a parameter cannot be decoded."""
        for compiled in self._routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.fullmatch(path)
            if found:
                values = found.groups()
                return compiled.route, {
                    n: decode_path_parameter(v) for n, v in zip(compiled.names, values, strict=True)
                }
        return (self._default, {}) if self._default else None


def _bad_request() -> HttpResponse:
    return json_response(400, {"message": "Bad Request"})


def _unauthorized(description: str | None) -> HttpResponse:
    challenge = "Bearer" if description is None else f'Bearer error="invalid_token" error_description="{description}"'
    return json_response(401, {"message": "Unauthorized"}, [("www-authenticate", challenge)])


class Gateway:
    """Serves `routes` on host:port (0 = a free port) and invokes `functions[route.function_id]`."""

    def __init__(
        self,
        routes: Iterable[HttpRoute],
        http_apis: Mapping[str, HttpApiSpec],
        functions: Mapping[str, Invoker],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = DEFAULT_ACCOUNT,
        issuer: str = ISSUER,
        audiences: tuple[str, ...] = (AUDIENCE,),
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ):
        routes = list(routes)
        for route in routes:
            if route.payload_format_version != "2.0":
                log.warning(
                    "%s: payload format %s is sent as 2.0 locally", route.route_key, route.payload_format_version
                )
        self.router = Router(routes)
        self.http_apis = http_apis
        self.functions = functions
        self.account_id = account_id
        self.issuer = issuer
        self.audiences = audiences
        self._server = HttpServer(self.handle, host=host, port=port, idle_timeout_s=idle_timeout_s)
        # Invocations run beside the request thread so the integration timeout can answer 503.
        self._invocations = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="gw")

    @property
    def url(self) -> str:
        host, port = self._server.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
        self._invocations.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle(self, request: HttpRequest) -> HttpResponse:
        """One request, end to end, without sockets (the HTTP server only calls this)."""
        if len(request.body) > MAX_BODY_BYTES:  # the server refuses these before reading them
            return json_response(413, {"message": "Request Entity Too Large"})
        if request.method == "GET" and request.raw_path == JWKS_PATH:
            # the local token issuer's keys, for functions that verify tokens themselves (a REQUEST authorizer)
            return json_response(200, jwks())
        try:
            decode_path(request.raw_path)
            matched = self.router.match(request.method, request.raw_path)
        except ValueError:
            return _bad_request()  # a malformed percent-escape, refused before routing
        if matched is None:
            return json_response(404, {"message": "Not Found"})
        route, path_parameters = matched
        jwt_context = None
        if route.authorizer is not None:
            authorized = self._authorize(route, request)
            if isinstance(authorized, HttpResponse):
                return authorized
            jwt_context = authorized
        event = build_event(
            request, route, path_parameters, api_id=route.api_id, account_id=self.account_id, jwt=jwt_context
        )
        request_id = event["requestContext"]["requestId"]
        function = self.functions.get(route.function_id)
        if function is None:
            log.error("%s: %s does not run locally (no local CodeUri)", route.route_key, route.function_id)
            return json_response(500, {"message": "Internal Server Error"})
        future = self._invocations.submit(function.invoke, event)
        try:
            response = proxy_response(future.result(timeout=route.timeout_ms / 1000))
        except concurrent.futures.TimeoutError:
            log.error("%s: no response within %d ms", route.route_key, route.timeout_ms)
            response = json_response(503, {"message": "Service Unavailable"})
        except RequestTooLarge:
            # The event passes API Gateway's 10 MB but not Lambda's 6 MB invoke limit (base64 adds a third).
            log.error("%s: the event is over Lambda's request payload limit", route.route_key)
            response = json_response(413, {"message": "Request Entity Too Large"})
        except Exception:
            # Handler errors, throttles, oversized (over 6 MB) and malformed results all look like this.
            log.exception("%s -> %s failed", route.route_key, route.function_id)
            response = json_response(500, {"message": "Internal Server Error"})
        response.headers.append(("apigw-requestid", request_id))
        return response

    def _authorize(
        self, route: HttpRoute, request: HttpRequest
    ) -> HttpResponse | tuple[dict[str, str], list[str] | None]:
        authorizer = self.http_apis[route.api_id].authorizers[route.authorizer or ""]
        if authorizer.kind != "jwt":
            log.error("%s: only JWT authorizers run locally, not %s", route.route_key, authorizer.name)
            return json_response(500, {"message": "Internal Server Error"})
        token = _identity(authorizer.identity_source, request)
        if not token:
            return _unauthorized(None)
        try:
            claims = verify_token(token, issuer=self.issuer, audiences=self.audiences)
        except jwt.InvalidTokenError as error:
            return _unauthorized(str(error))
        granted = scopes(claims)
        if route.scopes and not set(route.scopes) & set(granted or ()):
            return json_response(403, {"message": "Forbidden"})
        return claims_as_strings(claims), granted


def _identity(source: str, request: HttpRequest) -> str | None:
    kind, _, name = source.removeprefix("$request.").partition(".")
    values: list[str] = []
    if kind == "header":
        values = [v for k, v in request.headers if k.lower() == name.lower()]
    elif kind == "querystring":
        values = [v for k, v in parse_qsl(request.raw_query, keep_blank_values=True) if k == name]
    if not values:
        return None
    # Repeated values reach the authorizer comma-joined, as in the event: two tokens are no token.
    value = ",".join(values)
    # The authorizer takes the token with or without the Bearer scheme.
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else value.strip()
