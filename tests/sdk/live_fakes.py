"""An in-process live-connection server speaking docs/live.md, for the SDK's socket tests.

It runs ``websockets.asyncio.server.serve`` on 127.0.0.1:0 in a thread of its own (so the sync client
can block on it), reads the user from the ``?token=`` dev token, answers ``hold`` with ``seat.held`` and
``watch`` with ``ticket.status`` (from ``tickets``, a callable the test gives), records every message,
and lets the test push frames, drop sockets and refuse connections. ``wait_for`` waits on a condition.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

NOW = "2025-01-01T12:00:00.000Z"
DEADLINE = 10.0  # generous: a condition that holds is met in milliseconds


def frame(kind: str, data: dict[str, Any], version: int = 1) -> str:
    return json.dumps({"type": kind, "version": version, "at": NOW, "data": data})


def user_of(token: str) -> str | None:
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]
    except (IndexError, ValueError, KeyError):
        return None


TicketAnswer = Callable[[str, str], dict[str, Any] | None]  # (user, ticket id) -> ticket JSON, or not found


@dataclass
class Message:
    user: str
    connection: int  # the server's count of connections so far, when this one opened
    body: dict[str, Any]


@dataclass
class FakeLiveServer:
    tickets: TicketAnswer = lambda user, ticket_id: None
    on_watch: Callable[[FakeLiveServer, str, str], None] | None = None  # runs after the reply
    refuse: int = 0  # connection attempts to refuse (503) before accepting again
    messages: list[Message] = field(default_factory=list)
    attempts: int = 0
    opened: int = 0
    _sockets: dict[str, list[ServerConnection]] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: Server | None = None
    _thread: threading.Thread | None = None

    # -- the test's side ---------------------------------------------------------------------

    def start(self) -> FakeLiveServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(DEADLINE)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(DEADLINE)
        if self._thread is not None:
            self._thread.join(DEADLINE)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/test"

    def wait_for(self, condition: Callable[[], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(condition, DEADLINE), "condition not met in time"

    def actions(self, connection: int | None = None) -> list[str]:
        with self._changed:
            return [
                m.body.get("action", "?") for m in self.messages if connection is None or m.connection == connection
            ]

    def push(self, user: str, text: str) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._push(user, text), self._loop).result(DEADLINE)

    def drop(self, user: str) -> None:
        """Close the user's sockets as API Gateway does at its 2-hour limit (1001 going away)."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._drop(user), self._loop).result(DEADLINE)

    # -- the server's side -------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check)
            ready.set()
            await self._server.wait_closed()

        asyncio.run(main())

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        with self._changed:
            self.attempts += 1
            refuse = self.refuse > 0
            self.refuse -= 1 if refuse else 0
            self._changed.notify_all()
        token = parse_qs(urlparse(request.path).query).get("token", [""])[0]
        if refuse:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        if user_of(token) is None:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        return None

    async def _handle(self, socket: ServerConnection) -> None:
        assert socket.request is not None
        user = user_of(parse_qs(urlparse(socket.request.path).query)["token"][0]) or "?"
        with self._changed:
            self.opened += 1
            number = self.opened
            self._sockets.setdefault(user, []).append(socket)
            self._changed.notify_all()
        try:
            async for text in socket:
                await self._answer(socket, user, number, text)
        finally:
            with self._changed:
                self._sockets[user].remove(socket)
                self._changed.notify_all()

    async def _answer(self, socket: ServerConnection, user: str, number: int, text: str | bytes) -> None:
        try:
            body = json.loads(text)
        except ValueError:
            body = {"action": "?", "text": str(text)}
        with self._changed:
            self.messages.append(Message(user, number, body))
            self._changed.notify_all()
        action = body.get("action")
        if action == "hold":
            held = {"room_id": body["room_id"], "user_id": user, "held_until": "2025-01-01T14:00:20.000Z"}
            await socket.send(frame("seat.held", held))
        elif action == "watch":
            ticket = self.tickets(user, body["ticket_id"])
            if ticket is None:
                error = {"error": {"code": "TICKET_NOT_FOUND", "message": "no such ticket"}}
                await socket.send(frame("error", error))
            else:
                await socket.send(frame("ticket.status", ticket))
                if self.on_watch is not None:
                    self.on_watch(self, user, body["ticket_id"])
        elif action != "ping":
            await socket.send(frame("error", {"error": {"code": "BAD_REQUEST", "message": "unknown action"}}))

    async def _push(self, user: str, text: str) -> None:
        for socket in list(self._sockets.get(user, [])):
            await socket.send(text)

    async def _drop(self, user: str) -> None:
        for socket in list(self._sockets.get(user, [])):
            await socket.close(1001, "going away")

    def push_soon(self, user: str, text: str) -> None:
        """From ``on_watch`` (on the server's loop): push after the current reply went out."""
        assert self._loop is not None
        self._loop.create_task(self._push(user, text))
