"""The live connection over ``websockets.sync.client``: one reader thread per connection.

The reader receives frames and dispatches them, sends the ping when the socket has been quiet for
``ping_interval``, and on a drop reconnects with backoff (a fresh token each time), then sends the
holds and watches again. Callers' ``hold``/``watch`` wait for their reply on a future.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

from rooms_client.auth import TokenProvider, TokenSource, as_token_provider, token_now
from rooms_client.live.errors import LiveConnectionError, LiveTimeoutError, reply_error
from rooms_client.live.events import LiveEvent, SeatHeld, TicketStatus
from rooms_client.live.state import PING, LiveOptions, LiveState, LiveStats, connect_url

_CLOSED = object()  # ends the events() iterators


class LiveConnection:
    """A user's live connection (docs/live.md). ``connect()`` opens it; ``close()`` ends it for good."""

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
        self._lock = threading.Condition()
        self._state = LiveState(clock)
        self._socket: ClientConnection | None = None
        self._stop = threading.Event()
        self._opening = threading.Lock()
        self._reader: threading.Thread | None = None
        self._listeners: list[queue.SimpleQueue[object]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def connect(self) -> LiveConnection:
        """Open the socket (once); ``LiveConnectionError`` when the first attempt fails."""
        with self._opening:
            if self._reader is not None:
                return self
            if self._stop.is_set():
                raise LiveConnectionError("this live connection was closed")
            socket = self._open()
            with self._lock:
                self._socket = socket
                messages = self._state.on_connect()
                self._reader = threading.Thread(target=self._read, name="rooms-live", daemon=True)
            self._reader.start()
        for message in messages:  # what was asked before the first socket opened
            self._send(message)
        return self

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            socket, reader = self._socket, self._reader
        if socket is not None:
            socket.close()
        if reader is not None and reader is not threading.current_thread():
            reader.join(timeout=self.options.open_timeout + 5)
        self._end_listeners()

    def __enter__(self) -> LiveConnection:
        return self.connect()

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._state.connected

    @property
    def closed(self) -> bool:
        """Closed for good: by ``close()``, or after the reconnection attempts ran out."""
        return self._stop.is_set()

    @property
    def stats(self) -> LiveStats:
        return self._state.stats

    # -- requests ----------------------------------------------------------------------------

    def hold(self, room_id: str, timeout: float | None = None) -> SeatHeld:
        """Keep the caller's seat in ``room_id`` for as long as this connection is open (no heartbeats)."""
        event = self._request("hold", room_id, timeout)
        if not isinstance(event, SeatHeld):
            raise reply_error(event)
        return event

    def watch(self, ticket_id: str, timeout: float | None = None) -> TicketStatus:
        """The ticket's current state now; its final push follows on this connection if it is queued."""
        event = self._request("watch", ticket_id, timeout)
        if not isinstance(event, TicketStatus):
            raise reply_error(event)
        return event

    def request_hold(self, room_id: str) -> None:
        """``hold`` without waiting for the reply: ``holds(room_id)`` turns true once it arrives."""
        with self._lock:
            message = self._state.want_hold(room_id)
            self._state.expect("hold", room_id)
        self._send(message)

    def request_watch(self, ticket_id: str, since: int | None = None) -> None:
        """``watch`` without waiting: the reply and the pushes are recorded for ``wait_ticket``. Not sent
        when the socket has been open since ``since`` (a ``mark()``) or the ticket's ``cover``."""
        with self._lock:
            message = self._state.want_watch(ticket_id)  # a reconnect sends it either way
            if not self._state.watch_needed(ticket_id, since):
                return
            self._state.expect("watch", ticket_id)
        self._send(message)

    def mark(self) -> int | None:
        with self._lock:
            return self._state.mark()

    def cover(self, ticket_id: str, mark: int | None) -> None:
        with self._lock:
            self._state.cover(ticket_id, mark)

    def release(self, room_id: str) -> None:
        with self._lock:
            self._state.release(room_id)

    def holds(self, room_id: str) -> bool:
        with self._lock:
            return self._state.holds(room_id)

    def needs_heartbeat(self, room_id: str) -> bool:
        with self._lock:
            return self._state.needs_heartbeat(room_id, self.options.heartbeat_fallback_after)

    def wait_ticket(self, ticket_id: str, timeout: float) -> LiveEvent | None:
        """The event that made the ticket final, waiting at most ``timeout`` seconds; None if none came."""
        with self._lock:
            self._lock.wait_for(lambda: ticket_id in self._state.finals, timeout)
            return self._state.finals.get(ticket_id)

    def events(self) -> Iterator[LiveEvent]:
        """Every event from this call on, replies and pushes, unknown types too; ends when the connection closes."""
        inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        with self._lock:
            self._listeners.append(inbox)  # now, not at the first next(): nothing is missed in between
        return self._drain(inbox)

    def _drain(self, inbox: queue.SimpleQueue[object]) -> Iterator[LiveEvent]:
        try:
            while not self._stop.is_set() or not inbox.empty():
                item = inbox.get()
                if item is _CLOSED:
                    return
                if isinstance(item, LiveEvent):
                    yield item
        finally:
            with self._lock:
                self._listeners.remove(inbox)

    def __iter__(self) -> Iterator[LiveEvent]:
        return self.events()

    def _request(self, kind: str, key: str, timeout: float | None) -> LiveEvent:
        reply: Future[LiveEvent] = Future()
        with self._lock:
            message = self._state.want_hold(key) if kind == "hold" else self._state.want_watch(key)
            entry = self._state.expect(kind, key, reply.set_result)
        self._send(message)  # on a dropped socket the reconnect sends it again
        wait = self.options.reply_timeout if timeout is None else timeout
        try:
            return reply.result(timeout=wait)
        except FutureTimeout:
            with self._lock:
                self._state.forget(entry)
            raise LiveTimeoutError(f"no reply to {kind} {key} within {wait:g} s") from None

    # -- the socket --------------------------------------------------------------------------

    def _open(self) -> ClientConnection:
        url = connect_url(self.ws_url, token_now(self._token))
        try:
            # compression off: frames are a few hundred bytes, and deflate costs memory per socket;
            # legacy=True: one socket, directly; reconnecting is ours (a fresh token, resubscription)
            return connect(
                url,
                open_timeout=self.options.open_timeout,
                compression=None,
                ping_interval=self.options.keepalive,
                ping_timeout=self.options.keepalive,
                legacy=True,
            )
        except (OSError, WebSocketException, TimeoutError) as error:
            raise LiveConnectionError(f"cannot open the live connection: {error}") from error

    def _send(self, message: str) -> bool:
        with self._lock:
            socket = self._socket if self._state.connected else None
        if socket is None:
            return False
        try:
            socket.send(message)
        except (ConnectionClosed, OSError):
            return False
        with self._lock:
            self._state.sent(message)
        return True

    def _read(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                socket = self._socket
                quiet = self._state.ping_due_in(self.options.ping_interval)
            if socket is None:
                return
            try:
                frame = socket.recv(timeout=quiet)
            except TimeoutError:
                self._send(PING)
                continue
            except (ConnectionClosed, OSError):
                if not self._reconnect():
                    return
                continue
            self._dispatch(frame)

    def _dispatch(self, frame: str | bytes) -> None:
        with self._lock:
            event, answers = self._state.on_frame(frame)
            self._lock.notify_all()
            for inbox in self._listeners:
                inbox.put(event)
        for message in answers:
            self._send(message)

    def _reconnect(self) -> bool:
        """Reopen after a drop (the 2-hour limit, the idle close, a network fault): True once open again."""
        with self._lock:
            self._state.on_disconnect()
            self._lock.notify_all()
        policy = self.options.reconnect
        attempt = 0
        while True:
            attempt += 1
            if policy.gives_up(attempt):
                self._stop.set()
                self._end_listeners()
                return False
            if self._stop.wait(policy.delay(attempt)):
                return False
            try:
                socket = self._open()
            except LiveConnectionError:
                continue
            with self._lock:
                self._socket = socket
                messages = self._state.on_connect()
            for message in messages:
                self._send(message)
            return True

    def _end_listeners(self) -> None:
        with self._lock:
            self._lock.notify_all()
            for inbox in self._listeners:
                inbox.put(_CLOSED)
