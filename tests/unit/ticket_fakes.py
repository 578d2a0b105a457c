"""In-memory fakes of the ports the ticket and expiry use cases need (fakes over mocks): rooms and seats,
tickets, the minute runs' records, each with the same conditions as the DynamoDB stores' writes, a
publisher, a dead-letter queue, a sweep queue."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from rooms.domain.errors import EventNotFound, RoomFull, RoomNotFound
from rooms.domain.events import Event
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
from rooms.housekeeping import Housekeeping
from rooms.ports import DeadLetter, EventStore, HousekeepingStore, OverflowRequest, RoomStore, TicketStore

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
class FakeRooms:
    """Rooms and seats (one per family and user), and the sweepers' view of them; writes hold the
    DynamoDB stores' conditions."""

    by_id: dict[str, Room] = field(default_factory=dict)
    seats: dict[tuple[str, str], Seat] = field(default_factory=dict)
    interval_seconds: int = 30  # the heartbeat interval: expiry buckets are this long

    def get_room(self, room_id: str, *, consistent: bool = False) -> Room:
        if room_id not in self.by_id:
            raise RoomNotFound(room_id)
        return self.by_id[room_id]

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
        room = self.by_id[room_id]
        self.by_id[room_id] = replace(room, occupancy=room.occupancy + 1)
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
        room = self.by_id[seat.room_id]
        self.by_id[seat.room_id] = replace(room, occupancy=room.occupancy - 1)
        return True

    # what housekeeping's eviction step reads: nothing to do in these tests
    def rooms_being_evicted(self) -> list[str]:
        return []

    # the expiry index (ExpiryStore): seats by the bucket and shard of their lease end
    def seats_expiring(self, bucket: int, shard: int, by: datetime) -> Iterator[Seat]:
        for (family_id, user_id), seat in list(self.seats.items()):
            indexed = (expiry_bucket(seat.expires_at, self.interval_seconds), expiry_shard(f"{family_id}#{user_id}"))
            if indexed == (bucket, shard) and seat.expires_at <= by:
                yield seat

    def release_expired(self, seats: Sequence[Seat], now: datetime) -> list[Seat]:
        return [seat for seat in seats if self.release(seat, expired_by=now)]


@dataclass
class FakeTickets:
    """Tickets by id, and the due index of the queued ones; writes hold the DynamoDB store's conditions."""

    budget: timedelta = BUDGET
    by_id: dict[str, Ticket] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)

    def put_ticket(self, ticket: Ticket) -> Ticket | None:
        if ticket.ticket_id in self.by_id:
            return self.by_id[ticket.ticket_id]
        self.by_id[ticket.ticket_id] = ticket
        self.writes.append(f"put {ticket.user_id}")
        return None

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        return self.by_id.get(ticket_id)

    def requeue_ticket(self, ticket: Ticket, now: datetime) -> bool:
        held = self.by_id[ticket.ticket_id]
        if held.status is not ticket.status or held.updated_at != ticket.updated_at:
            return False
        self.by_id[ticket.ticket_id] = replace(
            held, status=TicketStatus.QUEUED, room_id=None, reason=None, republished=0, created_at=now, updated_at=now
        )
        return True

    def republish_ticket(self, ticket: Ticket, now: datetime) -> Ticket | None:
        held = self.by_id[ticket.ticket_id]
        if held.status is not TicketStatus.QUEUED or held.updated_at != ticket.updated_at:
            return None
        fresh = replace(held, updated_at=now, republished=held.republished + 1)
        self.by_id[ticket.ticket_id] = fresh
        self.writes.append(f"republish {ticket.user_id}")
        return fresh

    def fail_ticket(self, ticket_id: str, reason: str, now: datetime, *, queued_at: datetime | None = None) -> bool:
        held = self.by_id.get(ticket_id)
        if held is None or held.status is not TicketStatus.QUEUED:
            return False
        if queued_at is not None and held.updated_at != queued_at:
            return False
        self.by_id[ticket_id] = replace(held, status=TicketStatus.FAILED, reason=reason, updated_at=now)
        return True

    def mark_ticket_seated(self, ticket_id: str, seat: Seat, now: datetime) -> None:
        held = self.by_id[ticket_id]
        if held.status is TicketStatus.QUEUED:
            self.by_id[ticket_id] = replace(held, status=TicketStatus.SEATED, room_id=seat.room_id, updated_at=now)

    def end_ticket(self, seat: Seat, status: TicketStatus, reason: str | None, now: datetime) -> bool:
        ticket_id = ticket_id_for(seat.family_id, seat.user_id)
        held = self.by_id.get(ticket_id)
        if held is None or held.status not in (TicketStatus.QUEUED, TicketStatus.SEATED):
            return False
        if held.created_at > seat.joined_at:
            return False
        self.by_id[ticket_id] = replace(held, status=status, room_id=seat.room_id, reason=reason, updated_at=now)
        return True

    # the due index: queued tickets by the minute their budget ends
    def due_tickets(self, bucket: int) -> Iterator[Ticket]:
        for ticket in list(self.by_id.values()):
            if ticket.status is TicketStatus.QUEUED and due_bucket(ticket.due_at(self.budget)) == bucket:
                yield ticket


@dataclass
class FakeRecords:
    """The minute runs' records (HousekeepingStore): how far expiry buckets and due minutes were handed out."""

    last_due: int | None = None
    progress: ExpiryProgress | None = None

    def last_due_bucket(self) -> int | None:
        return self.last_due

    def set_last_due_bucket(self, bucket: int, now: datetime) -> None:
        self.last_due = max(bucket, self.last_due or bucket)

    def expiry_progress(self) -> ExpiryProgress | None:
        return self.progress

    def record_expiry_progress(self, done: int, now: datetime) -> None:
        if self.progress is None or self.progress.done <= done:  # never moved back
            self.progress = ExpiryProgress(done, now)

    # what housekeeping's family step reads: nothing to do in these tests
    def families_with_overflow(self) -> list[str]:
        return []


class NoEvents:
    """An event store without events: these tests book no show."""

    def get_event(self, event_id: str, *, consistent: bool = False) -> Event:
        raise EventNotFound(event_id)


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


# The fakes as the ports. They implement what the ticket and expiry use cases call (seats, tickets, the
# due and expiry indexes, the runs' records), not the room creation, events and promotions never reached.
def rooms_port(fake: FakeRooms) -> RoomStore:
    return cast("RoomStore", fake)


def tickets_port(fake: FakeTickets) -> TicketStore:
    return cast("TicketStore", fake)


def records_port(fake: FakeRecords) -> HousekeepingStore:
    return cast("HousekeepingStore", fake)


def events_port(fake: NoEvents) -> EventStore:
    return cast("EventStore", fake)


def housekeeping(
    rooms: FakeRooms,
    tickets: FakeTickets,
    records: FakeRecords,
    clock: Clock,
    sweep_queue: FakeSweepQueue,
    **options: Any,
) -> Housekeeping:
    """The minute run on the fakes, with a 300 s grace for empty rooms and the rooms' heartbeat interval."""
    return Housekeeping(
        store=records_port(records),
        rooms=rooms_port(rooms),
        tickets=tickets_port(tickets),
        events=events_port(NoEvents()),
        heartbeat_interval_seconds=rooms.interval_seconds,
        empty_room_grace_seconds=300,
        sweep_queue=sweep_queue,
        clock=clock,
        **options,
    )
