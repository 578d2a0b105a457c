"""Entities of the room family: rooms, seats and overflow tickets, and their identities."""

from __future__ import annotations

import math
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
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
    FAILED = "failed"  # never seated; `reason` says why (room_closed, overflow_failed, cancelled...)
    LEFT = "left"  # the seat it led to was given up: left, kicked (reason) or its room closed (reason)
    EXPIRED = "expired"  # the seat it led to was freed when its heartbeats stopped


# Why a ticket's seat ended, when not the user's own leave (which has no reason).
KICKED = "kicked"
STEPPED_DOWN = "stepped_down"  # a speaker's seat freed as they left the stage
BANNED = "banned"  # a queued ticket of a user the family keeps out
ROOM_CLOSED = "room_closed"
# Why a ticket failed when its request could not be delivered: SQS gave up on it, or refused it.
OVERFLOW_FAILED = "overflow_failed"
OVERFLOW_UNAVAILABLE = "overflow_unavailable"
# How often the sweep may publish a stale ticket's request again before failing it: once, so a lost
# message is recovered without the user, and a request that kills the worker every time stops.
MAX_REPUBLISH = 1
# Queued tickets are indexed by the minute their delivery budget runs out (see due_bucket).
DUE_BUCKET_SECONDS = 60
# A room's capacity is split over write shards, each a counter item on its own partition key that owns a
# slice of the seats (see write_shards). 64 keeps a room's create and close within one transaction.
MAX_WRITE_SHARDS = 64


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
    shards: int = 1  # write shards: the counters occupancy is the sum of (see write_shards)
    rebalance: bool = False  # its family's thinned-out parallel rooms are merged (rooms.domain.rebalance)
    moderators: tuple[str, ...] = ()  # named by the host: they may kick and ban, in every room of the family
    # seats of the capacity kept for speakers (a main room's last write shard): no join takes them, the
    # host brings listeners up to them
    stage_seats: int = 0

    @property
    def is_main(self) -> bool:
        return self.index == MAIN_INDEX

    @property
    def listener_shards(self) -> int:
        """The write shards joins are admitted through: all but the stage."""
        return self.shards - 1 if self.stage_seats else self.shards

    @property
    def stage_shard(self) -> int | None:
        return self.shards - 1 if self.stage_seats else None

    @property
    def free_seats(self) -> int:
        return max(0, self.capacity - self.occupancy)


def main_room(
    room_id: str,
    *,
    host_id: str,
    title: str,
    capacity: int,
    seats_per_shard: int,
    created_at: datetime,
    metadata: dict[str, str] | None = None,
    event_id: str | None = None,
    rebalance: bool = False,
    stage_seats: int = 0,
) -> Room:
    """A new main room: open, empty, the head of its own family, its capacity on write_shards(...): the
    listeners' seats, and a stage shard of `stage_seats` if any."""
    if not 0 <= stage_seats < capacity:
        raise ValueError("the stage takes fewer seats than the room has")
    return Room(
        room_id=room_id,
        family_id=room_id,
        index=MAIN_INDEX,
        host_id=host_id,
        title=title,
        capacity=capacity,
        occupancy=0,
        status=RoomStatus.OPEN,
        created_at=created_at,
        metadata=dict(metadata or {}),
        event_id=event_id,
        shards=write_shards(capacity - stage_seats, seats_per_shard) + (1 if stage_seats else 0),
        rebalance=rebalance,
        stage_seats=stage_seats,
    )


def parallel_room(main: Room, index: int, created_at: datetime) -> Room:
    """Parallel room `index` of `main`'s family: open and empty, with the main room's host, title, show,
    and its listeners' capacity and write shards (speakers sit in the main room only). No metadata: the
    family's metadata serves every room of it."""
    return Room(
        room_id=parallel_room_id(main.family_id, index),
        family_id=main.family_id,
        index=index,
        host_id=main.host_id,
        title=main.title,
        capacity=main.capacity - main.stage_seats,
        occupancy=0,
        status=RoomStatus.OPEN,
        created_at=created_at,
        event_id=main.event_id,
        shards=main.listener_shards,
    )


def write_shards(capacity: int, seats_per_shard: int) -> int:
    """How many write shards a room of `capacity` gets: one per `seats_per_shard` seats, 1 to 64.

    An admission is a transaction on one shard (2 WCU there), and a partition key takes about 1,000 WCU/s,
    so a shard admits at most ~500 joins/s. A room fills at most as fast as joins arrive: with 125 seats a
    shard, a room of 5,000 has 40 shards and takes 10,000 joins/s at ~500 WCU/s on each.
    """
    return max(1, min(MAX_WRITE_SHARDS, capacity // max(1, seats_per_shard)))


def shard_capacities(capacity: int, shards: int, stage_seats: int = 0) -> list[int]:
    """Each shard's slice of the capacity: as even as can be, summing to `capacity` exactly (I1); with a
    stage, the last shard holds its seats and the others share the rest."""
    if stage_seats:
        return [*shard_capacities(capacity - stage_seats, shards - 1), stage_seats]
    base, extra = divmod(capacity, shards)
    return [base + (1 if shard < extra else 0) for shard in range(shards)]


SEATS_PER_SHARD_IN_A_BATCH = 8  # an overflow batch spreads its seats over its room's shards, about this many each


def plan_batch(free_by_shard: Sequence[int], wanted: int, items: int) -> list[tuple[int, int]]:
    """(shard, seats) for up to `wanted` seats of one overflow batch, in one transaction of at most
    `items` items: an update per shard used, and a seat and a ticket per user.

    The seats are dealt round the emptiest shards, about SEATS_PER_SHARD_IN_A_BATCH each, so a batch of
    45 lands 8 or so on each of 6 shards, not 45 on one: a shard's seats (its count and its listing key)
    then take a batch's writes in a share, and the shards drain evenly. More shards are drawn in when
    those run out of free seats, while the transaction has room."""
    order = sorted((shard for shard, free in enumerate(free_by_shard) if free > 0), key=lambda k: -free_by_shard[k])
    spread = min(len(order), max(1, min(math.ceil(wanted / SEATS_PER_SHARD_IN_A_BATCH), items - 2 * wanted)))
    used, left = order[:spread], order[spread:]
    taken = dict.fromkeys(used, 0)
    items_left = items - len(used)
    while wanted > 0 and items_left >= 2:
        open_shards = [shard for shard in used if taken[shard] < free_by_shard[shard]]
        if not open_shards:
            if not left or items_left < 3:
                break
            shard = left.pop(0)
            used.append(shard)
            taken[shard] = 0
            items_left -= 1
            continue
        for shard in open_shards:
            if wanted == 0 or items_left < 2:
                break
            taken[shard] += 1
            wanted -= 1
            items_left -= 2
    return [(shard, taken[shard]) for shard in used if taken[shard]]


def family_closed_reason(main: Room | None) -> str | None:
    """Why a family takes nobody any more (its main room is gone or closed), or None while it is open."""
    if main is None:
        return "room_not_found"
    if main.status is RoomStatus.OPEN:
        return None
    # a show's family is closed by its end (or by its host ending it early): the event is over
    return "event_ended" if main.event_id else ROOM_CLOSED


@dataclass(frozen=True)
class Ban:
    """A user kept out of a room family: until `until`, or for the family's life (None)."""

    family_id: str
    user_id: str
    until: datetime | None
    banned_by: str
    created_at: datetime

    def holds(self, now: datetime) -> bool:
        return self.until is None or now < self.until


def may_moderate(room: Room, user_id: str) -> bool:
    """The host and the moderators the host named may kick and ban in the family."""
    return user_id == room.host_id or user_id in room.moderators


def protected_from(room: Room, actor: str, target: str) -> bool:
    """Whom `actor` may not kick or ban: the host, never; a moderator, unless the actor is the host."""
    return target == room.host_id or (target in room.moderators and actor != room.host_id)


def due_bucket(when: datetime) -> int:
    """The minute (since the epoch) `when` falls in: where a ticket due then is indexed and swept."""
    return int(when.timestamp()) // DUE_BUCKET_SECONDS


@dataclass(frozen=True)
class Seat:
    room_id: str
    family_id: str
    user_id: str
    joined_at: datetime
    expires_at: datetime
    ticketed: bool = False  # seated through an overflow ticket: its ticket follows the seat's end
    shard: int = 0  # the room's write shard that counts this seat
    holder: str | None = None  # the live connection holding it (docs/live.md): no heartbeats needed
    moved_at: datetime | None = None  # when rebalancing last moved it to another room of the family
    group_id: str | None = None  # seated with a group (rooms.domain.groups): rebalancing never moves it
    speaker: bool = False  # on the main room's stage (brought up by the host): never moved

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
    republished: int = 0  # times its request was published again for the current queueing
    group_id: str | None = None  # queued with a group: seated with every member still waiting, or not at all

    @property
    def room_index(self) -> int | None:
        return None if self.room_id is None else family_of(self.room_id)[1]

    @property
    def queued_since(self) -> datetime:
        """When the request a queued ticket waits on was published (updated_at moves only then)."""
        return self.updated_at

    def due_at(self, delivery_budget: timedelta) -> datetime:
        """When a queued ticket's request has used up every delivery SQS gives it."""
        return self.queued_since + delivery_budget

    def is_stale(self, now: datetime, delivery_budget: timedelta) -> bool:
        """Queued past its delivery budget: its message is dead-lettered or lost, nobody will seat it."""
        return self.status is TicketStatus.QUEUED and now >= self.due_at(delivery_budget)

    def seen_with(self, seat: Seat | None, *, room_closed: bool = False) -> Ticket:
        """The ticket as it stands against the user's seat in the family, which is the truth.

        A seat, however it was got (the worker, a promotion, a rejoin into a free main-room seat),
        makes the ticket `seated` there. A ticket still `seated` with no seat behind it lost its seat by
        a path that does not write tickets (a closing room frees seats in bulk): it says `left`.
        """
        if seat is not None:
            if self.status is TicketStatus.SEATED and self.room_id == seat.room_id:
                return self
            return replace(self, status=TicketStatus.SEATED, room_id=seat.room_id, reason=None)
        if self.status is TicketStatus.SEATED:
            return replace(self, status=TicketStatus.LEFT, reason=ROOM_CLOSED if room_closed else None)
        return self


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
