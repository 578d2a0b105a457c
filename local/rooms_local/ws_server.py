"""A local API Gateway WebSocket API: the `websockets` library serves `/<stage>`, and each connection's
handshake, frames and close become the events API Gateway sends to Lambda.

On the opening handshake the REQUEST authorizer runs (a missing identity source is refused with 401
before it is called), then the `$connect` integration; either can refuse the upgrade. Each text or
binary frame is routed by `$request.body.<field>`, and the route's function is invoked; a route with a
route response sends the function's `body` back, a MOCK route absorbs the frame. When the socket closes,
by either side or by API Gateway's idle timeout (10 minutes) or maximum duration (2 hours), `$disconnect`
runs. Frames of one connection are handled in order, one at a time. The stage's DefaultRouteSettings
throttle each route (429 on a connect, a "Too Many Requests" frame for a message).

The server is asyncio's, on a thread of its own: a connection is one socket and one task, so a storm's
tens of thousands of held sockets fit in a process's file descriptors (the threaded server takes four
descriptors and a thread per connection). Functions are invoked on a thread pool, never on the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket as sockets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

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
_FROM_OTHER_THREADS_S = 30.0  # how long a post or close from @connections waits for the loop


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
        self._stopping = False  # once set (under the lock), every connection closes going away
        # the stage's DefaultRouteSettings throttle each route on its own, as API Gateway does
        rate, burst = api.stage.throttling_rate_limit, api.stage.throttling_burst_limit
        self._buckets = (
            {key: TokenBucket(rate, burst) for key in api.routes} if rate is not None and burst is not None else {}
        )
        # Invocations run on threads, so the loop serves every other socket meanwhile. `$disconnect`s have
        # threads of their own, fewer: thousands of sockets closing at once (a storm's end) must not queue
        # every new `$connect` and message behind them, as on AWS, where each is an invocation of its own.
        self._invocations = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="ws")
        self._disconnects = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="ws-disconnect")
        # bound now, so the address is known before the loop runs
        self._socket = sockets.create_server((host, port), backlog=1024)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"ws://{host}:{port}/{self.api.stage.name}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rooms-local-ws", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._server is None:
            raise RuntimeError("the WebSocket server did not start (see the rooms-local-ws thread's error)")

    def _run(self) -> None:
        asyncio.run(self._serve_forever())

    async def _serve_forever(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._server = await serve(
                self._handle,
                sock=self._socket,
                process_request=self._open,
                compression=None,  # API Gateway negotiates no extension
                ping_interval=None,  # nor pings its clients (it answers theirs)
                max_size=MAX_MESSAGE_BYTES,
                server_header=None,
            )
        finally:
            self._ready.set()
        await self._server.wait_closed()

    def stop(self) -> None:
        """Close every connection (each one's $disconnect runs), then the server. Idempotent."""
        if self._thread is None or self._loop is None or self._server is None:
            self._socket.close()
            self._shutdown_threads()
            return
        with self._lock:
            self._stopping = True  # a connection still opening is registered going away too
            for live in self._live.values():
                live.closed_by_server = live.closed_by_server or _GOING_AWAY
        # close() sends 1001 to every connection; wait_closed() in the thread waits for their handlers
        self._loop.call_soon_threadsafe(self._server.close)
        self._thread.join()
        self._thread = None
        self._shutdown_threads()

    def _shutdown_threads(self) -> None:
        for threads in (self._invocations, self._disconnects):
            threads.shutdown(wait=False, cancel_futures=True)

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
            self._on_loop(live.socket.send(frame))
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
        self._on_loop(live.socket.close(1000))
        return True

    def _on_loop(self, work: Any) -> Any:
        """Run a coroutine on the server's loop, from another thread (the @connections API's)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=_FROM_OTHER_THREADS_S)

    # ------------------------------------------------------------------ the opening handshake
    async def _open(self, socket: ServerConnection, request: Request) -> Response | None:
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
            authorizer = await self._authorize(handshake, info)
            await self._connect(handshake, info, authorizer)
        except _Refused as refused:
            log.info("%s refused: %d %s", info.connection_id, refused.status, refused)
            return _refusal(socket, refused.status, refused.message)
        with self._lock:
            self._opening[socket] = (info, authorizer)
        return None

    async def _authorize(self, handshake: Handshake, info: Connection) -> dict[str, Any] | None:
        route = self.api.route_for("$connect")
        if route is None or route.authorizer_id is None:
            return None
        spec = self.api.authorizers[route.authorizer_id]
        if any(identity_value(source, handshake) is None for source in spec.identity_sources):
            raise _Refused(401, "Unauthorized")
        event = authorizer_event(handshake, info, request_id=new_id(), now_ms=_now_ms())
        started = time.perf_counter()
        try:
            result = await self._invoke(spec.function_id, event, None)
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

    async def _connect(self, handshake: Handshake, info: Connection, authorizer: dict[str, Any] | None) -> None:
        route = self.api.route_for("$connect")
        if route is None or route.integration.kind == "MOCK":
            return
        event = connect_event(handshake, info, authorizer, request_id=new_id(), now_ms=_now_ms())
        try:
            result = await self._invoke_integration(route.integration, event)
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
    async def _handle(self, socket: ServerConnection) -> None:
        with self._lock:
            info, authorizer = self._opening.pop(socket)
            live = self._live[info.connection_id] = LiveConnection(info, socket, authorizer, time.time())
            if self._stopping:
                live.closed_by_server = _GOING_AWAY
        try:
            await self._serve(live)
        finally:
            with self._lock:
                del self._live[info.connection_id]  # from here on @connections answers 410
            await self._disconnect(live)

    async def _serve(self, live: LiveConnection) -> None:
        ends_at = time.monotonic() + self.max_duration_s
        quiet_since = time.monotonic()
        while True:
            now = time.monotonic()
            remaining = min(quiet_since + self.idle_timeout_s, ends_at) - now
            if remaining <= 0:
                with live.lock:
                    live.closed_by_server = live.closed_by_server or _GOING_AWAY
                await live.socket.close(*_GOING_AWAY)
                return
            try:
                data = await asyncio.wait_for(live.socket.recv(), remaining)  # cancelling recv() loses nothing
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            live.touch()
            await self._message(live, data)
            quiet_since = time.monotonic()  # the message was in hand until now

    async def _message(self, live: LiveConnection, data: str | bytes) -> None:
        request_id = new_id()
        keys = [key for key in self.api.routes if key not in ("$connect", "$disconnect")]
        route_key = select_route(data, self.api.route_selection_field, keys)
        if route_key is None:
            await self._send(live, error_frame("Forbidden", live.info.connection_id, request_id))
            return
        route = self.api.routes[route_key]
        if not self._admitted(route_key):
            await self._send(live, error_frame("Too Many Requests", live.info.connection_id, request_id))
            return
        if route.integration.kind == "MOCK":
            return  # absorbed: nothing runs, nothing is sent back
        event = message_event(
            live.info, route_key, data, live.authorizer, request_id=request_id, message_id=new_id(), now_ms=_now_ms()
        )
        try:
            result = await self._invoke_integration(route.integration, event)
        except TimeoutError:
            await self._send(live, error_frame("Endpoint request timed out", live.info.connection_id, request_id))
            return
        except Exception as error:  # the function failed or could not run
            log.error("%s of %s failed: %s", route_key, live.info.connection_id, error)
            await self._send(live, error_frame("Internal server error", live.info.connection_id, request_id))
            return
        body = result.get("body") if isinstance(result, dict) else None
        if route.route_response and isinstance(body, str) and body:
            await self._send(live, body)

    async def _send(self, live: LiveConnection, frame: str) -> None:
        try:
            await live.socket.send(frame)
        except ConnectionClosed:
            return
        live.touch()

    async def _disconnect(self, live: LiveConnection) -> None:
        route = self.api.route_for("$disconnect")
        code, reason = live.closed_by_server or (live.socket.close_code or 1006, live.socket.close_reason or "")
        if route is None or route.integration.kind == "MOCK":
            return
        event = disconnect_event(live.info, live.authorizer, code, reason, request_id=new_id(), now_ms=_now_ms())
        try:
            await self._invoke_integration(route.integration, event, self._disconnects)
        except Exception as error:  # best effort, as on AWS; the pool may be stopping
            log.error("$disconnect of %s failed: %s", live.info.connection_id, error)

    def _admitted(self, route_key: str) -> bool:
        bucket = self._buckets.get(route_key)
        return bucket is None or bucket.take()

    # ------------------------------------------------------------------ invocations
    async def _invoke_integration(
        self,
        integration: WebSocketIntegration,
        event: Mapping[str, Any],
        threads: concurrent.futures.Executor | None = None,
    ) -> Any:
        return await self._invoke(integration.function_id or "", event, integration.timeout_ms / 1000, threads)

    async def _invoke(
        self,
        function_id: str,
        event: Mapping[str, Any],
        timeout_s: float | None,
        threads: concurrent.futures.Executor | None = None,
    ) -> Any:
        """The function's answer; TimeoutError past `timeout_s` (the integration timeout: the function
        itself runs on, as Lambda's does)."""
        function = self.functions.get(function_id)
        if function is None:
            raise LambdaError(function_id, "Runtime.Unavailable", "the function does not run locally")
        running = asyncio.get_running_loop().run_in_executor(threads or self._invocations, function.invoke, event)
        return await asyncio.wait_for(asyncio.shield(running), timeout_s)


def _refusal(socket: ServerConnection, status: int, message: str) -> Response:
    """The upgrade refused with API Gateway's JSON error body."""
    response = socket.respond(status, f'{{"message":"{message}"}}')
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
