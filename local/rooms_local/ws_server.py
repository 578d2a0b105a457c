"""A local API Gateway WebSocket API: the `websockets` library serves `/<stage>`, and each connection's
handshake, frames and close become the events API Gateway sends to Lambda.

On the opening handshake the REQUEST authorizer runs (a missing identity source is refused with 401
before it is called), then the `$connect` integration; either can refuse the upgrade. Each text or
binary frame is routed by `$request.body.<field>`, and the route's function is invoked; a route with a
route response sends the function's `body` back, a MOCK route absorbs the frame. When the socket closes,
by either side or by API Gateway's idle timeout (10 minutes) or maximum duration (2 hours), `$disconnect`
runs. Frames of one connection are handled in order, one at a time. The stage's DefaultRouteSettings
throttle each route (429 on a connect, a "Too Many Requests" frame for a message).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from .lambda_pool import LambdaError
from .naming import DEFAULT_ACCOUNT, DEFAULT_REGION
from .throttle import TokenBucket
from .websocket_template import WebSocketApiSpec, WebSocketIntegration
from .ws_event import (
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

log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 600.0  # API Gateway closes a connection no frame came in on for 10 minutes
MAX_DURATION_S = 7200.0  # and any connection after 2 hours
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message quota (1009 beyond it)
_GOING_AWAY = (1001, "Going away")
_STATUSES = {status.value for status in HTTPStatus}


class Invoker(Protocol):
    def invoke(self, event: Mapping[str, Any]) -> Any: ...


@dataclass
class LiveConnection:
    """An open connection, as the @connections API sees it."""

    info: Connection
    socket: ServerConnection
    authorizer: dict[str, Any] | None
    last_active: float  # epoch seconds
    closed_by_server: tuple[int, str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def touch(self) -> None:
        self.last_active = time.time()


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _now_ms() -> int:
    return int(time.time() * 1000)


class WebSocketServer:
    """Serves `api` on host:port (0 = a free port), invoking `functions[function_id]`."""

    def __init__(
        self,
        api: WebSocketApiSpec,
        functions: Mapping[str, Invoker],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        account_id: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_duration_s: float = MAX_DURATION_S,
    ):
        self.api = api
        self.functions = functions
        self.account_id = account_id
        self.region = region
        self.idle_timeout_s = idle_timeout_s
        self.max_duration_s = max_duration_s
        self._lock = threading.Lock()
        self._opening: dict[ServerConnection, tuple[Connection, dict[str, Any] | None]] = {}
        self._live: dict[str, LiveConnection] = {}
        # the stage's DefaultRouteSettings throttle each route on its own, as API Gateway does
        rate, burst = api.stage.throttling_rate_limit, api.stage.throttling_burst_limit
        self._buckets = (
            {key: TokenBucket(rate, burst) for key in api.routes} if rate is not None and burst is not None else {}
        )
        # Invocations run beside the connection's thread so the integration timeout can be kept.
        self._invocations = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="ws")
        self._server: Server = serve(
            self._handle,
            host,
            port,
            process_request=self._open,
            compression=None,  # API Gateway negotiates no extension
            ping_interval=None,  # nor pings its clients (it answers theirs)
            max_size=MAX_MESSAGE_BYTES,
            server_header=None,
        )
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"ws://{host}:{port}/{self.api.stage.name}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="rooms-local-ws", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close every connection (each one's $disconnect runs), then the server. Idempotent."""
        if self._thread is None:  # never started, or stopped: shutdown() would wait for serve_forever()
            self._server.socket.close()
            self._invocations.shutdown(wait=False, cancel_futures=True)
            return
        with self._lock:
            for live in self._live.values():
                live.closed_by_server = live.closed_by_server or _GOING_AWAY
        self._server.shutdown(code=_GOING_AWAY[0], reason=_GOING_AWAY[1])  # waits for the handlers
        self._thread.join()
        self._thread = None
        self._invocations.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> WebSocketServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ what @connections does
    def connection(self, connection_id: str) -> LiveConnection | None:
        with self._lock:
            return self._live.get(connection_id)

    def post(self, connection_id: str, data: bytes) -> bool:
        """Send `data` as one frame (text when it is UTF-8); False when the connection is gone."""
        live = self.connection(connection_id)
        if live is None:
            return False
        try:
            frame: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            frame = data
        try:
            live.socket.send(frame)
        except ConnectionClosed:
            return False
        return True

    def close(self, connection_id: str) -> bool:
        """Close the connection from the server's side; False when it is gone."""
        live = self.connection(connection_id)
        if live is None:
            return False
        with live.lock:
            live.closed_by_server = live.closed_by_server or (1000, "")
        live.socket.close(1000)
        return True

    # ------------------------------------------------------------------ the opening handshake
    def _open(self, socket: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path.rstrip("/") != f"/{self.api.stage.name}":
            return _refusal(socket, 403, "Forbidden")
        now = _now_ms()
        handshake = Handshake(path, query, list(request.headers.raw_items()), str(socket.remote_address[0]))
        info = Connection(
            api_id=self.api.api_id,
            stage=self.api.stage.name,
            account_id=self.account_id,
            region=self.region,
            connection_id=new_id(),
            connected_at_ms=now,
            domain_name=request.headers.get("Host", "localhost"),
            source_ip=handshake.source_ip,
            user_agent=handshake.user_agent,
        )
        if not self._admitted("$connect"):
            return _refusal(socket, 429, "Too Many Requests")
        try:
            authorizer = self._authorize(handshake, info)
            self._connect(handshake, info, authorizer)
        except _Refused as refused:
            log.info("%s refused: %d %s", info.connection_id, refused.status, refused)
            return _refusal(socket, refused.status, refused.message)
        with self._lock:
            self._opening[socket] = (info, authorizer)
        return None

    def _authorize(self, handshake: Handshake, info: Connection) -> dict[str, Any] | None:
        route = self.api.route_for("$connect")
        if route is None or route.authorizer_id is None:
            return None
        spec = self.api.authorizers[route.authorizer_id]
        if any(identity_value(source, handshake) is None for source in spec.identity_sources):
            raise _Refused(401, "Unauthorized")
        event = authorizer_event(handshake, info, request_id=new_id(), now_ms=_now_ms())
        started = time.perf_counter()
        try:
            result = self._invoke(spec.function_id, event, None)
        except LambdaError as error:
            if error.error_message == "Unauthorized":  # the one error API Gateway answers with 401
                raise _Refused(401, "Unauthorized") from None
            log.error("authorizer %s failed: %s", spec.name, error)
            raise _Refused(500, "Internal server error") from None
        except Exception:  # a timeout, an oversized event, a stopping pool
            log.exception("authorizer %s could not run", spec.name)
            raise _Refused(500, "Internal server error") from None
        latency = int((time.perf_counter() - started) * 1000)
        try:
            return authorizer_context(result, info.connect_arn, latency)
        except AuthorizerDenied:
            raise _Refused(403, "Forbidden") from None
        except AuthorizerMisconfigured as error:
            log.error("authorizer %s: %s", spec.name, error)
            raise _Refused(500, "Internal server error") from None

    def _connect(self, handshake: Handshake, info: Connection, authorizer: dict[str, Any] | None) -> None:
        route = self.api.route_for("$connect")
        if route is None or route.integration.kind == "MOCK":
            return
        event = connect_event(handshake, info, authorizer, request_id=new_id(), now_ms=_now_ms())
        try:
            result = self._invoke_integration(route.integration, event)
        except Exception as error:  # the function failed, timed out or could not run
            log.error("$connect of %s failed: %s", info.connection_id, error)
            raise _Refused(502, "Internal server error") from None
        status = result.get("statusCode") if isinstance(result, dict) else None
        if isinstance(status, bool) or not isinstance(status, int):
            log.error("$connect of %s: the function's answer has no statusCode", info.connection_id)
            raise _Refused(502, "Internal server error")
        if not 200 <= status < 300:
            raise _Refused(status if status in _STATUSES else 502, "Forbidden")

    # ------------------------------------------------------------------ an open connection
    def _handle(self, socket: ServerConnection) -> None:
        with self._lock:
            info, authorizer = self._opening.pop(socket)
            live = self._live[info.connection_id] = LiveConnection(info, socket, authorizer, time.time())
        try:
            self._serve(live)
        finally:
            with self._lock:
                del self._live[info.connection_id]  # from here on @connections answers 410
            self._disconnect(live)

    def _serve(self, live: LiveConnection) -> None:
        ends_at = time.monotonic() + self.max_duration_s
        quiet_since = time.monotonic()
        while True:
            now = time.monotonic()
            remaining = min(quiet_since + self.idle_timeout_s, ends_at) - now
            if remaining <= 0:
                with live.lock:
                    live.closed_by_server = live.closed_by_server or _GOING_AWAY
                live.socket.close(*_GOING_AWAY)
                return
            try:
                data = live.socket.recv(timeout=remaining)
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            live.touch()
            self._message(live, data)
            quiet_since = time.monotonic()  # the message was in hand until now

    def _message(self, live: LiveConnection, data: str | bytes) -> None:
        request_id = new_id()
        keys = [key for key in self.api.routes if key not in ("$connect", "$disconnect")]
        route_key = select_route(data, self.api.route_selection_field, keys)
        if route_key is None:
            self._send(live, error_frame("Forbidden", live.info.connection_id, request_id))
            return
        route = self.api.routes[route_key]
        if not self._admitted(route_key):
            self._send(live, error_frame("Too Many Requests", live.info.connection_id, request_id))
            return
        if route.integration.kind == "MOCK":
            return  # absorbed: nothing runs, nothing is sent back
        event = message_event(
            live.info, route_key, data, live.authorizer, request_id=request_id, message_id=new_id(), now_ms=_now_ms()
        )
        try:
            result = self._invoke_integration(route.integration, event)
        except concurrent.futures.TimeoutError:
            self._send(live, error_frame("Endpoint request timed out", live.info.connection_id, request_id))
            return
        except Exception as error:  # the function failed or could not run
            log.error("%s of %s failed: %s", route_key, live.info.connection_id, error)
            self._send(live, error_frame("Internal server error", live.info.connection_id, request_id))
            return
        body = result.get("body") if isinstance(result, dict) else None
        if route.route_response and isinstance(body, str) and body:
            self._send(live, body)

    def _send(self, live: LiveConnection, frame: str) -> None:
        try:
            live.socket.send(frame)
        except ConnectionClosed:
            return
        live.touch()

    def _disconnect(self, live: LiveConnection) -> None:
        route = self.api.route_for("$disconnect")
        code, reason = live.closed_by_server or (live.socket.close_code or 1006, live.socket.close_reason or "")
        if route is None or route.integration.kind == "MOCK":
            return
        event = disconnect_event(live.info, live.authorizer, code, reason, request_id=new_id(), now_ms=_now_ms())
        try:
            self._invoke_integration(route.integration, event)
        except Exception as error:  # best effort, as on AWS; the pool may be stopping
            log.error("$disconnect of %s failed: %s", live.info.connection_id, error)

    def _admitted(self, route_key: str) -> bool:
        bucket = self._buckets.get(route_key)
        return bucket is None or bucket.take()

    # ------------------------------------------------------------------ invocations
    def _invoke_integration(self, integration: WebSocketIntegration, event: Mapping[str, Any]) -> Any:
        return self._invoke(integration.function_id or "", event, integration.timeout_ms / 1000)

    def _invoke(self, function_id: str, event: Mapping[str, Any], timeout_s: float | None) -> Any:
        function = self.functions.get(function_id)
        if function is None:
            raise LambdaError(function_id, "Runtime.Unavailable", "the function does not run locally")
        return self._invocations.submit(function.invoke, event).result(timeout=timeout_s)


def _refusal(socket: ServerConnection, status: int, message: str) -> Response:
    """The upgrade refused with API Gateway's JSON error body."""
    response = socket.respond(status, f'{{"message":"{message}"}}')
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
