"""Every API operation, written once for both clients as a generator of steps (no I/O here).

An operation yields a ``Call`` (the driver sends the request and sends back the
``httpx.Response``, or the ``httpx.TransportError`` it raised) or a ``Sleep`` (the driver waits
and sends back None), and returns its parsed result. A join that follows its ticket over the live
connection also yields ``Watch`` (the driver sends the socket's ``watch``) and ``AwaitTicket`` (the
driver waits for the ticket's final event, and sends it back, or None when none came in time).
``RoomsClient`` drives operations with ``httpx.Client`` and ``time.sleep``, ``AsyncRoomsClient``
with ``httpx.AsyncClient`` and ``asyncio.sleep``: retries, backoff and ticket following exist in
one place, and tests can drive them with a fake clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from rooms_client.errors import (
    JoinTimeoutError,
    RoomsApiError,
    RoomsConnectionError,
    TicketFailedError,
    error_from_response,
)
from rooms_client.live.events import LiveEvent, apply_to
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
from rooms_client.retry import RetryPolicy, retry_after_of

T = TypeVar("T")

MAX_PAGE_SIZE = 200  # the API's ceiling for ?limit=


@dataclass(frozen=True)
class Call:
    """One HTTP request. ``body`` None sends no body."""

    method: str
    path: str
    body: Any = None
    params: Mapping[str, str | int] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def creation(method: str, path: str, body: Any, idempotency_key: str | None) -> Call:
    """A create the API makes idempotent with an `Idempotency-Key`: one key for all retries of it."""
    return Call(method, path, body, headers={"Idempotency-Key": idempotency_key or uuid.uuid4().hex})


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Watch:
    ticket_id: str
    # this operation asked for the ticket (the join's POST): a socket open since it began heard every push
    asked_here: bool = False


@dataclass(frozen=True)
class AwaitTicket:
    ticket_id: str
    seconds: float


Reply = httpx.Response | httpx.TransportError
Step = Call | Sleep | Watch | AwaitTicket
Op = Generator[Step, Reply | LiveEvent | None, T]
TicketCallback = Callable[[Ticket], None]


def segment(value: str) -> str:
    """A path segment: ids are quoted so that a '/' or '?' in one cannot change the route."""
    return quote(value, safe="")


def iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


class Operations:
    """The routes of docs/openapi.json plus the two composed flows: joining to a seat, paging."""

    def __init__(self, retry: RetryPolicy, clock: Callable[[], float], min_poll_interval: float = 0.1) -> None:
        self.retry = retry
        self.clock = clock
        self.min_poll_interval = min_poll_interval

    # -- transport ---------------------------------------------------------------------------

    def send(self, call: Call) -> Op[httpx.Response]:
        """The call's 2xx response, retried per the policy; an error response raises its typed error."""
        attempt = 0
        while True:
            attempt += 1
            reply = yield call
            if not isinstance(reply, httpx.Response | httpx.TransportError):
                raise RuntimeError("the driver sent no response back for a Call")
            if self.retry.should_retry(reply, attempt):
                yield Sleep(self.retry.delay(attempt, retry_after_of(reply)))
                continue
            if not isinstance(reply, httpx.Response):
                raise RoomsConnectionError(f"{call.method} {call.path}: {reply!r}") from reply
            if reply.is_error:
                raise error_from_response(reply, retry_after_of(reply))
            return reply

    def send_json(self, call: Call) -> Op[Any]:
        response = yield from self.send(call)
        return decode(response)

    # -- rooms -------------------------------------------------------------------------------

    def create_room(
        self,
        title: str,
        capacity: int,
        metadata: Mapping[str, str] | None = None,
        *,
        rebalance: bool = False,
        speaker_seats: int = 0,
        idempotency_key: str | None = None,
    ) -> Op[Room]:
        body: dict[str, Any] = {"title": title, "capacity": capacity}
        if metadata:
            body["metadata"] = dict(metadata)
        if rebalance:
            body["rebalance"] = True
        if speaker_seats:
            body["speaker_seats"] = speaker_seats
        # the key makes a retry after a lost answer return the same room instead of opening a second one
        return Room.from_json((yield from self.send_json(creation("POST", "/rooms", body, idempotency_key))))

    def get_room(self, room_id: str) -> Op[Room]:
        return Room.from_json((yield from self.send_json(Call("GET", f"/rooms/{segment(room_id)}"))))

    def close_room(self, room_id: str) -> Op[Room]:
        return Room.from_json((yield from self.send_json(Call("POST", f"/rooms/{segment(room_id)}/close"))))

    def get_family(self, room_id: str) -> Op[Family]:
        return Family.from_json((yield from self.send_json(Call("GET", f"/rooms/{segment(room_id)}/family"))))

    # -- seats -------------------------------------------------------------------------------

    def request_join(self, room_id: str, promote: bool = False) -> Op[JoinOutcome]:
        """One POST join: the seat (200) or the ticket (202), without following the ticket."""
        body = {"promote": True} if promote else None
        response = yield from self.send(Call("POST", f"/rooms/{segment(room_id)}/join", body))
        return JoinOutcome.from_json(decode(response), retry_after_of(response))

    def join(
        self, room_id: str, promote: bool = False, timeout: float | None = 120.0, pushed: float | None = None
    ) -> Op[Seat]:
        """A seat in the room or, when it is full, in the parallel room the overflow ticket lands in.

        ``pushed``: the ticket's end comes over the live connection, with a poll every ``pushed`` seconds
        in case the push is lost; None polls as the server asks.
        """
        deadline = None if timeout is None else self.clock() + timeout
        outcome = yield from self.request_join(room_id, promote)
        if outcome.seat is not None:
            return outcome.seat
        if outcome.ticket is None:
            raise RoomsApiError("a 202 join answer without a ticket", status=202, code="BAD_RESPONSE")
        if pushed is not None:
            ticket = yield from self._await_pushed(outcome.ticket, deadline, timeout, pushed, None, asked_here=True)
        else:
            ticket = yield from self._follow(outcome.ticket, deadline, timeout, outcome.retry_after, None)
        return (yield from self.seat_of(ticket))

    # -- groups ------------------------------------------------------------------------------

    def create_group(self, room_id: str) -> Op[Group]:
        call = Call("POST", f"/rooms/{segment(room_id)}/groups")
        return Group.from_json((yield from self.send_json(call)))

    def join_group(self, room_id: str, group_id: str, invite_token: str) -> Op[Group]:
        path = f"/rooms/{segment(room_id)}/groups/{segment(group_id)}/members"
        return Group.from_json((yield from self.send_json(Call("POST", path, {"invite_token": invite_token}))))

    def get_group(self, room_id: str, group_id: str) -> Op[Group]:
        path = f"/rooms/{segment(room_id)}/groups/{segment(group_id)}"
        return Group.from_json((yield from self.send_json(Call("GET", path))))

    def take_group_in(self, room_id: str, group_id: str) -> Op[JoinOutcome]:
        """One POST join with the group: every member seated in the room (200), or queued together (202)."""
        response = yield from self.send(Call("POST", f"/rooms/{segment(room_id)}/join", {"group_id": group_id}))
        return JoinOutcome.from_json(decode(response), retry_after_of(response))

    def get_ticket(self, ticket_id: str) -> Op[Ticket]:
        return Ticket.from_json((yield from self.send_json(Call("GET", f"/tickets/{segment(ticket_id)}"))))

    def follow_ticket(
        self,
        ticket: Ticket | str,
        timeout: float | None = 120.0,
        on_update: TicketCallback | None = None,
        pushed: float | None = None,
    ) -> Op[Ticket]:
        """Follow a ticket until it is seated or failed: polled as often as the server allows or, with
        ``pushed``, told by the live connection (and polled every ``pushed`` seconds meanwhile)."""
        deadline = None if timeout is None else self.clock() + timeout
        if pushed is not None:
            if not isinstance(ticket, Ticket):
                ticket = yield from self.get_ticket(ticket)
                if on_update is not None:
                    on_update(ticket)
            return (yield from self._await_pushed(ticket, deadline, timeout, pushed, on_update))
        return (yield from self._follow(ticket, deadline, timeout, None, on_update))

    def _await_pushed(
        self,
        ticket: Ticket,
        deadline: float | None,
        timeout: float | None,
        poll_every: float,
        on_update: TicketCallback | None,
        *,
        asked_here: bool = False,
    ) -> Op[Ticket]:
        current = ticket
        if current.is_final:
            return current
        # the watch's reply closes the race with a push sent before the socket was listening (the driver
        # sends none when its socket was open before the ticket was asked for: no push can have been missed)
        yield Watch(current.ticket_id, asked_here)
        while True:
            wait = poll_every
            if deadline is not None:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    raise JoinTimeoutError(current, timeout or 0.0)
                wait = min(wait, remaining)
            event = yield AwaitTicket(current.ticket_id, wait)
            if isinstance(event, LiveEvent):
                current = apply_to(current, event)
            else:
                # no push in time: a push is best effort, the ticket is always readable over HTTP
                current = yield from self.get_ticket(current.ticket_id)
            if on_update is not None:
                on_update(current)
            if current.is_final:
                return current

    def _follow(
        self,
        ticket: Ticket | str,
        deadline: float | None,
        timeout: float | None,
        hint: float | None,
        on_update: TicketCallback | None,
    ) -> Op[Ticket]:
        current = ticket if isinstance(ticket, Ticket) else None
        ticket_id = ticket.ticket_id if isinstance(ticket, Ticket) else ticket
        while current is None or not current.is_final:
            if current is not None:
                # honour both hints: the ticket's retry_after_seconds and the Retry-After header
                pause = max(self.min_poll_interval, float(current.retry_after_seconds), hint or 0.0)
                if deadline is not None:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        raise JoinTimeoutError(current, timeout or 0.0)
                    pause = min(pause, remaining)
                yield Sleep(pause)
            response = yield from self.send(Call("GET", f"/tickets/{segment(ticket_id)}"))
            current = Ticket.from_json(decode(response))
            hint = retry_after_of(response)
            if on_update is not None:
                on_update(current)
        return current

    def seat_of(self, ticket: Ticket) -> Op[Seat]:
        """The seat a final ticket gave; a failed ticket raises ``TicketFailedError``."""
        if ticket.status != "seated" or ticket.room_id is None:
            raise TicketFailedError(ticket)
        if ticket.seat is not None:  # pushed with the ticket's end: nothing to ask
            return ticket.seat
        # the heartbeat answers with the seat, and a newly seated client owes one anyway
        return (yield from self.heartbeat(ticket.room_id))

    def leave(self, room_id: str) -> Op[LeaveResult]:
        return LeaveResult.from_json((yield from self.send_json(Call("POST", f"/rooms/{segment(room_id)}/leave"))))

    def heartbeat(self, room_id: str) -> Op[Seat]:
        return Seat.from_json((yield from self.send_json(Call("POST", f"/rooms/{segment(room_id)}/heartbeat"))))

    def list_participants(
        self, room_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Op[ParticipantsPage]:
        params: dict[str, str | int] = {}
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        call = Call("GET", f"/rooms/{segment(room_id)}/participants", params=params or None)
        return ParticipantsPage.from_json((yield from self.send_json(call)))

    def all_participants(self, room_id: str, page_size: int = MAX_PAGE_SIZE) -> Op[list[Seat]]:
        """Every participant of one room, following the cursor to the last page."""
        seats: list[Seat] = []
        cursor: str | None = None
        while True:
            page = yield from self.list_participants(room_id, page_size, cursor)
            seats.extend(page.participants)
            if not page.next_cursor:
                return seats
            cursor = page.next_cursor

    def kick(self, room_id: str, user_id: str) -> Op[KickResult]:
        call = Call("DELETE", f"/rooms/{segment(room_id)}/participants/{segment(user_id)}")
        return KickResult.from_json((yield from self.send_json(call)))

    def ban(self, room_id: str, user_id: str, duration_seconds: int | None = None) -> Op[Ban]:
        body: dict[str, Any] = {"user_id": user_id}
        if duration_seconds is not None:
            body["duration_seconds"] = duration_seconds
        call = Call("POST", f"/rooms/{segment(room_id)}/bans", body)
        return Ban.from_json((yield from self.send_json(call)))

    def lift_ban(self, room_id: str, user_id: str) -> Op[BanLifted]:
        call = Call("DELETE", f"/rooms/{segment(room_id)}/bans/{segment(user_id)}")
        return BanLifted.from_json((yield from self.send_json(call)))

    def bring_up(self, room_id: str, user_id: str) -> Op[Seat]:
        call = Call("PUT", f"/rooms/{segment(room_id)}/speakers/{segment(user_id)}")
        return Seat.from_json((yield from self.send_json(call)))

    def step_down(self, room_id: str, user_id: str) -> Op[LeaveResult]:
        call = Call("DELETE", f"/rooms/{segment(room_id)}/speakers/{segment(user_id)}")
        return LeaveResult.from_json((yield from self.send_json(call)))

    def set_moderator(self, room_id: str, user_id: str, named: bool) -> Op[Room]:
        call = Call("PUT" if named else "DELETE", f"/rooms/{segment(room_id)}/moderators/{segment(user_id)}")
        return Room.from_json((yield from self.send_json(call)))

    # -- events (scheduled shows) ------------------------------------------------------------

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
    ) -> Op[Event]:
        body = {
            "title": title,
            "starts_at": iso(starts_at),
            "ends_at": iso(ends_at),
            "timezone": timezone,
            "capacity": capacity,
            "expected_audience": expected_audience,
            "recurrence": recurrence,
        }
        return Event.from_json((yield from self.send_json(creation("POST", "/events", body, idempotency_key))))

    def get_event(self, event_id: str) -> Op[Event]:
        return Event.from_json((yield from self.send_json(Call("GET", f"/events/{segment(event_id)}"))))

    def list_events(self, limit: int | None = None, cursor: str | None = None) -> Op[EventsPage]:
        """The caller's shows that are not over yet, by start time."""
        params: dict[str, str | int] = {}
        if limit is not None:
            params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        return EventsPage.from_json((yield from self.send_json(Call("GET", "/events", params=params or None))))

    def update_event(self, event_id: str, changes: EventChanges) -> Op[Event]:
        """PATCH only the fields present in ``changes`` (``recurrence: None`` removes the recurrence)."""
        body = {key: iso(value) if isinstance(value, datetime) else value for key, value in changes.items()}
        call = Call("PATCH", f"/events/{segment(event_id)}", body)
        return Event.from_json((yield from self.send_json(call)))

    def cancel_event(self, event_id: str) -> Op[Event]:
        return Event.from_json((yield from self.send_json(Call("DELETE", f"/events/{segment(event_id)}"))))

    def rsvp(self, event_id: str) -> Op[RsvpResult]:
        # counted once per user: a retried RSVP counts nothing twice
        call = Call("POST", f"/events/{segment(event_id)}/rsvp")
        return RsvpResult.from_json((yield from self.send_json(call)))

    # -- meta --------------------------------------------------------------------------------

    def get_openapi(self) -> Op[dict[str, Any]]:
        data = yield from self.send_json(Call("GET", "/openapi.json"))
        return dict(data)


def decode(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; a 204 or empty body is None."""
    if not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RoomsApiError(
            f"the API answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
            code="BAD_RESPONSE",
            body=response.text[:200],
        ) from error
