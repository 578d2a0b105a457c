"""What a live connection knows and decides, without I/O: shared by the sync and the asyncio connection.

The state keeps the seats this connection should hold and the tickets it watches (sent again after a
reconnect), which holds stand on the current socket, the final ticket events seen, the requests awaiting
a reply, and the message counts. ``on_frame`` reads one server frame and returns the event and the
messages to send in answer; the connections only move bytes and wake waiters.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from rooms_client.errors import InternalError, ServiceUnavailableError, ThrottledError
from rooms_client.live.events import (
    LiveError,
    LiveEvent,
    SeatFreed,
    SeatHeld,
    SeatMoved,
    TicketFailed,
    TicketSeated,
    TicketStatus,
    parse_frame,
)
from rooms_client.retry import Jitter, full_jitter

PING = json.dumps({"action": "ping"})
# errors that say "not now" rather than "no": the request stays, and a reconnect sends it again
RETRYABLE = (ThrottledError, InternalError, ServiceUnavailableError)
Resolve = Callable[[LiveEvent], None]


def hold_message(room_id: str) -> str:
    return json.dumps({"action": "hold", "room_id": room_id})


def watch_message(ticket_id: str) -> str:
    return json.dumps({"action": "watch", "ticket_id": ticket_id})


def connect_url(ws_url: str, token: str) -> str:
    """The socket's URL: the token travels in the query string (browsers cannot set headers on a WebSocket)."""
    if not token:
        return ws_url
    return ws_url + ("&" if "?" in ws_url else "?") + urlencode({"token": token})


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff with full jitter between reconnection attempts; ``max_attempts`` None: for ever."""

    base_delay: float = 0.5
    max_delay: float = 30.0
    max_attempts: int | None = None
    jitter: Jitter = field(default=full_jitter, compare=False, repr=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnection attempt ``attempt`` (1 is the first after a drop)."""
        return self.jitter(min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))

    def gives_up(self, attempt: int) -> bool:
        return self.max_attempts is not None and attempt > self.max_attempts


@dataclass(frozen=True)
class LiveOptions:
    """How a live connection behaves. The defaults follow API Gateway's limits (docs/live.md).

    ``ping_interval``: a ``ping`` after this many quiet seconds (the gateway closes a socket idle for 10
    minutes). ``reply_timeout``: how long ``hold``/``watch`` wait for their reply. ``ticket_poll_interval``:
    the slow ``GET /tickets/{id}`` a join still makes while it waits for a push, in case one is lost.
    ``heartbeat_fallback_after``: how long a held seat may go unheld (socket down, reconnecting) before
    ``needs_heartbeat`` says to heartbeat over HTTP again: under the server's 20 s presence grace.
    ``keepalive``: the WebSocket ping control frame's interval (and pong timeout), which finds a dead
    TCP connection long before a send would. Off by default: API Gateway is not known to answer ping
    frames, and an unanswered ping would close every socket after two intervals. It never counts as
    activity for API Gateway's idle timeout: the ``ping`` message does.
    """

    ping_interval: float = 300.0
    reply_timeout: float = 10.0
    open_timeout: float = 10.0
    ticket_poll_interval: float = 5.0
    heartbeat_fallback_after: float = 10.0
    keepalive: float | None = None
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)


@dataclass
class LiveStats:
    """Messages over the socket, both ways (pings included), and reconnections."""

    sent: int = 0
    received: int = 0
    pings: int = 0
    connects: int = 0
    reconnects: int = 0


def _ignore(_: LiveEvent) -> None:
    """The reply of a request nobody waits for (``request_hold``, a resubscription) still takes its turn."""


@dataclass
class _Pending:
    kind: str  # "hold" or "watch"
    key: str  # the room or ticket id
    resolve: Resolve
    waited: bool  # a caller blocks on it: it survives a reconnect (its message is sent again)


class LiveState:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.stats = LiveStats()
        self.connected = False
        self.holding: dict[str, float] = {}  # room id -> since when it is wanted but not standing
        self.standing: dict[str, SeatHeld] = {}  # room id -> the seat.held of the current socket
        self.watching: set[str] = set()  # ticket ids not final yet
        self.finals: dict[str, LiveEvent] = {}  # ticket id -> the event that made it final
        self.pending: deque[_Pending] = deque()
        self.covered: dict[str, int] = {}  # ticket id -> the socket that was open before it was asked for
        self.last_sent = clock()

    # -- what the caller asks ------------------------------------------------------------------

    def want_hold(self, room_id: str) -> str:
        self.holding.setdefault(room_id, self.clock())
        return hold_message(room_id)

    def mark(self) -> int | None:
        """The open socket, as ``heard_since`` will recognise it; None when none is open."""
        return self.stats.connects if self.connected else None

    def heard_since(self, mark: int | None) -> bool:
        """The socket open at ``mark`` is still the open one: it has heard every push since."""
        return mark is not None and self.connected and self.stats.connects == mark

    def cover(self, ticket_id: str, mark: int | None) -> None:
        """The ticket was asked for (the join's POST) while the socket of ``mark`` was open."""
        if mark is not None:
            self.covered[ticket_id] = mark

    def want_watch(self, ticket_id: str) -> str:
        if ticket_id not in self.finals:
            self.watching.add(ticket_id)
        return watch_message(ticket_id)

    def watch_needed(self, ticket_id: str, since: int | None = None) -> bool:
        """False when the socket has been open since before the ticket was asked for (``since``, or its
        ``cover``): every push about it reaches this socket, and a ``watch`` would tell nothing new."""
        return not self.heard_since(self.covered.pop(ticket_id, since))

    def release(self, room_id: str) -> None:
        """Stop holding ``room_id`` (after a leave): a reconnect no longer sends its hold."""
        self.holding.pop(room_id, None)
        self.standing.pop(room_id, None)

    def expect(self, kind: str, key: str, resolve: Resolve | None = None) -> _Pending:
        """A request sent (or about to be) whose reply is due; every one is counted, so that an ``error``
        frame, which names no request, is matched to the right one."""
        entry = _Pending(kind, key, resolve or _ignore, resolve is not None)
        self.pending.append(entry)
        return entry

    def forget(self, entry: _Pending) -> None:
        if entry in self.pending:
            self.pending.remove(entry)

    def holds(self, room_id: str) -> bool:
        """The current socket holds this seat: the server answered its ``hold`` with ``seat.held``."""
        return self.connected and room_id in self.standing

    def needs_heartbeat(self, room_id: str, fallback_after: float) -> bool:
        """Whether the seat needs an HTTP heartbeat: not held, and not about to be held again."""
        if self.holds(room_id):
            return False
        since = self.holding.get(room_id)
        return since is None or self.clock() - since >= fallback_after

    # -- what the socket does ------------------------------------------------------------------

    def sent(self, message: str) -> None:
        self.stats.sent += 1
        if message == PING:
            self.stats.pings += 1
        self.last_sent = self.clock()

    def ping_due_in(self, interval: float) -> float:
        return max(0.0, self.last_sent + interval - self.clock())

    def on_connect(self) -> list[str]:
        """The socket is open: the messages that restore its holds and watches."""
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self.connected = True
        self.last_sent = self.clock()
        again = [("hold", room) for room in self.holding] + [("watch", ticket) for ticket in sorted(self.watching)]
        awaited = {(entry.kind, entry.key) for entry in self.pending}
        for kind, key in again:
            if (kind, key) not in awaited:
                self.expect(kind, key)
        return [hold_message(key) if kind == "hold" else watch_message(key) for kind, key in again]

    def on_disconnect(self) -> None:
        """The socket closed: no hold stands any more, and each starts its heartbeat-fallback clock now."""
        self.connected = False
        now = self.clock()
        for room_id in self.standing:
            self.holding[room_id] = now
        self.standing.clear()
        # the old socket's replies will never come; a waited request's message is sent again
        self.pending = deque(entry for entry in self.pending if entry.waited)

    def on_frame(self, text: str | bytes) -> tuple[LiveEvent, list[str]]:
        """The event in one server frame, after updating the state; and what to send in answer."""
        self.stats.received += 1
        event = parse_frame(text)
        answers: list[str] = []
        if isinstance(event, SeatHeld):
            if event.room_id in self.holding:
                self.standing[event.room_id] = event
            self._resolve("hold", event.room_id, event)
        elif isinstance(event, TicketStatus) and event.ticket is not None:
            if event.ticket.is_final:
                self._final(event.ticket.ticket_id, event)
            self._resolve("watch", event.ticket.ticket_id, event)
        elif isinstance(event, TicketSeated | TicketFailed):
            self._final(event.ticket_id, event)
        elif isinstance(event, SeatMoved):
            if event.from_room_id in self.holding or event.from_room_id in self.standing:
                # the seat is in another room now: hold that one (also after a reconnect)
                self.release(event.from_room_id)
                answers.append(self.want_hold(event.room_id))
        elif isinstance(event, SeatFreed):
            self.release(event.room_id)
        elif isinstance(event, LiveError) and self.pending:
            # an error names no request: replies come in order on one socket, so it answers the oldest
            entry = self.pending.popleft()
            if not isinstance(event.exception(), RETRYABLE):
                # refused (not seated there, no such ticket): a reconnect must not send it again
                if entry.kind == "hold":
                    self.release(entry.key)
                else:
                    self.watching.discard(entry.key)
            entry.resolve(event)
        return event, answers

    def _final(self, ticket_id: str, event: LiveEvent) -> None:
        self.watching.discard(ticket_id)
        self.finals.setdefault(ticket_id, event)

    def _resolve(self, kind: str, key: str, event: LiveEvent) -> None:
        for entry in self.pending:
            if entry.kind == kind and entry.key == key:
                self.pending.remove(entry)
                entry.resolve(event)
                return
