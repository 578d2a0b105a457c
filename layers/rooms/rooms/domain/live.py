"""The live connection's rules (docs/live.md): a connection's record, a held seat's lease, and the frames
the server sends, replies and pushes alike.

A connection lives at most CONNECTION_LIFETIME (API Gateway's limit), so a seat it holds is leased to that
latest end plus the grace: a lost `$disconnect` still ends the lease, and the minute sweep frees the seat.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rooms.domain.model import Seat

# API Gateway closes a WebSocket connection after 2 hours, whatever it does
CONNECTION_LIFETIME = timedelta(hours=2)
# a connection's record outlives its latest end by this much before DynamoDB's TTL removes it
CONNECTION_RECORD_SLACK = timedelta(hours=1)
FRAME_VERSION = 1

# frame types
SEAT_HELD = "seat.held"
TICKET_STATUS = "ticket.status"
TICKET_SEATED = "ticket.seated"
TICKET_FAILED = "ticket.failed"
SEAT_MOVED = "seat.moved"
SEAT_FREED = "seat.freed"
GROUP_SEATED = "group.seated"
ERROR = "error"

Frame = dict[str, Any]


@dataclass(frozen=True)
class Connection:
    """One open socket of a user: what it holds and watches."""

    user_id: str
    connection_id: str
    connected_at: datetime
    holds_room: str | None = None
    watches_ticket: str | None = None

    @property
    def latest_end(self) -> datetime:
        return self.connected_at + CONNECTION_LIFETIME

    @property
    def expires_at(self) -> datetime:
        """When its record may go (DynamoDB's TTL): a lost `$disconnect` leaves nothing for ever."""
        return self.latest_end + CONNECTION_RECORD_SLACK


def held_until(connection: Connection, grace: timedelta) -> datetime:
    """The lease `hold` gives a seat: the connection's latest possible end, plus the grace."""
    return connection.latest_end + grace


def stamp(when: datetime) -> str:
    """An instant as frames write it: UTC, to the millisecond, e.g. 2026-12-02T14:00:00.123Z."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def frame(kind: str, data: dict[str, Any], at: datetime) -> Frame:
    """A frame in the one shape every reply and push has."""
    return {"type": kind, "version": FRAME_VERSION, "at": stamp(at), "data": data}


def error_frame(code: str, message: str, at: datetime, field: str | None = None) -> Frame:
    """An `error` frame, its body in the HTTP API's error shape."""
    return frame(ERROR, {"error": {"code": code, "message": message, "field": field}}, at)


def seat_view(seat: Seat, heartbeat_interval_seconds: int) -> dict[str, Any]:
    """A seat as the HTTP API answers it (SeatOut), so a pushed seat needs no request to read."""
    return {
        "room_id": seat.room_id,
        "family_id": seat.family_id,
        "index": seat.index,
        "user_id": seat.user_id,
        "joined_at": stamp(seat.joined_at),
        "expires_at": stamp(seat.expires_at),
        "heartbeat_interval_seconds": heartbeat_interval_seconds,
        "speaker": seat.speaker,
    }


def ticket_seated(ticket_id: str, seat: Seat, heartbeat_interval_seconds: int, at: datetime) -> Frame:
    data = {
        "ticket_id": ticket_id,
        "family_id": seat.family_id,
        "room_id": seat.room_id,
        "user_id": seat.user_id,
        "seat": seat_view(seat, heartbeat_interval_seconds),
    }
    return frame(TICKET_SEATED, data, at)


def group_seated(group_id: str, seat: Seat, heartbeat_interval_seconds: int, at: datetime) -> Frame:
    """A member's seat, taken with their group by its leader (no ticket: the room had every seat)."""
    data = {"group_id": group_id, "seat": seat_view(seat, heartbeat_interval_seconds)}
    return frame(GROUP_SEATED, data, at)


def ticket_failed(ticket_id: str, family_id: str, reason: str, at: datetime) -> Frame:
    return frame(TICKET_FAILED, {"ticket_id": ticket_id, "family_id": family_id, "reason": reason}, at)


def seat_moved(family_id: str, from_room_id: str, room_id: str, at: datetime) -> Frame:
    return frame(SEAT_MOVED, {"family_id": family_id, "from_room_id": from_room_id, "room_id": room_id}, at)


def seat_freed(room_id: str, reason: str, at: datetime) -> Frame:
    return frame(SEAT_FREED, {"room_id": room_id, "reason": reason}, at)
