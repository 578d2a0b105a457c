"""The small interfaces the services need from the outside world; adapters implement them.

Every adapter speaks the domain's errors only: where AWS refused a call as too busy (throttled, or
transactions that kept conflicting) it raises rooms.domain.errors.Busy, and nothing was done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from rooms.domain.events import Event, ScheduleSpec
from rooms.domain.expiry import ExpiryProgress, SweepJob
from rooms.domain.groups import Group
from rooms.domain.lifecycle import LifecycleEvent
from rooms.domain.live import Connection, Frame
from rooms.domain.model import Ban, Page, Room, Seat, Ticket, TicketStatus


@dataclass(frozen=True)
class OverflowRequest:
    """What the overflow queue carries: a user of a family waiting for a seat.

    `queued_at` is the ticket's updated_at when this message was published (ISO 8601): the queueing it
    belongs to. A message that outlived its queueing (the ticket was re-published or re-queued since)
    may still seat the user, but never fails the newer queueing. Absent from older messages.
    `group_id`: the user waits with a group, whose members still waiting are seated together.
    """

    ticket_id: str
    family_id: str
    user_id: str
    queued_at: str | None = None
    group_id: str | None = None

    @classmethod
    def of(cls, ticket: Ticket) -> OverflowRequest:
        queued_at = ticket.queued_since.isoformat()
        return cls(ticket.ticket_id, ticket.family_id, ticket.user_id, queued_at, ticket.group_id)

    @property
    def queueing(self) -> datetime | None:
        return datetime.fromisoformat(self.queued_at) if self.queued_at else None


@dataclass
class BatchOutcome:
    """Result of seating a batch in one room: who got a seat, who had one already, who no longer waits."""

    seated: list[Seat] = field(default_factory=list)
    already_seated: dict[str, Seat] = field(default_factory=dict)
    not_waiting: list[str] = field(default_factory=list)
    room_changed: bool = False


class Promotion(StrEnum):
    PROMOTED = "promoted"
    MAIN_FULL = "main_full"  # the main room is full or closed: stop promoting this family for now
    GONE = "gone"  # the user left or moved meanwhile: not a candidate any more


class RoomStore(Protocol):
    """Rooms, their write shards and their seats (I1, I2): admissions, releases and evictions, and the
    overflow's seating and the promotions, which settle their tickets in the same transaction."""

    def create_room(self, room: Room) -> None: ...
    def get_room(self, room_id: str, *, consistent: bool = False) -> Room: ...
    def get_rooms(self, room_ids: Sequence[str]) -> list[Room]: ...
    def full_capacity(self, room_id: str) -> int | None:
        """The capacity of an open room whose every write shard is full, read consistently; None when a
        shard has a free seat, or the room is closed or gone."""
        ...

    def close_room(self, room_id: str) -> Room: ...
    def rooms_being_evicted(self) -> list[str]: ...
    def create_parallel_room(self, main: Room, index: int, now: datetime) -> None: ...

    def admit(self, room_id: str, family_id: str, user_id: str, now: datetime) -> Seat:
        """The user's seat in the room, or the one they already hold anywhere in the family.

        RoomFull proves the user held no seat in the family when it was decided: the admission checks
        the room and the user's seat in one transaction, and DynamoDB reports every failed condition of a
        cancelled transaction, so a full room is never reported over a seat the user holds (without a
        transaction, the store looks the seat up). The caller may queue the user without a read first.
        A closed room raises RoomClosed, a room that does not exist RoomNotFound.
        """
        ...

    def get_seat(self, family_id: str, user_id: str) -> Seat | None: ...
    def release(self, seat: Seat, *, expired_by: datetime | None = None) -> bool: ...
    def touch(self, family_id: str, user_id: str, now: datetime) -> Seat | None: ...
    def list_seats(self, room: Room, limit: int, cursor: str | None) -> Page[Seat]: ...
    def evict_all(
        self, room_id: str, deadline: float, on_freed: Callable[[list[Seat]], None] | None = None
    ) -> bool: ...

    def seat_batch(
        self, room: Room, requests: Sequence[OverflowRequest], now: datetime, *, whole: bool = False
    ) -> BatchOutcome:
        """Seat queued users in `room` in one transaction, their tickets marked seated with them. Those the
        room cannot take now are left out (`whole`: then nobody is seated, and the room said changed)."""
        ...

    def admit_group(self, room_id: str, group: Group, now: datetime) -> list[Seat]:
        """Seat every member of `group` in the room in one transaction, or none: RoomFull when its open
        write shards cannot take them all, GroupMemberElsewhere when a member holds a seat of the family
        apart from it (a retry of a take-in that seated them answers with their seats)."""
        ...

    def promote(self, ticket: Ticket, main_room_id: str, now: datetime) -> Promotion: ...
    def relocate(self, seat: Seat, to_room: Room, now: datetime, moved_before: datetime) -> Promotion: ...
    def set_moderator(self, family_id: str, user_id: str, named: bool) -> None: ...
    def bring_up(self, seat: Seat, main: Room, now: datetime) -> Promotion:
        """Move a seat of the family to the main room's stage (its speakers' seats), its ticket with it."""
        ...


class TicketStore(Protocol):
    """Overflow tickets: their life cycle, each step a conditional write on the ticket alone, and the
    indexes that find them (a family's queue and promotion queue, the due index)."""

    def put_ticket(self, ticket: Ticket) -> Ticket | None: ...
    def get_ticket(self, ticket_id: str) -> Ticket | None: ...
    def requeue_ticket(self, ticket: Ticket, now: datetime) -> bool: ...
    def republish_ticket(self, ticket: Ticket, now: datetime) -> Ticket | None: ...
    def fail_ticket(self, ticket_id: str, reason: str, now: datetime, *, queued_at: datetime | None = None) -> bool: ...
    def mark_ticket_seated(self, ticket_id: str, seat: Seat, now: datetime) -> None: ...
    def end_ticket(self, seat: Seat, status: TicketStatus, reason: str | None, now: datetime) -> bool: ...

    def queued_tickets(self, family_id: str) -> Iterator[Ticket]: ...
    def due_tickets(self, bucket: int) -> Iterator[Ticket]: ...
    def promotion_candidates(self, family_id: str, main_room_id: str, limit: int) -> list[Ticket]: ...
    def drop_promotion(self, ticket: Ticket) -> None: ...


class OverflowPublisher(Protocol):
    def publish(self, request: OverflowRequest) -> None: ...


@dataclass(frozen=True)
class DeadLetter:
    """A message the overflow queue gave up on: its body, and the handle to put it back."""

    message_id: str
    body: str
    receipt_handle: str


class DeadLetters(Protocol):
    """The overflow dead-letter queue, read without consuming it: operators still see every message."""

    def peek(self, limit: int) -> list[DeadLetter]: ...
    def put_back(self, letters: Sequence[DeadLetter]) -> None: ...


class EventStore(Protocol):
    """Booked shows, their RSVPs, and the main room a show's occurrence opens."""

    def put_event(self, event: Event) -> None: ...
    def get_event(self, event_id: str, *, consistent: bool = False) -> Event: ...
    def save_event(self, event: Event, prior: Event) -> Event: ...
    def delete_event(self, event_id: str) -> None: ...
    def rsvp(self, event_id: str, user_id: str, now: datetime) -> bool: ...
    def host_events(
        self, host_id: str, since: datetime, ending_after: datetime, limit: int, cursor: str | None
    ) -> Page[Event]: ...
    def create_room_once(self, room: Room) -> Room: ...


class HousekeepingStore(Protocol):
    """The every-minute run's records (expiry buckets and due minutes handed out), the families with
    parallel rooms, and the empty-room marks that close idle parallel rooms."""

    def expiry_progress(self) -> ExpiryProgress | None: ...
    def record_expiry_progress(self, done: int, now: datetime) -> None: ...
    def last_due_bucket(self) -> int | None: ...
    def set_last_due_bucket(self, bucket: int, now: datetime) -> None: ...
    def families_with_overflow(self) -> list[str]: ...
    def retire_family(self, family_id: str) -> None: ...
    def empty_since(self, room_ids: Sequence[str]) -> dict[str, datetime | None]: ...
    def mark_empty(self, room_id: str, now: datetime) -> None: ...
    def clear_empty(self, room_id: str) -> None: ...
    def close_if_empty(self, room_id: str, since: datetime) -> bool: ...


class SweepQueue(Protocol):
    """Where the minute run hands out the expiry sweep jobs; a sweeper takes each (at least once)."""

    def enqueue(self, jobs: Sequence[SweepJob]) -> None: ...


class ExpiryStore(Protocol):
    """What a sweeper needs from the seats: one shard's expired seats, and their release (their tickets
    are told through the TicketStore)."""

    def seats_expiring(self, bucket: int, shard: int, by: datetime) -> Iterator[Seat]: ...
    def release_expired(self, seats: Sequence[Seat], now: datetime) -> list[Seat]: ...
    def seat(self, family_id: str, user_id: str) -> Seat | None:
        """The user's seat in the family, read consistently (a release message names one seat)."""
        ...


class ShowScheduler(Protocol):
    """Creates (or moves) and deletes the schedules that open and close shows."""

    def put(self, spec: ScheduleSpec) -> None: ...
    def delete(self, name: str) -> None: ...


class ConnectionStore(Protocol):
    """The open WebSocket connections, a user's under one partition key (one Query finds them all)."""

    def record(self, connection: Connection) -> None: ...
    def forget(self, user_id: str, connection_id: str) -> Connection | None:
        """Delete the connection's record; the record as it was (None: there was none)."""
        ...

    def connections_of(self, user_id: str) -> list[Connection]: ...
    def set_hold(self, user_id: str, connection_id: str, room_id: str) -> None: ...
    def set_watch(self, user_id: str, connection_id: str, ticket_id: str) -> None: ...


class SeatHolds(Protocol):
    """A seat tied to a connection: `hold` records the holder and its long lease, `let_go` (the socket
    closed) cuts the lease to the grace, only while that connection is still the holder."""

    def hold(self, room_id: str, user_id: str, connection_id: str, until: datetime) -> Seat | None:
        """The seat, held; None when the user holds no seat in `room_id`."""
        ...

    def let_go(self, room_id: str, user_id: str, connection_id: str, until: datetime) -> bool:
        """Lease cut to `until` and holder removed; False when another connection holds it, or no seat."""
        ...


class ReleaseQueue(Protocol):
    """Where a closed socket's seat release waits out the grace (the sweep queue, delayed)."""

    def release_later(self, room_id: str, user_id: str, delay_seconds: int) -> None: ...


class PromotionQueue(Protocol):
    """Where a freed main-room seat asks for its promotion (the sweep queue: a sweeper moves the first
    opted-in overflow user up)."""

    def promote_later(self, family_id: str, seats: int = 1) -> None: ...


class Notifier(Protocol):
    """Pushes frames to users' open connections: best effort, never raises."""

    def notify(self, user_id: str, frame: Frame) -> None: ...
    def notify_many(self, pushes: Sequence[tuple[str, Frame]]) -> None: ...


class Silent:
    """A Notifier for a stack without a live connection (and for use cases given none): pushes nothing."""

    def notify(self, user_id: str, frame: Frame) -> None:
        return None

    def notify_many(self, pushes: Sequence[tuple[str, Frame]]) -> None:
        return None


class BanStore(Protocol):
    """Who is kept out of which family. Reads are consistent (a ban written before a read is seen by it:
    the join and the overflow worker check after the ban's writer checked for their seat, or before),
    but for a `get_ban` asked to be cheap, which may miss a ban written a moment before."""

    def put_ban(self, ban: Ban) -> None: ...
    def lift_ban(self, family_id: str, user_id: str) -> bool: ...
    def get_ban(self, family_id: str, user_id: str, *, consistent: bool = True) -> Ban | None: ...
    def bans_of(self, family_id: str, user_ids: Sequence[str]) -> dict[str, Ban]: ...


class GroupStore(Protocol):
    """Groups of friends to seat together (rooms.domain.groups)."""

    def put_group(self, group: Group) -> None: ...
    def get_group(self, group_id: str) -> Group | None: ...
    def add_member(self, group_id: str, user_id: str, now: datetime) -> Group:
        """The group with `user_id` among its members (already one: unchanged); GroupClosed once it is
        full or taken in, GroupNotFound when it is gone or expired."""
        ...

    def take_in(self, group_id: str, now: datetime) -> Group:
        """Close the group to new members (once; again: unchanged) and answer it as it then stands."""
        ...


class LifecycleBus(Protocol):
    """Where lifecycle events go (the EventBridge bus). Raises when any of them was not taken: the stream
    record they came from is then retried, so an event is told at least once, never silently dropped."""

    def publish(self, events: Sequence[LifecycleEvent]) -> None: ...
