"""The live connection's frames (docs/live.md) as typed events; anything else passes through untouched.

Every server frame is ``{"type", "version", "at", "data"}``. A frame of a type this SDK knows, at version
1, with the fields it needs, becomes that type's event; any other frame (a newer type or version, a field
missing, not even JSON) becomes an ``UnknownEvent`` carrying what arrived: a newer server never crashes
an older client.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rooms_client.errors import ForbiddenError, InternalError, RoomsApiError, ThrottledError, error_class
from rooms_client.models import Seat, Ticket, parse_datetime

PROTOCOL_VERSION = 1
# API Gateway answers a message it cannot take with a frame of its own, {"message", "connectionId",
# "requestId"}, not in the protocol's shape: its message, as the code of the HTTP API's error.
GATEWAY_CODES = {
    "Too Many Requests": ThrottledError.code,
    "Forbidden": ForbiddenError.code,
    "Internal server error": InternalError.code,
}


@dataclass(frozen=True)
class LiveEvent:
    """One server frame. ``data`` is its payload as sent; subclasses add typed fields read from it."""

    type: str
    version: int | None
    at: datetime | None
    data: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class UnknownEvent(LiveEvent):
    """A frame this SDK cannot read as one of its types; ``raw`` is the text as received."""

    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class SeatHeld(LiveEvent):
    """Reply to ``hold``: this connection keeps the seat until ``held_until`` (or the socket closes)."""

    room_id: str = ""
    user_id: str = ""
    held_until: datetime | None = None


@dataclass(frozen=True)
class TicketStatus(LiveEvent):
    """Reply to ``watch``: the ticket as ``GET /tickets/{id}`` answers it."""

    ticket: Ticket | None = None


@dataclass(frozen=True)
class TicketSeated(LiveEvent):
    ticket_id: str = ""
    family_id: str = ""
    room_id: str = ""
    user_id: str = ""
    seat: Seat | None = None  # the seat as the HTTP API answers it (None from a server that sends none)


@dataclass(frozen=True)
class TicketFailed(LiveEvent):
    ticket_id: str = ""
    family_id: str = ""
    reason: str | None = None


@dataclass(frozen=True)
class SeatMoved(LiveEvent):
    """The user was promoted to another room of the family."""

    family_id: str = ""
    from_room_id: str = ""
    room_id: str = ""


@dataclass(frozen=True)
class GroupSeated(LiveEvent):
    """The leader took the user's group into a room that had every seat: this is the user's."""

    group_id: str = ""
    seat: Seat | None = None


@dataclass(frozen=True)
class SeatFreed(LiveEvent):
    """The seat is gone: ``reason`` is ``kicked`` or ``room_closed``."""

    room_id: str = ""
    reason: str | None = None


@dataclass(frozen=True)
class LiveError(LiveEvent):
    """A message could not be taken; the code and message are the HTTP API's. API Gateway's own refusals
    (``{"message": "Too Many Requests"}``...) are one too, with an empty ``type``."""

    code: str = ""
    message: str = ""
    field_name: str | None = None

    def exception(self) -> RoomsApiError:
        cls = error_class(0, self.code)
        return cls(self.message or self.code, code=self.code or None, field=self.field_name, body=self.data)


def _seat_held(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "room_id": str(data["room_id"]),
        "user_id": str(data["user_id"]),
        "held_until": parse_datetime(data.get("held_until")),
    }


def _ticket_status(data: dict[str, Any]) -> dict[str, Any]:
    return {"ticket": Ticket.from_json(data)}


def _ticket_seated(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("ticket_id", "family_id", "room_id", "user_id")
    seat = data.get("seat")
    return {**{key: str(data[key]) for key in keys}, "seat": Seat.from_json(seat) if seat else None}


def _ticket_failed(data: dict[str, Any]) -> dict[str, Any]:
    reason = data.get("reason")
    return {"ticket_id": str(data["ticket_id"]), "family_id": str(data["family_id"]), "reason": reason}


def _seat_moved(data: dict[str, Any]) -> dict[str, Any]:
    return {key: str(data[key]) for key in ("family_id", "from_room_id", "room_id")}


def _group_seated(data: dict[str, Any]) -> dict[str, Any]:
    return {"group_id": str(data["group_id"]), "seat": Seat.from_json(data["seat"])}


def _seat_freed(data: dict[str, Any]) -> dict[str, Any]:
    return {"room_id": str(data["room_id"]), "reason": data.get("reason")}


def _error(data: dict[str, Any]) -> dict[str, Any]:
    detail = data["error"]
    if not isinstance(detail, dict):
        raise TypeError("error is not an object")
    name = detail.get("field")
    return {
        "code": str(detail.get("code") or ""),
        "message": str(detail.get("message") or ""),
        "field_name": name if isinstance(name, str) else None,
    }


# type -> (event class, the reader of its data's fields)
EVENT_TYPES: dict[str, tuple[type[LiveEvent], Any]] = {
    "seat.held": (SeatHeld, _seat_held),
    "ticket.status": (TicketStatus, _ticket_status),
    "ticket.seated": (TicketSeated, _ticket_seated),
    "ticket.failed": (TicketFailed, _ticket_failed),
    "seat.moved": (SeatMoved, _seat_moved),
    "seat.freed": (SeatFreed, _seat_freed),
    "group.seated": (GroupSeated, _group_seated),
    "error": (LiveError, _error),
}


def parse_frame(text: str | bytes) -> LiveEvent:
    """The event a server frame carries. Never raises: what cannot be read is an ``UnknownEvent``."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    try:
        frame = json.loads(raw)
    except ValueError:
        return UnknownEvent("", None, None, {}, raw=raw)
    if not isinstance(frame, dict):
        return UnknownEvent("", None, None, {}, raw=raw)
    kind = frame.get("type")
    if kind is None and isinstance(frame.get("message"), str):
        message = frame["message"]
        return LiveError("", None, None, frame, code=GATEWAY_CODES.get(message, "GATEWAY_ERROR"), message=message)
    kind = kind if isinstance(kind, str) else ""
    version = frame.get("version") if isinstance(frame.get("version"), int) else None
    payload = frame.get("data")
    data: dict[str, Any] = payload if isinstance(payload, dict) else {}
    try:
        at = parse_datetime(frame.get("at"))
    except (TypeError, ValueError):
        at = None
    known = EVENT_TYPES.get(kind)
    if known is None or version != PROTOCOL_VERSION:
        return UnknownEvent(kind, version, at, data, raw=raw)
    cls, read = known
    try:
        fields = read(data)
    except (KeyError, TypeError, ValueError):
        return UnknownEvent(kind, version, at, data, raw=raw)
    return cls(kind, version, at, data, **fields)


def apply_to(ticket: Ticket, event: LiveEvent) -> Ticket:
    """The ticket as a final event tells it: a status reply is the whole ticket, a push changes its fields."""
    updated = event.at or ticket.updated_at
    if isinstance(event, TicketStatus) and event.ticket is not None:
        return event.ticket
    if isinstance(event, TicketSeated):
        index = event.seat.index if event.seat is not None else ticket.room_index
        return dataclasses.replace(
            ticket, status="seated", room_id=event.room_id, room_index=index, seat=event.seat, updated_at=updated
        )
    if isinstance(event, TicketFailed):
        return dataclasses.replace(ticket, status="failed", reason=event.reason, updated_at=updated)
    return ticket
