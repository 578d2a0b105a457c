"""Request and response bodies. Their field docs become the OpenAPI spec."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rooms.api.fields import Title
from rooms.config import settings
from rooms.domain.groups import MAX_GROUP_MEMBERS, Group
from rooms.domain.model import Ban, Family, Room, Seat, Ticket
from rooms.media import MediaAccess

# How soon a queued client should look again: the overflow worker gathers a batch for up to 1 s.
TICKET_POLL_SECONDS = 1


class Strict(BaseModel):
    """A request body: no unknown fields, and no coercion ("5", 5.0 or true are not a capacity of 5 or 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


MAX_SPEAKER_SEATS = 50
METADATA_MAX_KEYS = 32
METADATA_MAX_KEY_CHARS = 64
METADATA_MAX_VALUE_BYTES = 1024
METADATA_MAX_BYTES = 4096
_NOT_IN_KEYS = frozenset({"Cc", "Cf", "Cs"})  # control, format (zero-width, bidi overrides), surrogates


class CreateRoomRequest(Strict):
    title: Title = Field(description="Shown to listeners; trimmed, in NFC, without control or format characters.")
    capacity: int = Field(ge=1, description="Most participants at once; at most the platform maximum.")
    rebalance: bool = Field(
        False,
        description="Merge the family's parallel rooms as they thin out: listeners who sat a while are moved "
        "(each told `seat.moved`) so the family uses the fewest rooms.",
    )
    speaker_seats: int = Field(
        0,
        ge=0,
        le=MAX_SPEAKER_SEATS,
        description="Seats of the capacity kept for speakers (the stage): no join takes them; the host brings "
        "listeners up to them (PUT /rooms/{room_id}/speakers/{user_id}). Speakers sit in the main room and are "
        "never moved; parallel rooms hold capacity - speaker_seats listeners.",
    )
    metadata: dict[str, str] = Field(
        default_factory=dict,
        max_length=METADATA_MAX_KEYS,
        description=f"Free-form app data, shared by the room's parallel rooms: at most {METADATA_MAX_KEYS} keys of "
        f"1-{METADATA_MAX_KEY_CHARS} characters (no control or format characters), values of at most "
        f"{METADATA_MAX_VALUE_BYTES} bytes, {METADATA_MAX_BYTES} bytes in all (UTF-8).",
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": METADATA_MAX_KEY_CHARS},
            "additionalProperties": {"type": "string", "maxLength": METADATA_MAX_VALUE_BYTES},
        },
    )

    @field_validator("metadata")
    @classmethod
    def metadata_within_limits(cls, metadata: dict[str, str]) -> dict[str, str]:
        # Bounded so the family's metadata item stays small and never fails its DynamoDB write (400 KB).
        total = 0
        for key, value in metadata.items():
            if not 1 <= len(key) <= METADATA_MAX_KEY_CHARS:
                raise ValueError(f"metadata keys must have 1 to {METADATA_MAX_KEY_CHARS} characters")
            if any(unicodedata.category(char) in _NOT_IN_KEYS for char in key):
                raise ValueError("metadata keys must not contain control, format or surrogate characters")
            try:
                size = len(value.encode())
            except UnicodeEncodeError:
                raise ValueError("metadata values must be valid Unicode (no lone surrogates)") from None
            if size > METADATA_MAX_VALUE_BYTES:
                raise ValueError(f"metadata values must be at most {METADATA_MAX_VALUE_BYTES} bytes (UTF-8)")
            total += len(key.encode()) + size
        if total > METADATA_MAX_BYTES:
            raise ValueError(f"metadata must be at most {METADATA_MAX_BYTES} bytes in all, keys and values (UTF-8)")
        return metadata

    @field_validator("capacity")
    @classmethod
    def within_platform_maximum(cls, capacity: int) -> int:
        maximum = settings().max_capacity
        if capacity > maximum:
            raise ValueError(f"capacity must be at most {maximum}, the platform maximum")
        return capacity

    @model_validator(mode="after")
    def _a_stage_leaves_seats_for_listeners(self) -> CreateRoomRequest:
        if self.speaker_seats >= self.capacity:
            raise ValueError("speaker_seats must be fewer than capacity: the rest are the listeners' seats")
        return self


class JoinRequest(Strict):
    promote: bool = Field(
        default=False, description="If seated in a parallel room, move up to the main room when a seat frees."
    )
    group_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Take this group (the caller leads it) into the room: every member is seated in it "
        "together, or queued together for one parallel room. A group never moves up (`promote`).",
    )

    @model_validator(mode="after")
    def _a_group_never_moves_up(self) -> JoinRequest:
        if self.group_id is not None and self.promote:
            raise ValueError("a group is seated together and never moves up: send group_id or promote, not both")
        return self


class JoinGroupRequest(Strict):
    invite_token: str = Field(min_length=1, max_length=128, description="The token the group's leader shared.")


class GroupOut(BaseModel):
    group_id: str
    family_id: str
    leader_id: str
    members: list[str] = Field(description="The leader first, then in the order they joined.")
    max_members: int
    taken_in: bool = Field(description="The leader took it into the room: it takes no more members.")
    expires_at: datetime
    invite_token: str | None = Field(
        default=None, description="Only in the answer that made the group: share it with the friends to join."
    )

    @classmethod
    def of(cls, group: Group, invite_token: str | None = None) -> GroupOut:
        return cls(
            group_id=group.group_id,
            family_id=group.family_id,
            leader_id=group.leader_id,
            members=list(group.members),
            max_members=MAX_GROUP_MEMBERS,
            taken_in=group.taken_in_at is not None,
            expires_at=group.expires_at,
            invite_token=invite_token,
        )


class BanRequest(Strict):
    user_id: str = Field(min_length=1, max_length=128, description="The token subject of the user to keep out.")
    duration_seconds: int | None = Field(
        default=None,
        ge=60,
        le=366 * 24 * 3600,
        description="How long the ban lasts (60 s to 366 days); none: for the life of the room family.",
    )


class BanOut(BaseModel):
    family_id: str
    user_id: str
    until: datetime | None = Field(description="When the ban ends; null: when the room family closes.")
    banned_by: str
    created_at: datetime

    @classmethod
    def of(cls, ban: Ban) -> BanOut:
        return cls(
            family_id=ban.family_id,
            user_id=ban.user_id,
            until=ban.until,
            banned_by=ban.banned_by,
            created_at=ban.created_at,
        )


class BanLiftedOut(BaseModel):
    user_id: str
    lifted: bool = Field(description="False: there was no ban to lift.")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. ROOM_FULL.")
    message: str = Field(description="What went wrong and what to do, for the client developer.")
    field: str | None = Field(default=None, description="The offending input field, for validation errors.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class RoomOut(BaseModel):
    room_id: str
    family_id: str = Field(description="The main room's id; parallel rooms share it.")
    index: int = Field(description="0 for the main room, N for parallel room N.")
    host_id: str
    title: str
    capacity: int
    occupancy: int
    status: Literal["open", "closed"]
    created_at: datetime
    metadata: dict[str, str]
    parallel_count: int = Field(description="Parallel rooms created so far (main room only).")
    event_id: str | None = None
    rebalance: bool = Field(False, description="The family's thinned-out parallel rooms are merged (main room's).")
    moderators: list[str] = Field(
        description="Users the host named: they may kick and ban in every room of the family."
    )
    speaker_seats: int = Field(0, description="Seats of the capacity kept for speakers (main room's).")

    @classmethod
    def of(cls, room: Room) -> RoomOut:
        return cls(
            room_id=room.room_id,
            family_id=room.family_id,
            index=room.index,
            host_id=room.host_id,
            title=room.title,
            capacity=room.capacity,
            occupancy=room.occupancy,
            status=room.status.value,
            created_at=room.created_at,
            metadata=room.metadata,
            parallel_count=room.parallel_count,
            event_id=room.event_id,
            rebalance=room.rebalance,
            moderators=list(room.moderators),
            speaker_seats=room.stage_seats,
        )


class MediaOut(BaseModel):
    provider: str = Field(description="Who serves the audio: livekit.")
    url: str = Field(description="The media server to connect to.")
    token: str = Field(description="The seat holder's access token for its room's media room (listen only).")
    expires_at: datetime = Field(description="After this the token admits nobody: a heartbeat answers a new one.")

    @classmethod
    def of(cls, media: MediaAccess) -> MediaOut:
        return cls(provider=media.provider, url=media.url, token=media.token, expires_at=media.expires_at)


class SeatOut(BaseModel):
    room_id: str = Field(description="The room the user sits in: the main room or one of its parallel rooms.")
    family_id: str
    index: int
    user_id: str
    joined_at: datetime
    expires_at: datetime = Field(description="The seat is freed if no heartbeat arrives before this.")
    heartbeat_interval_seconds: int
    speaker: bool = Field(False, description="On the main room's stage, brought up by the host: never moved.")
    media: MediaOut | None = Field(
        default=None,
        description="The caller's own seat only (join and heartbeat answers), when the platform has a media "
        "provider: how to join the audio of this seat's room.",
    )

    @classmethod
    def of(cls, seat: Seat, media: MediaAccess | None = None) -> SeatOut:
        return cls(
            room_id=seat.room_id,
            family_id=seat.family_id,
            index=seat.index,
            user_id=seat.user_id,
            joined_at=seat.joined_at,
            expires_at=seat.expires_at,
            heartbeat_interval_seconds=settings().heartbeat_interval_seconds,
            speaker=seat.speaker,
            media=MediaOut.of(media) if media else None,
        )


class TicketOut(BaseModel):
    ticket_id: str
    status: Literal["queued", "seated", "failed", "left", "expired"] = Field(
        description=(
            "queued: waiting for a seat; seated: the user's current seat is room_id; failed: never seated "
            "(reason), join again to queue afresh; left: the seat was given up (reason kicked or room_closed "
            "when not by the user); expired: the seat was freed when its heartbeats stopped."
        )
    )
    family_id: str = Field(description="The main room this ticket's room mirrors.")
    user_id: str
    group_id: str | None = Field(default=None, description="Queued with this group: seated together with it.")
    requested_room_id: str
    room_id: str | None = Field(
        default=None, description="The user's seat while seated; the seat they had once left or expired."
    )
    room_index: int | None = None
    reason: str | None = Field(
        default=None,
        description="Why it failed (room_closed, event_ended, overflow_failed, cancelled...) or why the seat ended.",
    )
    retry_after_seconds: int = Field(description="When to poll GET /tickets/{ticket_id} again.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, ticket: Ticket, retry_after: int = TICKET_POLL_SECONDS) -> TicketOut:
        return cls(
            ticket_id=ticket.ticket_id,
            status=ticket.status.value,
            family_id=ticket.family_id,
            user_id=ticket.user_id,
            group_id=ticket.group_id,
            requested_room_id=ticket.requested_room_id,
            room_id=ticket.room_id,
            room_index=ticket.room_index,
            reason=ticket.reason,
            retry_after_seconds=retry_after,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
        )


class GroupSeatingOut(BaseModel):
    group_id: str
    seats: list[SeatOut] = Field(
        description="Every member's seat, all in one room (200); each member's own join of the room answers "
        "theirs, with its media access."
    )
    tickets: list[TicketOut] = Field(description="Every member's ticket, queued together (202).")


class JoinOut(BaseModel):
    status: Literal["seated", "queued"]
    seat: SeatOut | None = Field(default=None, description="Present when seated (200).")
    ticket: TicketOut | None = Field(default=None, description="Present when queued (202): follow it.")
    group: GroupSeatingOut | None = Field(default=None, description="Present when a group was taken in.")


class LeaveOut(BaseModel):
    left: bool = Field(description="True when this call freed a seat; a repeated leave frees nothing.")
    room_id: str | None
    ticket_cancelled: bool = Field(description="True when this call withdrew a queued overflow ticket.")


class KickOut(BaseModel):
    kicked: bool
    user_id: str


class ParticipantsOut(BaseModel):
    room_id: str
    participants: list[SeatOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


class FamilyOut(BaseModel):
    family_id: str
    main_room_id: str
    rooms: list[RoomOut]
    total_occupancy: int
    total_capacity: int

    @classmethod
    def of(cls, family: Family) -> FamilyOut:
        return cls(
            family_id=family.main.family_id,
            main_room_id=family.main.room_id,
            rooms=[RoomOut.of(room) for room in family.rooms],
            total_occupancy=family.occupancy,
            total_capacity=family.capacity,
        )
