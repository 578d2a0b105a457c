"""What the API returns, as frozen dataclasses parsed from its JSON (docs/openapi.json).

Parsers read the fields they know and ignore the rest, so a server that adds fields never
breaks an older client. ``to_json`` gives plain JSON back (for the CLI and reports).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

Json = Mapping[str, Any]


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 (with ``Z`` or an offset) to an aware datetime; None stays None."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _required_datetime(data: Json, key: str) -> datetime:
    value = parse_datetime(data[key])
    if value is None:
        raise ValueError(f"{key} is null")
    return value


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def to_json(value: Any) -> Any:
    """A dataclass (or a list of them) as JSON-ready data: datetimes in ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


# The values the API documents for its enum fields (docs/openapi.json; a contract test keeps them equal).
# Fields stay plain strings: a newer server may add a value, and an older client must still parse it.
ROOM_STATUSES = ("open", "closed")
JOIN_STATUSES = ("seated", "queued")
EVENT_STATUSES = ("scheduled", "live", "ended", "cancelled")
RECURRENCES = ("daily", "weekly")


@dataclass(frozen=True)
class Room:
    room_id: str
    family_id: str
    index: int
    host_id: str
    title: str
    capacity: int
    occupancy: int
    status: str  # one of ROOM_STATUSES
    created_at: datetime
    metadata: dict[str, str]
    parallel_count: int
    event_id: str | None = None
    rebalance: bool = False  # the family's thinned-out parallel rooms are merged
    moderators: list[str] = field(default_factory=list)  # named by the host: they may kick and ban
    speaker_seats: int = 0  # seats of the capacity kept for speakers (the stage)

    @property
    def is_main(self) -> bool:
        return self.index == 0

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @classmethod
    def from_json(cls, data: Json) -> Room:
        return cls(
            room_id=str(data["room_id"]),
            family_id=str(data["family_id"]),
            index=int(data["index"]),
            host_id=str(data["host_id"]),
            title=str(data["title"]),
            capacity=int(data["capacity"]),
            occupancy=int(data["occupancy"]),
            status=str(data["status"]),
            created_at=_required_datetime(data, "created_at"),
            metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
            parallel_count=int(data.get("parallel_count") or 0),
            event_id=data.get("event_id"),
            rebalance=bool(data.get("rebalance", False)),
            moderators=[str(user) for user in data.get("moderators") or []],
            speaker_seats=int(data.get("speaker_seats") or 0),
        )


@dataclass(frozen=True)
class Media:
    """How to join the audio of a seat's room: connect to ``url`` with ``token`` (``provider``'s SDK)."""

    provider: str
    url: str
    token: str
    expires_at: datetime

    @classmethod
    def from_json(cls, data: Json) -> Media:
        return cls(
            provider=str(data["provider"]),
            url=str(data["url"]),
            token=str(data["token"]),
            expires_at=_required_datetime(data, "expires_at"),
        )


@dataclass(frozen=True)
class Seat:
    room_id: str
    family_id: str
    index: int
    user_id: str
    joined_at: datetime
    expires_at: datetime
    heartbeat_interval_seconds: int
    # the caller's own seat from a join or a heartbeat, on a platform with a media provider
    media: Media | None = None
    speaker: bool = False  # on the main room's stage: never moved

    @classmethod
    def from_json(cls, data: Json) -> Seat:
        media = data.get("media")
        return cls(
            room_id=str(data["room_id"]),
            family_id=str(data["family_id"]),
            index=int(data["index"]),
            user_id=str(data["user_id"]),
            joined_at=_required_datetime(data, "joined_at"),
            expires_at=_required_datetime(data, "expires_at"),
            heartbeat_interval_seconds=int(data["heartbeat_interval_seconds"]),
            media=Media.from_json(media) if media else None,
            speaker=bool(data.get("speaker", False)),
        )


# What a ticket can say (TicketOut.status): only `queued` ever changes by itself; `failed` means never seated
# (join again to queue afresh); `left` and `expired` mean the seat it led to is gone.
TICKET_STATUSES = ("queued", "seated", "failed", "left", "expired")


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    status: str  # one of TICKET_STATUSES (a newer server may add more: treat unknown ones as final)
    family_id: str
    requested_room_id: str
    retry_after_seconds: int
    created_at: datetime
    updated_at: datetime
    room_id: str | None = None
    room_index: int | None = None
    reason: str | None = None
    # the seat itself, when the live connection's push told it (the HTTP answer names the room only)
    seat: Seat | None = None
    user_id: str | None = None  # None from a server older than groups
    group_id: str | None = None  # queued with this group: seated together with it

    @property
    def is_final(self) -> bool:
        """Every status but `queued` is final: only a queued ticket changes without the user acting."""
        return self.status != "queued"

    @classmethod
    def from_json(cls, data: Json) -> Ticket:
        return cls(
            ticket_id=str(data["ticket_id"]),
            status=str(data["status"]),
            family_id=str(data["family_id"]),
            requested_room_id=str(data["requested_room_id"]),
            retry_after_seconds=_optional_int(data.get("retry_after_seconds")) or 0,
            created_at=_required_datetime(data, "created_at"),
            updated_at=_required_datetime(data, "updated_at"),
            room_id=data.get("room_id"),
            room_index=_optional_int(data.get("room_index")),
            reason=data.get("reason"),
            user_id=data.get("user_id"),
            group_id=data.get("group_id"),
        )


@dataclass(frozen=True)
class Group:
    """Friends to be seated together. ``invite_token`` only in the answer that made it: share it."""

    group_id: str
    family_id: str
    leader_id: str
    members: list[str]
    max_members: int
    taken_in: bool
    expires_at: datetime
    invite_token: str | None = None

    @classmethod
    def from_json(cls, data: Json) -> Group:
        return cls(
            group_id=str(data["group_id"]),
            family_id=str(data["family_id"]),
            leader_id=str(data["leader_id"]),
            members=[str(member) for member in data["members"]],
            max_members=int(data["max_members"]),
            taken_in=bool(data["taken_in"]),
            expires_at=_required_datetime(data, "expires_at"),
            invite_token=data.get("invite_token"),
        )


@dataclass(frozen=True)
class GroupSeating:
    """A group taken in: every member's seat, in one room; or every member's ticket, queued together."""

    group_id: str
    seats: list[Seat]
    tickets: list[Ticket]

    @classmethod
    def from_json(cls, data: Json) -> GroupSeating:
        return cls(
            group_id=str(data["group_id"]),
            seats=[Seat.from_json(seat) for seat in data.get("seats", [])],
            tickets=[Ticket.from_json(ticket) for ticket in data.get("tickets", [])],
        )


@dataclass(frozen=True)
class JoinOutcome:
    """The answer to one POST /rooms/{id}/join: a seat (200) or a ticket to follow (202); with a group,
    every member's seats or tickets too."""

    status: str  # one of JOIN_STATUSES
    seat: Seat | None = None
    ticket: Ticket | None = None
    retry_after: float | None = None  # the 202's Retry-After header, in seconds
    group: GroupSeating | None = None

    @property
    def seated(self) -> bool:
        return self.seat is not None

    @classmethod
    def from_json(cls, data: Json, retry_after: float | None = None) -> JoinOutcome:
        seat, ticket, group = data.get("seat"), data.get("ticket"), data.get("group")
        return cls(
            status=str(data["status"]),
            seat=Seat.from_json(seat) if seat else None,
            ticket=Ticket.from_json(ticket) if ticket else None,
            retry_after=retry_after,
            group=GroupSeating.from_json(group) if group else None,
        )


@dataclass(frozen=True)
class LeaveResult:
    left: bool
    room_id: str | None
    ticket_cancelled: bool

    @classmethod
    def from_json(cls, data: Json) -> LeaveResult:
        return cls(
            left=bool(data["left"]),
            room_id=data.get("room_id"),
            ticket_cancelled=bool(data.get("ticket_cancelled", False)),
        )


@dataclass(frozen=True)
class KickResult:
    kicked: bool
    user_id: str

    @classmethod
    def from_json(cls, data: Json) -> KickResult:
        return cls(kicked=bool(data["kicked"]), user_id=str(data["user_id"]))


@dataclass(frozen=True)
class Ban:
    """A user kept out of a room family until ``until`` (None: for the family's life)."""

    family_id: str
    user_id: str
    until: datetime | None
    banned_by: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: Json) -> Ban:
        return cls(
            family_id=str(data["family_id"]),
            user_id=str(data["user_id"]),
            until=parse_datetime(data.get("until")),
            banned_by=str(data["banned_by"]),
            created_at=_required_datetime(data, "created_at"),
        )


@dataclass(frozen=True)
class BanLifted:
    user_id: str
    lifted: bool

    @classmethod
    def from_json(cls, data: Json) -> BanLifted:
        return cls(user_id=str(data["user_id"]), lifted=bool(data["lifted"]))


@dataclass(frozen=True)
class ParticipantsPage:
    room_id: str
    participants: list[Seat]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> ParticipantsPage:
        return cls(
            room_id=str(data["room_id"]),
            participants=[Seat.from_json(item) for item in data.get("participants") or []],
            next_cursor=data.get("next_cursor"),
        )


@dataclass(frozen=True)
class Family:
    family_id: str
    main_room_id: str
    rooms: list[Room]
    total_occupancy: int
    total_capacity: int

    @property
    def main(self) -> Room:
        return next(room for room in self.rooms if room.room_id == self.main_room_id)

    @property
    def parallel(self) -> list[Room]:
        return sorted((room for room in self.rooms if not room.is_main), key=lambda room: room.index)

    @classmethod
    def from_json(cls, data: Json) -> Family:
        return cls(
            family_id=str(data["family_id"]),
            main_room_id=str(data["main_room_id"]),
            rooms=[Room.from_json(item) for item in data.get("rooms") or []],
            total_occupancy=int(data["total_occupancy"]),
            total_capacity=int(data["total_capacity"]),
        )


@dataclass(frozen=True)
class Event:
    """A scheduled show. ``room_id`` is the main room to join once it is live."""

    event_id: str
    title: str
    starts_at: datetime | None
    ends_at: datetime | None
    timezone: str | None
    capacity: int | None
    expected_audience: int | None
    recurrence: str | None = None  # one of RECURRENCES
    status: str | None = None  # one of EVENT_STATUSES
    host_id: str | None = None
    room_id: str | None = None
    occurrence: str | None = None  # local start date (YYYYMMDD) of the current or last occurrence
    provisioned_rooms: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Json) -> Event:
        return cls(
            event_id=str(data["event_id"]),
            title=str(data.get("title") or ""),
            starts_at=parse_datetime(data.get("starts_at")),
            ends_at=parse_datetime(data.get("ends_at")),
            timezone=data.get("timezone"),
            capacity=_optional_int(data.get("capacity")),
            expected_audience=_optional_int(data.get("expected_audience")),
            recurrence=data.get("recurrence"),
            status=data.get("status"),
            host_id=data.get("host_id"),
            room_id=data.get("room_id"),
            occurrence=data.get("occurrence"),
            provisioned_rooms=_optional_int(data.get("provisioned_rooms")),
            created_at=parse_datetime(data.get("created_at")),
            updated_at=parse_datetime(data.get("updated_at")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class EventsPage:
    events: list[Event]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Any) -> EventsPage:
        # a bare list is accepted too: a page without a cursor
        if isinstance(data, list):
            return cls([Event.from_json(item) for item in data], None)
        return cls([Event.from_json(item) for item in data.get("events") or []], data.get("next_cursor"))


@dataclass(frozen=True)
class RsvpResult:
    event_id: str
    user_id: str
    counted: bool  # False when the caller had already said they would come
    expected_audience: int

    @classmethod
    def from_json(cls, data: Json) -> RsvpResult:
        return cls(
            event_id=str(data["event_id"]),
            user_id=str(data["user_id"]),
            counted=bool(data["counted"]),
            expected_audience=int(data["expected_audience"]),
        )


class EventChanges(TypedDict, total=False):
    """The fields a PATCH /events/{id} may change; absent ones stay as they are."""

    title: str
    starts_at: datetime | str
    ends_at: datetime | str
    capacity: int
    expected_audience: int
