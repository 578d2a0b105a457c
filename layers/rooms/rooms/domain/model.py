"""Entities of the room family: rooms, seats and overflow tickets, and their identities."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

MAIN_INDEX = 0
_PARALLEL_SUFFIX = re.compile(r"^(?P<family>.+)-p(?P<index>[1-9][0-9]*)$")
T = TypeVar("T")
_TICKET_NAMESPACE = uuid.UUID("6f1c2d4e-8a3b-4c5d-9e7f-0a1b2c3d4e5f")


class RoomStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TicketStatus(StrEnum):
    QUEUED = "queued"
    SEATED = "seated"
    FAILED = "failed"


def new_room_id() -> str:
    return "r_" + secrets.token_hex(8)


def parallel_room_id(family_id: str, index: int) -> str:
    """Deterministic identity of parallel room N: every worker racing to create it names the same item."""
    if index == MAIN_INDEX:
        return family_id
    if index < MAIN_INDEX:
        raise ValueError(f"room index must be >= 0, got {index}")
    return f"{family_id}-p{index}"


def family_of(room_id: str) -> tuple[str, int]:
    """(family id, index in the family) of any room id."""
    match = _PARALLEL_SUFFIX.match(room_id)
    if match is None:
        return room_id, MAIN_INDEX
    return match["family"], int(match["index"])


def ticket_id_for(family_id: str, user_id: str) -> str:
    """One ticket per user and family, so a repeated join finds the ticket it already holds."""
    return "t_" + uuid.uuid5(_TICKET_NAMESPACE, f"{family_id}\x1f{user_id}").hex


@dataclass(frozen=True)
class Room:
    room_id: str
    family_id: str
    index: int
    host_id: str
    title: str
    capacity: int
    occupancy: int
    status: RoomStatus
    created_at: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    parallel_count: int = 0
    event_id: str | None = None

    @property
    def is_main(self) -> bool:
        return self.index == MAIN_INDEX

    @property
    def free_seats(self) -> int:
        return max(0, self.capacity - self.occupancy)


@dataclass(frozen=True)
class Seat:
    room_id: str
    family_id: str
    user_id: str
    joined_at: datetime
    expires_at: datetime

    @property
    def index(self) -> int:
        return family_of(self.room_id)[1]


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    family_id: str
    user_id: str
    status: TicketStatus
    requested_room_id: str
    created_at: datetime
    updated_at: datetime
    room_id: str | None = None
    reason: str | None = None
    promote: bool = False

    @property
    def room_index(self) -> int | None:
        return None if self.room_id is None else family_of(self.room_id)[1]


@dataclass(frozen=True)
class Family:
    main: Room
    parallel: list[Room]

    @property
    def rooms(self) -> list[Room]:
        return [self.main, *self.parallel]

    @property
    def occupancy(self) -> int:
        return sum(room.occupancy for room in self.rooms)

    @property
    def capacity(self) -> int:
        return sum(room.capacity for room in self.rooms)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
