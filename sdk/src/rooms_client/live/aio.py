"""The live connection over ``websockets.asyncio.client``: the asyncio twin of ``LiveConnection``.

One reader task per connection receives and dispatches frames, pings a quiet socket, and reconnects
with backoff after a drop (a fresh token each time), then sends the holds and watches again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from rooms_client.auth import TokenProvider, TokenSource, as_token_provider, token_async
from rooms_client.live.errors import LiveConnectionError, LiveTimeoutError, reply_error
from rooms_client.live.events import LiveEvent, SeatHeld, TicketStatus
from rooms_client.live.state import PING, LiveOptions, LiveState, LiveStats, connect_url

_CLOSED = object()


class AsyncLiveConnection:
    """A user's live connection, for asyncio. ``await connect()`` opens it; ``await close()`` ends it."""

    def __init__(
        self,
        ws_url: str,
        token: TokenSource | TokenProvider = None,
        options: LiveOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ws_url = ws_url
        self.options = options or LiveOptions()
        self._token = as_token_provider(token)
        self._state = LiveState(clock)
        self._socket: ClientConnection | None = None
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._opening = asyncio.Lock()
        self._listeners: list[asyncio.Queue[object]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> AsyncLiveConnection:
        """Open the socket (once); ``LiveConnectionError`` when the first attempt fails."""
        async with self._opening:
            if self._reader is not None:
                return self
            if self._stop.is_set():
                raise LiveConnectionError("this live connection was closed")
            self._socket = await self._open()
            messages = self._state.on_connect()
            self._reader = asyncio.create_task(self._read(), name="rooms-live")
        for message in messages:  # what was asked before the first socket opened
            await self._send(message)
        return self

    async def close(self) -> None:
        self._stop.set()
        self._wake()
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._end_listeners()

    async def __aenter__(self) -> AsyncLiveConnection:
        return await self.connect()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._state.connected

    @property
    def closed(self) -> bool:
        """Closed for good: by ``close()``, or after the reconnection attempts ran out."""
        return self._stop.is_set()

    @property
    def stats(self) -> LiveStats:
        return self._state.stats

    # -- requests ----------------------------------------------------------------------------

    async def hold(self, room_id: str, timeout: float | None = None) -> SeatHeld:
        """Keep the caller's seat in ``room_id`` for as long as this connection is open (no heartbeats)."""
        event = await self._request("hold", room_id, timeout)
        if not isinstance(event, SeatHeld):
            raise reply_error(event)
        return event

    async def watch(self, ticket_id: str, timeout: float | None = None) -> TicketStatus:
        """The ticket's current state now; its final push follows on this connection if it is queued."""
        event = await self._request("watch", ticket_id, timeout)
        if not isinstance(event, TicketStatus):
            raise reply_error(event)
        return event

    async def request_hold(self, room_id: str) -> None:
        """``hold`` without waiting for the reply: ``holds(room_id)`` turns true once it arrives."""
        message = self._state.want_hold(room_id)
        self._state.expect("hold", room_id)
        await self._send(message)

    async def request_watch(self, ticket_id: str, since: int | None = None) -> None:
        """``watch`` without waiting: the reply and the pushes are recorded for ``wait_ticket``. Not sent
        when the socket has been open since ``since`` (a ``mark()``) or the ticket's ``cover``."""
        message = self._state.want_watch(ticket_id)  # a reconnect sends it either way
        if not self._state.watch_needed(ticket_id, since):
            return
        self._state.expect("watch", ticket_id)
        await self._send(message)

    def mark(self) -> int | None:
        return self._state.mark()

    def cover(self, ticket_id: str, mark: int | None) -> None:
        self._state.cover(ticket_id, mark)

    def release(self, room_id: str) -> None:
        self._state.release(room_id)

    def holds(self, room_id: str) -> bool:
        return self._state.holds(room_id)

    def needs_heartbeat(self, room_id: str) -> bool:
        return self._state.needs_heartbeat(room_id, self.options.heartbeat_fallback_after)

    async def wait_ticket(self, ticket_id: str, timeout: float) -> LiveEvent | None:
        """The event that made the ticket final, waiting at most ``timeout`` seconds; None if none came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while ticket_id not in self._state.finals:
            changed = self._changed
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return self._state.finals.get(ticket_id)

    def events(self) -> AsyncIterator[LiveEvent]:
        """Every event from this call on, replies and pushes, unknown types too; ends when the connection closes."""
        inbox: asyncio.Queue[object] = asyncio.Queue()
        self._listeners.append(inbox)  # now, not at the first anext(): nothing is missed in between
        return self._drain(inbox)

    async def _drain(self, inbox: asyncio.Queue[object]) -> AsyncIterator[LiveEvent]:
        try:
            while not self._stop.is_set() or not inbox.empty():
                item = await inbox.get()
                if item is _CLOSED:
                    return
                if isinstance(item, LiveEvent):
                    yield item
        finally:
            self._listeners.remove(inbox)

    def __aiter__(self) -> AsyncIterator[LiveEvent]:
        return self.events()

    async def _request(self, kind: str, key: str, timeout: float | None) -> LiveEvent:
        reply: asyncio.Future[LiveEvent] = asyncio.get_running_loop().create_future()

        def resolve(event: LiveEvent) -> None:
            if not reply.done():
                reply.set_result(event)

        message = self._state.want_hold(key) if kind == "hold" else self._state.want_watch(key)
        entry = self._state.expect(kind, key, resolve)
        await self._send(message)  # on a dropped socket the reconnect sends it again
        wait = self.options.reply_timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(reply, wait)
        except TimeoutError:
            self._state.forget(entry)
            raise LiveTimeoutError(f"no reply to {kind} {key} within {wait:g} s") from None

    # -- the socket --------------------------------------------------------------------------

    async def _open(self) -> ClientConnection:
        url = connect_url(self.ws_url, await token_async(self._token))
        try:
            # compression off: frames are a few hundred bytes, and deflate costs memory per socket
            return await connect(
                url,
                open_timeout=self.options.open_timeout,
                compression=None,
                ping_interval=self.options.keepalive,
                ping_timeout=self.options.keepalive,
            )
        except (OSError, WebSocketException, TimeoutError) as error:
            raise LiveConnectionError(f"cannot open the live connection: {error}") from error

    async def _send(self, message: str) -> bool:
        socket = self._socket if self._state.connected else None
        if socket is None:
            return False
        try:
            await socket.send(message)
        except (ConnectionClosed, OSError):
            return False
        self._state.sent(message)
        return True

    async def _read(self) -> None:
        while not self._stop.is_set() and self._socket is not None:
            quiet = self._state.ping_due_in(self.options.ping_interval)
            try:
                frame = await asyncio.wait_for(self._socket.recv(), quiet)
            except TimeoutError:
                await self._send(PING)
                continue
            except (ConnectionClosed, OSError):
                if not await self._reconnect():
                    return
                continue
            event, answers = self._state.on_frame(frame)
            self._wake()
            for inbox in self._listeners:
                inbox.put_nowait(event)
            for message in answers:
                await self._send(message)

    async def _reconnect(self) -> bool:
        """Reopen after a drop (the 2-hour limit, the idle close, a network fault): True once open again."""
        self._state.on_disconnect()
        self._wake()
        policy = self.options.reconnect
        attempt = 0
        while True:
            attempt += 1
            if policy.gives_up(attempt):
                self._stop.set()
                self._end_listeners()
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), policy.delay(attempt))
            if self._stop.is_set():
                return False
            try:
                self._socket = await self._open()
            except LiveConnectionError:
                continue
            for message in self._state.on_connect():
                await self._send(message)
            return True

    def _wake(self) -> None:
        """Wake every ``wait_ticket``: they look at the state again."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _end_listeners(self) -> None:
        self._wake()
        for inbox in self._listeners:
            inbox.put_nowait(_CLOSED)
