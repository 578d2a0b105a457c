"""The synchronous client: each method runs one shared operation over ``httpx.Client``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import httpx

from rooms_client._base import ClientBase
from rooms_client.auth import TokenSource, token_now
from rooms_client.live.errors import LiveConnectionError
from rooms_client.live.events import LiveEvent
from rooms_client.live.state import LiveOptions
from rooms_client.live.sync import LiveConnection
from rooms_client.models import (
    Ban,
    BanLifted,
    Event,
    EventChanges,
    EventsPage,
    Family,
    Group,
    JoinOutcome,
    KickResult,
    LeaveResult,
    ParticipantsPage,
    Room,
    RsvpResult,
    Seat,
    Ticket,
)
from rooms_client.operations import AwaitTicket, Call, Op, Reply, Sleep, TicketCallback, Watch
from rooms_client.retry import RetryPolicy

T = TypeVar("T")


class RoomsClient(ClientBase):
    """Rooms API client. ``token`` is a string, a callable returning one, or an object with ``token()``.

    Requests that fail with 429, 5xx or a connection error are retried with backoff (the API is
    idempotent); ``join`` follows an overflow ticket to the seat. Use it as a context manager, or
    call ``close()``.

    With ``ws_url`` (or ``$ROOMS_WS_URL``), ``join`` opens the live connection first, waits for the
    ticket's push instead of polling, and holds the seat over the socket: ``heartbeat_needed`` then
    says False while the hold stands. Without one, or when the socket cannot be opened, it polls.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: TokenSource = None,
        *,
        retry: RetryPolicy | None = None,
        request_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        min_poll_interval: float = 0.1,
        ws_url: str | None = None,
        live: LiveOptions | None = None,
    ) -> None:
        super().__init__(base_url, token, retry, clock, min_poll_interval, ws_url=ws_url, live=live)
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=request_timeout, transport=transport)
        self._sleep = sleep
        self._live: LiveConnection | None = None

    def close(self) -> None:
        if self._live is not None:
            self._live.close()
        if self._owns_http:
            self._http.close()

    def _forget_live(self) -> None:
        self._live = None

    # -- the live connection
    @property
    def live(self) -> LiveConnection | None:
        """The live connection, once ``join`` or ``connect_live`` opened it (None without a ``ws_url``)."""
        return self._live

    def connect_live(self) -> LiveConnection:
        """Open the live connection now (``join`` does it by itself); ``LiveConnectionError`` if it can't."""
        if self.ws_url is None:
            raise LiveConnectionError("no WebSocket URL: pass ws_url= or set $ROOMS_WS_URL")
        if self._live is None or self._live.closed:
            self._live = LiveConnection(self.ws_url, self._token, self.live_options, clock=self._clock)
        return self._live.connect()

    def heartbeat_needed(self, room_id: str) -> bool:
        """Whether the seat needs HTTP heartbeats: False while the live connection holds it."""
        return self._live is None or self._live.needs_heartbeat(room_id)

    def _live_for_join(self) -> LiveConnection | None:
        if self.ws_url is None:
            return None
        try:
            return self.connect_live()
        except LiveConnectionError:
            return None  # no socket: the join polls, as a client without one does

    def _open_live(self) -> LiveConnection | None:
        return self._live if self._live is not None and self._live.connected else None

    def __enter__(self) -> RoomsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def run(self, op: Op[T]) -> T:
        """Drive an operation to its result: send its calls, sleep its sleeps."""
        reply: Reply | LiveEvent | None = None
        # the socket open as the operation starts: still open at a Watch of a ticket the operation asked
        # for, it heard every push about it
        mark = self._live.mark() if self._live is not None else None
        while True:
            try:
                step = op.send(reply)
            except StopIteration as done:
                return done.value
            reply = None
            if isinstance(step, Sleep):
                self._sleep(step.seconds)
            elif isinstance(step, Watch):
                if self._live is not None:
                    self._live.request_watch(step.ticket_id, mark if step.asked_here else None)
            elif isinstance(step, AwaitTicket):
                if self._live is not None:
                    reply = self._live.wait_ticket(step.ticket_id, step.seconds)
                else:
                    self._sleep(step.seconds)
            else:
                reply = self._exchange(step)

    def _exchange(self, call: Call) -> Reply:
        request = self._http.build_request(**self._request_args(call, token_now(self._token)))
        try:
            return self._http.send(request)
        except httpx.TransportError as error:
            return error

    # -- rooms
    def create_room(
        self,
        title: str,
        capacity: int,
        metadata: Mapping[str, str] | None = None,
        *,
        rebalance: bool = False,
        speaker_seats: int = 0,
        idempotency_key: str | None = None,
    ) -> Room:
        return self.run(
            self._ops.create_room(
                title,
                capacity,
                metadata,
                rebalance=rebalance,
                speaker_seats=speaker_seats,
                idempotency_key=idempotency_key,
            )
        )

    def get_room(self, room_id: str) -> Room:
        return self.run(self._ops.get_room(room_id))

    def close_room(self, room_id: str) -> Room:
        return self.run(self._ops.close_room(room_id))

    def get_family(self, room_id: str) -> Family:
        return self.run(self._ops.get_family(room_id))

    # -- seats
    def request_join(self, room_id: str, *, promote: bool = False) -> JoinOutcome:
        mark = self._live.mark() if self._live is not None else None
        outcome = self.run(self._ops.request_join(room_id, promote))
        if outcome.ticket is not None and self._live is not None:
            self._live.cover(outcome.ticket.ticket_id, mark)  # following it then needs no `watch`
        return outcome

    def join(self, room_id: str, *, promote: bool = False, timeout: float | None = 120.0, hold: bool = True) -> Seat:
        """A seat, following the overflow ticket when the room is full (pushed over the live connection
        when there is one). ``hold``: the live connection then keeps the seat, instead of heartbeats."""
        # the socket opens before the POST: no push about this join can be missed
        live = self._live_for_join()
        poll = live.options.ticket_poll_interval if live is not None else None
        seat = self.run(self._ops.join(room_id, promote, timeout, poll))
        if live is not None and hold:
            live.request_hold(seat.room_id)  # from its seat.held on, no heartbeats are needed
        return seat

    # -- groups: friends seated together
    def create_group(self, room_id: str) -> Group:
        """A group led by the caller; share its ``invite_token`` with the friends to seat with."""
        return self.run(self._ops.create_group(room_id))

    def join_group(self, room_id: str, group_id: str, invite_token: str) -> Group:
        """Join a friend's group (the caller's consent to be seated with it)."""
        return self.run(self._ops.join_group(room_id, group_id, invite_token))

    def get_group(self, room_id: str, group_id: str) -> Group:
        return self.run(self._ops.get_group(room_id, group_id))

    def take_group_in(self, room_id: str, group_id: str) -> JoinOutcome:
        """The leader seats the whole group in the room, or queues it together for one parallel room
        (``outcome.group`` lists every member's seat or ticket; each member follows their own ticket)."""
        return self.run(self._ops.take_group_in(room_id, group_id))

    def get_ticket(self, ticket_id: str) -> Ticket:
        return self.run(self._ops.get_ticket(ticket_id))

    def follow_ticket(
        self, ticket: Ticket | str, *, timeout: float | None = 120.0, on_update: TicketCallback | None = None
    ) -> Ticket:
        live = self._open_live()
        poll = live.options.ticket_poll_interval if live is not None else None
        return self.run(self._ops.follow_ticket(ticket, timeout, on_update, poll))

    def seat_of(self, ticket: Ticket) -> Seat:
        return self.run(self._ops.seat_of(ticket))

    def leave(self, room_id: str) -> LeaveResult:
        result = self.run(self._ops.leave(room_id))
        if self._live is not None:
            for room in {room_id, result.room_id} - {None}:
                self._live.release(str(room))
        return result

    def heartbeat(self, room_id: str) -> Seat:
        return self.run(self._ops.heartbeat(room_id))

    def list_participants(
        self, room_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> ParticipantsPage:
        return self.run(self._ops.list_participants(room_id, limit, cursor))

    def all_participants(self, room_id: str) -> list[Seat]:
        return self.run(self._ops.all_participants(room_id))

    def kick(self, room_id: str, user_id: str) -> KickResult:
        return self.run(self._ops.kick(room_id, user_id))

    def ban(self, room_id: str, user_id: str, duration_seconds: int | None = None) -> Ban:
        """Keep a user out of the room's family (host or moderator) and free their seat; for
        ``duration_seconds``, or for the family's life."""
        return self.run(self._ops.ban(room_id, user_id, duration_seconds))

    def lift_ban(self, room_id: str, user_id: str) -> BanLifted:
        return self.run(self._ops.lift_ban(room_id, user_id))

    def bring_up(self, room_id: str, user_id: str) -> Seat:
        """The host brings a user seated anywhere in the family up to a speaker seat of the main room."""
        return self.run(self._ops.bring_up(room_id, user_id))

    def step_down(self, room_id: str, user_id: str) -> LeaveResult:
        """Take a speaker off the stage (the host, or the speaker): the speaker seat is freed."""
        return self.run(self._ops.step_down(room_id, user_id))

    def name_moderator(self, room_id: str, user_id: str) -> Room:
        """The host names a moderator of the family: they may kick and ban."""
        return self.run(self._ops.set_moderator(room_id, user_id, named=True))

    def unname_moderator(self, room_id: str, user_id: str) -> Room:
        return self.run(self._ops.set_moderator(room_id, user_id, named=False))

    # -- events
    def create_event(
        self,
        title: str,
        *,
        starts_at: datetime | str,
        ends_at: datetime | str,
        timezone: str,
        capacity: int,
        expected_audience: int,
        recurrence: str | None = None,
        idempotency_key: str | None = None,
    ) -> Event:
        op = self._ops.create_event(
            title,
            starts_at=starts_at,
            ends_at=ends_at,
            timezone=timezone,
            capacity=capacity,
            expected_audience=expected_audience,
            recurrence=recurrence,
            idempotency_key=idempotency_key,
        )
        return self.run(op)

    def get_event(self, event_id: str) -> Event:
        return self.run(self._ops.get_event(event_id))

    def list_events(self, *, limit: int | None = None, cursor: str | None = None) -> EventsPage:
        return self.run(self._ops.list_events(limit, cursor))

    def update_event(self, event_id: str, changes: EventChanges) -> Event:
        return self.run(self._ops.update_event(event_id, changes))

    def cancel_event(self, event_id: str) -> Event:
        return self.run(self._ops.cancel_event(event_id))

    def rsvp(self, event_id: str) -> RsvpResult:
        return self.run(self._ops.rsvp(event_id))

    # -- meta
    def get_openapi(self) -> dict[str, Any]:
        return self.run(self._ops.get_openapi())
