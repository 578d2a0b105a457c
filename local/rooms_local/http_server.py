"""The local gateway's front door: HTTP/1.1 with API Gateway's request limits.

h11 (a strict, maintained HTTP/1.1 parser) frames requests, so malformed chunking, bad or negative
Content-Length and broken request lines are refused instead of hanging or dropping the connection.
Every refusal is a JSON `{"message": ...}` answer, as API Gateway gives, and the connection closes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import h11

from .http_event import HttpRequest, HttpResponse, json_response

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 10240  # HTTP API quota: request line plus header values
MAX_BODY_BYTES = 10 * 1024 * 1024  # HTTP API quota: payload size
IDLE_TIMEOUT_S = 30.0  # a silent client is dropped (mid-request: 408) after this long
_H11_BUFFER_BYTES = 64 * 1024  # h11 stops buffering an unfinished head here (answered like the quota)
_DRAIN_LIMIT_BYTES = 64 * 1024 * 1024  # after a refusal, read and discard at most this much
_RECEIVE_BYTES = 65536
_FRAMING_HEADERS = ("content-length", "transfer-encoding", "connection")  # the server frames the response

Handle = Callable[[HttpRequest], HttpResponse]


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.response = json_response(status, {"message": message})


def _too_large_head(event: h11.Request) -> bool:
    request_line = len(event.method) + len(event.target) + len(b"  HTTP/1.1")
    return request_line + sum(len(value) for _, value in event.headers) > MAX_HEAD_BYTES


class HttpServer:
    """Serves `handle` on host:port (0 = a free port), one thread per connection, keep-alive."""

    def __init__(
        self, handle: Handle, *, host: str = "127.0.0.1", port: int = 0, idle_timeout_s: float = IDLE_TIMEOUT_S
    ):
        server = self

        class _Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                _Connection(self.request, self.client_address[0], server).serve()

        self.handle = handle
        self.idle_timeout_s = idle_timeout_s
        self._server = socketserver.ThreadingTCPServer((host, port), _Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.allow_reuse_address = True
        self._server.server_bind()
        self._server.server_activate()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="rooms-local-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()


class _Connection:
    def __init__(self, sock: socket.socket, source_ip: str, server: HttpServer):
        self.sock = sock
        self.source_ip = source_ip
        self.server = server
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=_H11_BUFFER_BYTES)
        sock.settimeout(server.idle_timeout_s)

    def serve(self) -> None:
        while True:
            try:
                request = self._read_request()
            except _Refused as refused:
                self._refuse(refused.response)
                return
            except h11.RemoteProtocolError as error:
                hint = error.error_status_hint
                status, message = (431, "Request Header Fields Too Large") if hint == 431 else (400, "Bad Request")
                self._refuse(json_response(status, {"message": message}))
                return
            except TimeoutError:
                if self.h11.their_state is not h11.IDLE or self.h11.trailing_data[0]:  # a request was under way
                    self._refuse(json_response(408, {"message": "Request Timeout"}), drain=False)
                return
            except OSError:
                return
            if request is None:
                return
            started = time.perf_counter()
            try:
                response = self.server.handle(request)
            except Exception:
                log.exception("%s %s: the local gateway failed", request.method, request.raw_path)
                response = json_response(500, {"message": "Internal Server Error"})
            try:
                self._send(response, head_only=request.method == "HEAD")
            except h11.LocalProtocolError:
                log.exception("%s %s: the response could not be sent", request.method, request.raw_path)
                return
            except OSError:
                return
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s -> %d (%.0f ms)", request.method, request.raw_path, response.status, elapsed)
            if self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
                return  # MUST_CLOSE (the client asked, or HTTP/1.0)
            self.h11.start_next_cycle()

    def _next_event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.h11.receive_data(self.sock.recv(_RECEIVE_BYTES))  # b"" tells h11 the peer closed

    def _read_request(self) -> HttpRequest | None:
        event = self._next_event()
        if isinstance(event, h11.ConnectionClosed):
            return None
        assert isinstance(event, h11.Request)
        if _too_large_head(event):
            raise _Refused(431, "Request Header Fields Too Large")
        declared = next((int(value) for name, value in event.headers if name == b"content-length"), 0)
        if declared > MAX_BODY_BYTES:
            raise _Refused(413, "Request Entity Too Large")
        try:
            target = event.target.decode("ascii")
        except UnicodeDecodeError:
            raise _Refused(400, "Bad Request") from None
        if self.h11.they_are_waiting_for_100_continue:
            self.sock.sendall(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))
        chunks: list[bytes] = []
        size = 0
        while not isinstance(body_event := self._next_event(), h11.EndOfMessage):
            size += len(body_event.data)
            if size > MAX_BODY_BYTES:  # chunked bodies declare no length up front
                raise _Refused(413, "Request Entity Too Large")
            chunks.append(body_event.data)
        path, _, query = target.partition("?")
        return HttpRequest(
            method=event.method.decode("ascii"),
            raw_path=path,
            raw_query=query,
            headers=[
                (name.decode("ascii"), value.decode("utf-8", "replace")) for name, value in event.headers.raw_items()
            ],
            body=b"".join(chunks),
            source_ip=self.source_ip,
        )

    def _send(self, response: HttpResponse, *, head_only: bool = False) -> None:
        headers = [
            (name.encode("latin-1"), value.encode("latin-1", "replace"))
            for name, value in response.headers
            if name.lower() not in _FRAMING_HEADERS
        ]
        bodiless = response.status in (204, 304)  # these never carry a body (nor its length)
        if not bodiless:
            headers.append((b"content-length", str(len(response.body)).encode()))
        if self.h11.their_state is not h11.DONE:
            headers.append((b"connection", b"close"))
        try:
            reason = HTTPStatus(response.status).phrase.encode()
        except ValueError:
            reason = b""
        data = self.h11.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
        if not (head_only or bodiless) and response.body:
            data += self.h11.send(h11.Data(data=response.body))
        data += self.h11.send(h11.EndOfMessage())
        self.sock.sendall(data)

    def _refuse(self, response: HttpResponse, *, drain: bool = True) -> None:
        """Answer a request that will not be served, then close without resetting the connection."""
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        with contextlib.suppress(OSError, h11.LocalProtocolError):
            self._send(response)
            log.info("refused: %d %s", response.status, response.body.decode())
            if drain:
                # Closing with unread request bytes resets the connection before the client reads the
                # answer: stop sending, then read and discard what the client still sends.
                self.sock.shutdown(socket.SHUT_WR)
                drained = 0
                while drained < _DRAIN_LIMIT_BYTES and (data := self.sock.recv(_RECEIVE_BYTES)):
                    drained += len(data)
