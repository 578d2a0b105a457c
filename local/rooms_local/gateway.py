"""A local API Gateway HTTP API: routes from the template, the JWT authorizer, Lambda proxy integration.

All the template's HTTP APIs are served from one address; routes match as in API Gateway: literal
segments before `{variables}`, variables before greedy `{proxy+}`, a method before ANY, `$default`
last.
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

import jwt

from .http_event import HttpRequest, HttpResponse, build_event, json_response, proxy_response
from .naming import DEFAULT_ACCOUNT
from .template import HttpApiSpec, HttpRoute
from .tokens import AUDIENCE, ISSUER, claims_as_strings, scopes, verify_token

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
        for compiled in self._routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.fullmatch(path)
            if found:
                return compiled.route, {n: unquote(v) for n, v in zip(compiled.names, found.groups(), strict=True)}
        return (self._default, {}) if self._default else None


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
        self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        # Invocations run beside the request thread so the integration timeout can answer 503.
        self._invocations = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="gw")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="rooms-local-gateway", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._invocations.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def handle(self, request: HttpRequest) -> HttpResponse:
        """One request, end to end, without sockets (the HTTP server only calls this)."""
        matched = self.router.match(request.method, request.raw_path)
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
        except Exception:
            # Handler errors, timeouts, throttles and malformed results all look like this to clients.
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
    value: str | None = None
    if kind == "header":
        value = next((v for k, v in request.headers if k.lower() == name.lower()), None)
    elif kind == "querystring":
        value = next((v for k, v in parse_qsl(request.raw_query, keep_blank_values=True) if k == name), None)
    if value is None:
        return None
    # The authorizer takes the token with or without the Bearer scheme.
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else value.strip()


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients expect of API Gateway

        def _serve(self) -> None:
            started = time.perf_counter()
            path, _, query = self.path.partition("?")
            request = HttpRequest(
                method=self.command,
                raw_path=path,
                raw_query=query,
                headers=list(self.headers.items()),
                body=self._body(),
                source_ip=self.client_address[0],
            )
            try:
                response = gateway.handle(request)
            except Exception:
                log.exception("%s %s: the local gateway failed", self.command, self.path)
                response = json_response(500, {"message": "Internal Server Error"})
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s -> %d (%.0f ms)", self.command, self.path, response.status, elapsed)

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after each chunk
                while self.rfile.readline().strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)  # the access line is logged above, with the duration

    return Handler
