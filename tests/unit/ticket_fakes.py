"""In-memory fakes of the ports the ticket and expiry use cases need (fakes over mocks): a store holding
rooms, seats and tickets with the same conditions as the DynamoDB store's writes, a publisher, a
dead-letter queue, a sweep queue."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from rooms.domain.errors import RoomFull, RoomNotFound
from rooms.domain.expiry import ExpiryProgress, SweepJob, expiry_bucket, expiry_shard
from rooms.domain.model import (
    Room,
    RoomStatus,
    Seat,
    Ticket,
    TicketStatus,
    due_bucket,
    family_of,
    ticket_id_for,
)
from rooms.ports import DeadLetter, OverflowRequest

if TYPE_CHECKING:
    from rooms.housekeeping import SweepStore

START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
BUDGET = timedelta(seconds=900)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def main_room(family_id: str = "r_main", *, occupancy: int = 1, capacity: int = 1, **changes: object) -> Room:
    room = Room(
        room_id=family_id,
        family_id=family_id,
        index=0,
        host_id="host",
        title="t",
        capacity=capacity,
        occupancy=occupancy,
        status=RoomStatus.OPEN,
        created_at=START,
    )
    return replace(room, **changes)  # type: ignore[arg-type]


@dataclass
class FakeStore:
    """Rooms, seats (one per family and user) and tickets; writes hold the DynamoDB store's conditions."""

    clock: Clock
    budget: timedelta = BUDGET
    rooms: dict[str, Room] = field(default_factory=dict)
    seats: dict[tuple[str, str], Seat] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    last_due: int | None = None
    progress: ExpiryProgress | None = None
    interval_seconds: int = 30  # the heartbeat interval: expiry buckets are this long
    writes: list[str] = field(default_factory=list)

    # rooms and seats
    def get_room(self, room_id: str, *, consistent: bool = False) -> Room:
        if room_id not in self.rooms:
            raise RoomNotFound(room_id)
        return self.rooms[room_id]

    def admit(self, room_id: str, family_id: str, user_id: str, now: datetime) -> Seat:
        if (family_id, user_id) in self.seats:
            return self.seats[(family_id, user_id)]
        room = self.get_room(room_id)
        if room.free_seats == 0:
            raise RoomFull(room_id, room.capacity)
        return self.seat(room_id, user_id, now)

    def seat(self, room_id: str, user_id: str, now: datetime, *, ticketed: bool = False) -> Seat:
        family_id, _ = family_of(room_id)
        seat = Seat(room_id, family_id, user_id, now, now + self.lease, ticketed=ticketed)
        self.seats[(family_id, user_id)] = seat
        room = self.rooms[room_id]
        self.rooms[room_id] = replace(room, occupancy=room.occupancy + 1)
        return seat

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=2 * self.interval_seconds)

    def get_seat(self, family_id: str, user_id: str) -> Seat | None:
        return self.seats.get((family_id, user_id))

    def touch(self, family_id: str, user_id: str, now: datetime) -> Seat | None:
        held = self.seats.get((family_id, user_id))
        if held is None:
            return None
        self.seats[(family_id, user_id)] = replace(held, expires_at=now + self.lease)
        return self.seats[(family_id, user_id)]

    def release(self, seat: Seat, *, expired_by: datetime | None = None) -> bool:
        held = self.seats.get((seat.family_id, seat.user_id))
        if held is None or held.room_id != seat.room_id:
            return False
        if expired_by is not None and held.expires_at > expired_by:
            return False
        del self.seats[(seat.family_id, seat.user_id)]
        room = self.rooms[seat.room_id]
        self.rooms[seat.room_id] = replace(room, occupancy=room.occupancy - 1)
        return True

    # tickets
    def put_ticket(self, ticket: Ticket) -> Ticket | None:
        if ticket.ticket_id in self.tickets:
            return self.tickets[ticket.ticket_id]
        self.tickets[ticket.ticket_id] = ticket
        self.writes.append(f"put {ticket.user_id}")
        return None

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        return self.tickets.get(ticket_id)

    def requeue_ticket(self, ticket: Ticket, now: datetime) -> bool:
        held = self.tickets[ticket.ticket_id]
        if held.status is not ticket.status or held.updated_at != ticket.updated_at:
            return False
        self.tickets[ticket.ticket_id] = replace(
            held, status=TicketStatus.QUEUED, room_id=None, reason=None, republished=0, created_at=now, updated_at=now
        )
        return True

    def republish_ticket(self, ticket: Ticket, now: datetime) -> Ticket | None:
        held = self.tickets[ticket.ticket_id]
        if held.status is not TicketStatus.QUEUED or held.updated_at != ticket.updated_at:
            return None
        fresh = replace(held, updated_at=now, republished=held.republished + 1)
        self.tickets[ticket.ticket_id] = fresh
        self.writes.append(f"republish {ticket.user_id}")
        return fresh

    def fail_ticket(self, ticket_id: str, reason: str, now: datetime, *, queued_at: datetime | None = None) -> bool:
        held = self.tickets.get(ticket_id)
        if held is None or held.status is not TicketStatus.QUEUED:
            return False
        if queued_at is not None and held.updated_at != queued_at:
            return False
        self.tickets[ticket_id] = replace(held, status=TicketStatus.FAILED, reason=reason, updated_at=now)
        return True

    def mark_ticket_seated(self, ticket_id: str, seat: Seat, now: datetime) -> None:
        held = self.tickets[ticket_id]
        if held.status is TicketStatus.QUEUED:
            self.tickets[ticket_id] = replace(held, status=TicketStatus.SEATED, room_id=seat.room_id, updated_at=now)

    def end_ticket(self, seat: Seat, status: TicketStatus, reason: str | None, now: datetime) -> bool:
        ticket_id = ticket_id_for(seat.family_id, seat.user_id)
        held = self.tickets.get(ticket_id)
        if held is None or held.status not in (TicketStatus.QUEUED, TicketStatus.SEATED):
            return False
        if held.created_at > seat.joined_at:
            return False
        self.tickets[ticket_id] = replace(held, status=status, room_id=seat.room_id, reason=reason, updated_at=now)
        return True

    # the due index: queued tickets by the minute their budget ends
    def due_tickets(self, bucket: int) -> Iterator[Ticket]:
        for ticket in list(self.tickets.values()):
            if ticket.status is TicketStatus.QUEUED and due_bucket(ticket.due_at(self.budget)) == bucket:
                yield ticket

    def last_due_bucket(self) -> int | None:
        return self.last_due

    def set_last_due_bucket(self, bucket: int, now: datetime) -> None:
        self.last_due = max(bucket, self.last_due or bucket)

    # the expiry index: seats by the bucket and shard of their lease end, and the minute runs' progress
    def expiry_progress(self) -> ExpiryProgress | None:
        return self.progress

    def record_expiry_progress(self, done: int, now: datetime) -> None:
        if self.progress is None or self.progress.done <= done:  # never moved back
            self.progress = ExpiryProgress(done, now)

    def seats_expiring(self, bucket: int, shard: int, by: datetime) -> Iterator[Seat]:
        for (family_id, user_id), seat in list(self.seats.items()):
            indexed = (expiry_bucket(seat.expires_at, self.interval_seconds), expiry_shard(f"{family_id}#{user_id}"))
            if indexed == (bucket, shard) and seat.expires_at <= by:
                yield seat

    def release_expired(self, seats: Sequence[Seat], now: datetime) -> list[Seat]:
        return [seat for seat in seats if self.release(seat, expired_by=now)]

    # what housekeeping's other steps read: nothing to do in these tests
    def rooms_being_evicted(self) -> list[str]:
        return []

    def families_with_overflow(self) -> list[str]:
        return []


@dataclass
class FakePublisher:
    published: list[OverflowRequest] = field(default_factory=list)
    broken: bool = False

    def publish(self, request: OverflowRequest) -> None:
        if self.broken:
            raise ConnectionError("the queue is unreachable")
        self.published.append(request)


@dataclass
class FakeSweepQueue:
    """The sweep queue: the jobs of each enqueue call, in order; it may break after some calls."""

    calls: list[list[SweepJob]] = field(default_factory=list)
    broken_after: int | None = None  # calls that succeed before the queue becomes unreachable

    def enqueue(self, jobs: Sequence[SweepJob]) -> None:
        if self.broken_after is not None and len(self.calls) >= self.broken_after:
            raise ConnectionError("the queue is unreachable")
        self.calls.append(list(jobs))

    @property
    def jobs(self) -> list[SweepJob]:
        return [job for call in self.calls for job in call]

    def take(self) -> list[SweepJob]:
        """Every job enqueued so far, as a consumer receives them; the queue is empty after."""
        jobs, self.calls = self.jobs, []
        return jobs


@dataclass
class FakeDeadLetters:
    """A dead-letter queue whose messages are never consumed: peek shows them, put_back returns them."""

    letters: list[DeadLetter] = field(default_factory=list)
    out: list[DeadLetter] = field(default_factory=list)

    def add(self, body: str) -> None:
        number = len(self.letters)
        self.letters.append(DeadLetter(f"m{number}", body, f"handle-{number}"))

    def peek(self, limit: int) -> list[DeadLetter]:
        self.out = self.letters[:limit]
        return list(self.out)

    def put_back(self, letters: Sequence[DeadLetter]) -> None:
        self.out = [letter for letter in self.out if letter not in letters]


def as_port(store: FakeStore) -> SweepStore:
    """The fake as the store port. It implements what the ticket use cases call (seats, tickets, the due
    index), not the room creation, events and promotions they never reach."""
    return cast("SweepStore", store)
