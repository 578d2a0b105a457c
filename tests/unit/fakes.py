"""In-memory fakes of every port (fakes over mocks), for the use-case tests.

One `Table` holds what the DynamoDB table holds (rooms and their write shards, seats, tickets, events,
RSVPs, quotas, the minute runs' records) and each fake store is a view over it, as each Dynamo store is:
the room store's seat transactions write tickets, the housekeeping store closes rooms. Every write holds
the condition its DynamoDB adapter holds and fails as it does (the same domain errors, the same False or
None), so the fakes keep the contracts the services rely on, e.g. a failed admission proves the user had
no seat (a cancelled transaction reports every failed condition).

Races: `Table.before(operation, action)` runs `action` when the named operation next starts, before it
reads or checks anything, as a concurrent writer would land between a service's read and its write.
An action may also raise, as an outage would.

Left out on purpose, as no use case depends on them: an API instance's memory of full shards (a freed
seat is offered to its joins late), transaction conflicts (the adapters retry them, then raise
Contention), and the lag of eventually consistent indexes. Choices the adapters make at random (which
write shard) are made in shard order here. tests/integration/test_fakes_contract.py runs the same
calls on these fakes and on the DynamoDB stores.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from rooms.adapters.models import seat_key
from rooms.config import settings
from rooms.domain.errors import (
    Contention,
    EventNotEditable,
    EventNotFound,
    GroupClosed,
    GroupMemberElsewhere,
    GroupNotFound,
    InvalidCursor,
    QuotaExceeded,
    RoomClosed,
    RoomFull,
    RoomNotFound,
)
from rooms.domain.events import EDITABLE, MUTABLE_EVENT_FIELDS, Event, ScheduleSpec
from rooms.domain.expiry import ExpiryProgress, SweepJob, expiry_bucket, expiry_shard
from rooms.domain.groups import MAX_GROUP_MEMBERS, Group
from rooms.domain.lifecycle import LifecycleEvent
from rooms.domain.live import Connection, Frame
from rooms.domain.model import (
    MAIN_INDEX,
    Ban,
    Page,
    Room,
    RoomStatus,
    Seat,
    Ticket,
    TicketStatus,
    due_bucket,
    family_of,
    parallel_room,
    parallel_room_id,
    plan_batch,
    shard_capacities,
    ticket_id_for,
)
from rooms.events_service import EventService, ShowRunner
from rooms.groups import GroupService
from rooms.housekeeping import Housekeeping
from rooms.overflow_service import OverflowService
from rooms.ports import BatchOutcome, DeadLetter, OverflowRequest, Promotion
from rooms.presence import Presence
from rooms.promotion import Promoter
from rooms.reconciler import TicketReconciler
from rooms.service import RoomService
from rooms.sweeper import ExpirySweeper

START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
BUDGET = timedelta(seconds=900)
INTERVAL_SECONDS = 30
TRANSACTION_ITEMS = 100
_EVICT_CHUNK = TRANSACTION_ITEMS - 1
# the gsi2 slot of a main room: one of these, or nothing (the adapter's ACTIVE_FAMILIES, EVICTING_ROOMS)
ACTIVE = "active"
EVICTING = "evicting"


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


# ------------------------------------------------------------------------ the table
@dataclass
class StoredRoom:
    """A room item and its write shards: the static room, each shard's status, the item's flags."""

    room: Room
    shard_status: list[RoomStatus]
    holds_quota: bool = False
    marker: str | None = None  # gsi2: ACTIVE (a family with parallel rooms) or EVICTING
    empty_since: datetime | None = None

    @property
    def slices(self) -> list[int]:
        return shard_capacities(self.room.capacity, self.room.shards, self.room.stage_seats)


@dataclass
class StoredTicket:
    ticket: Ticket
    due: int | None = None  # the due index's minute, while queued
    promoting: bool = False  # in the family's promotion queue (gsi1)


@dataclass
class StoredEvent:
    event: Event
    holds_quota: bool = True


@dataclass
class Table:
    """Everything the DynamoDB table holds. A room's occupancy is counted from its seats, shard by shard,
    so I1 (occupancy == seats) holds by construction; `check` also asserts each shard's cap (I1) and that
    every seat's room exists."""

    rooms: dict[str, StoredRoom] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)  # family id -> its metadata item
    moderators: dict[str, set[str]] = field(default_factory=dict)  # family id -> its metadata item's moderators
    bans: dict[tuple[str, str], Ban] = field(default_factory=dict)  # (family, user)
    groups: dict[str, Group] = field(default_factory=dict)
    seats: dict[tuple[str, str], Seat] = field(default_factory=dict)  # (family, user): I2 is a key fact
    tickets: dict[str, StoredTicket] = field(default_factory=dict)
    events: dict[str, StoredEvent] = field(default_factory=dict)
    rsvps: set[tuple[str, str]] = field(default_factory=set)
    quotas: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    records: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    connections: dict[tuple[str, str], Connection] = field(default_factory=dict)  # (user, connection id)
    calls: list[str] = field(default_factory=list)  # every operation, in order
    _hooks: dict[str, list[tuple[Callable[[], object], bool]]] = field(default_factory=lambda: defaultdict(list))
    _in_hook: bool = False

    # ------------------------------------------------------------------ races
    def before(self, operation: str, action: Callable[[], object], *, every: bool = False) -> None:
        """Run `action` when `operation` next starts (each time with `every`); what it writes is seen."""
        self._hooks[operation].append((action, every))

    def enter(self, operation: str) -> None:
        self.calls.append(operation)
        if self._in_hook or not self._hooks.get(operation):
            return
        hooks = self._hooks[operation]
        self._hooks[operation] = [(action, every) for action, every in hooks if every]
        self._in_hook = True  # what a hook does is another writer's: it runs no hooks itself
        try:
            for action, _ in hooks:
                action()
        finally:
            self._in_hook = False

    def count(self, operation: str) -> int:
        return self.calls.count(operation)

    # ------------------------------------------------------------------ reads
    def stored_room(self, room_id: str) -> StoredRoom:
        if room_id not in self.rooms:
            raise RoomNotFound(room_id)
        return self.rooms[room_id]

    def shard_occupancy(self, room_id: str, shard: int) -> int:
        return sum(1 for seat in self.seats.values() if seat.room_id == room_id and seat.shard == shard)

    def occupancies(self, room_id: str) -> list[int]:
        counts = [0] * self.stored_room(room_id).room.shards
        for seat in self.seats.values():
            if seat.room_id == room_id:
                counts[seat.shard] += 1
        return counts

    def room(self, room_id: str) -> Room:
        """The room as read back: its status (shard 0's), occupancy summed over its shards, family metadata."""
        stored = self.stored_room(room_id)
        metadata = dict(self.metadata.get(stored.room.family_id, {}))
        moderators = tuple(sorted(self.moderators.get(stored.room.family_id, set())))
        return replace(
            stored.room,
            occupancy=sum(self.occupancies(room_id)),
            status=stored.shard_status[0],
            metadata=metadata,
            moderators=moderators,
        )

    def free_shards(self, room_id: str, *, stage: bool = False) -> list[int]:
        """The open shards with a free seat that joins take (the stage's, with `stage`)."""
        stored = self.stored_room(room_id)
        counts = self.occupancies(room_id)
        shards = [stored.room.stage_shard] if stage else range(stored.room.listener_shards)
        return [
            shard
            for shard in shards
            if shard is not None
            and stored.shard_status[shard] is RoomStatus.OPEN
            and counts[shard] < stored.slices[shard]
        ]

    def ticket(self, ticket_id: str) -> Ticket:
        return self.tickets[ticket_id].ticket

    # ------------------------------------------------------------------ writes shared by the stores
    def put_room(self, room: Room, *, holds_quota: bool = False) -> None:
        if room.room_id in self.rooms:
            raise ValueError(f"room {room.room_id} exists: the adapter's condition refuses a second put")
        self.rooms[room.room_id] = StoredRoom(
            replace(room, occupancy=0, metadata={}), [room.status] * room.shards, holds_quota=holds_quota
        )
        if room.metadata and room.is_main:
            self.metadata[room.family_id] = dict(room.metadata)

    def release(self, seat: Seat, expired_by: datetime | None = None) -> bool:
        held = self.seats.get((seat.family_id, seat.user_id))
        if held is None or held.room_id != seat.room_id:
            return False
        if expired_by is not None and held.expires_at > expired_by:
            return False
        del self.seats[(seat.family_id, seat.user_id)]
        return True

    def give_back_quota(self, host_id: str, kind: str) -> None:
        self.quotas[(host_id, kind)] -= 1

    def check(self) -> None:
        """The invariants every test may end on: each shard within its slice (I1), each seat in a room."""
        for (family_id, user_id), seat in self.seats.items():
            assert (seat.family_id, seat.user_id) == (family_id, user_id)
            assert seat.room_id in self.rooms, f"seat of {user_id} in a missing room {seat.room_id}"
        for room_id, stored in self.rooms.items():
            for shard, (count, cap) in enumerate(zip(self.occupancies(room_id), stored.slices, strict=True)):
                assert count <= cap, f"{room_id} shard {shard} holds {count} > {cap}"


# ------------------------------------------------------------------------ RoomStore
class FakeRoomStore:
    """RoomStore: rooms, their write shards and seats; seat_batch and promote write tickets with the seats."""

    def __init__(
        self, table: Table, interval_seconds: int = INTERVAL_SECONDS, max_open_rooms: int | None = None
    ) -> None:
        self._t = table
        self.lease = timedelta(seconds=2 * interval_seconds)
        self._max_open_rooms = max_open_rooms if max_open_rooms is not None else settings().max_open_rooms_per_host

    @property
    def seats(self) -> dict[tuple[str, str], Seat]:
        """The table's seats by (family, user), for a test to read or to set up."""
        return self._t.seats

    # rooms
    def create_room(self, room: Room) -> None:
        self._t.enter("create_room")
        if self._t.quotas[(room.host_id, "open_rooms")] >= self._max_open_rooms:
            raise QuotaExceeded("open rooms", self._max_open_rooms)
        self._t.put_room(room, holds_quota=True)
        self._t.quotas[(room.host_id, "open_rooms")] += 1

    def get_room(self, room_id: str, *, consistent: bool = False) -> Room:
        self._t.enter("get_room")
        return self._t.room(room_id)

    def get_rooms(self, room_ids: Sequence[str]) -> list[Room]:
        self._t.enter("get_rooms")
        return [self._t.room(room_id) for room_id in dict.fromkeys(room_ids) if room_id in self._t.rooms]

    def full_capacity(self, room_id: str) -> int | None:
        self._t.enter("full_capacity")
        stored = self._t.rooms.get(room_id)
        if stored is None or any(status is not RoomStatus.OPEN for status in stored.shard_status):
            return None
        return None if self._t.free_shards(room_id) else stored.room.capacity

    def close_room(self, room_id: str) -> Room:
        self._t.enter("close_room")
        stored = self._t.stored_room(room_id)
        stored.shard_status = [RoomStatus.CLOSED] * len(stored.shard_status)
        stored.marker = EVICTING  # the gsi2 slot: a closed family leaves the families with overflow
        if stored.holds_quota:
            stored.holds_quota = False
            self._t.give_back_quota(stored.room.host_id, "open_rooms")
        return self._t.room(room_id)

    def rooms_being_evicted(self) -> list[str]:
        self._t.enter("rooms_being_evicted")
        return sorted(room_id for room_id, stored in self._t.rooms.items() if stored.marker == EVICTING)

    def create_parallel_room(self, main: Room, index: int, now: datetime) -> None:
        """Once however many callers race: only while the main room is open with index - 1 parallel rooms."""
        self._t.enter("create_parallel_room")
        stored = self._t.rooms.get(main.room_id)
        room_id = parallel_room_id(main.family_id, index)
        if stored is None or stored.room.parallel_count != index - 1 or stored.shard_status[0] is not RoomStatus.OPEN:
            return  # someone else created it, or the family is closed: the caller re-reads the family
        if room_id in self._t.rooms:
            return
        self._t.put_room(parallel_room(main, index, now))
        stored.room = replace(stored.room, parallel_count=index)
        stored.marker = ACTIVE

    # seats
    def admit(self, room_id: str, family_id: str, user_id: str, now: datetime) -> Seat:
        """The user's seat in the family if they hold one (before anything else, as the transaction reports
        every failed condition); else a seat through the first shard with a free one; RoomClosed, RoomFull."""
        self._t.enter("admit")
        stored = self._t.stored_room(room_id)
        held = self._t.seats.get((family_id, user_id))
        if held is not None:
            return held
        if stored.shard_status[0] is RoomStatus.CLOSED:
            raise RoomClosed(room_id)
        free = self._t.free_shards(room_id)
        if not free:
            raise RoomFull(room_id, stored.room.capacity)
        seat = Seat(room_id, family_id, user_id, now, now + self.lease, shard=free[0])
        self._t.seats[(family_id, user_id)] = seat
        return seat

    def get_seat(self, family_id: str, user_id: str) -> Seat | None:
        self._t.enter("get_seat")
        return self._t.seats.get((family_id, user_id))

    def release(self, seat: Seat, *, expired_by: datetime | None = None) -> bool:
        self._t.enter("release")
        return self._t.release(seat, expired_by)

    def touch(self, family_id: str, user_id: str, now: datetime) -> Seat | None:
        self._t.enter("touch")
        held = self._t.seats.get((family_id, user_id))
        if held is None or held.holder is not None:  # a held seat keeps its connection's lease
            return held
        self._t.seats[(family_id, user_id)] = replace(held, expires_at=now + self.lease)
        return self._t.seats[(family_id, user_id)]

    # SeatHolds
    def hold(self, room_id: str, user_id: str, connection_id: str, until: datetime) -> Seat | None:
        self._t.enter("hold")
        family_id = family_of(room_id)[0]
        held = self._t.seats.get((family_id, user_id))
        if held is None or held.room_id != room_id:
            return None
        self._t.seats[(family_id, user_id)] = replace(held, expires_at=until, holder=connection_id)
        return self._t.seats[(family_id, user_id)]

    def let_go(self, room_id: str, user_id: str, connection_id: str, until: datetime) -> bool:
        self._t.enter("let_go")
        family_id = family_of(room_id)[0]
        held = self._t.seats.get((family_id, user_id))
        if held is None or held.holder != connection_id:
            return False
        self._t.seats[(family_id, user_id)] = replace(held, expires_at=until, holder=None)
        return True

    def list_seats(self, room: Room, limit: int, cursor: str | None) -> Page[Seat]:
        """Shard after shard, each in joining order; the cursor names this room's listing and where it stopped."""
        self._t.enter("list_seats")
        shard, after = self._seat_cursor(room, cursor)
        seats: list[Seat] = []
        while shard < room.shards:
            ordered = sorted(
                (seat for seat in self._t.seats.values() if seat.room_id == room.room_id and seat.shard == shard),
                key=_seat_order,
            )
            rest = [seat for seat in ordered if after is None or _seat_order(seat) > after]
            taken = rest[: limit - len(seats)]
            seats += taken
            if len(seats) >= limit and len(taken) < len(rest):
                return Page(seats, f"seats/{room.room_id}|{shard}|{_seat_order(taken[-1])}")
            shard, after = shard + 1, None
            if len(seats) >= limit and shard < room.shards:
                return Page(seats, f"seats/{room.room_id}|{shard}|")
        return Page(seats, None)

    @staticmethod
    def _seat_cursor(room: Room, cursor: str | None) -> tuple[int, str | None]:
        if not cursor:
            return 0, None
        parts = cursor.split("|")
        if len(parts) != 3 or parts[0] != f"seats/{room.room_id}" or not parts[1].isdigit():
            raise InvalidCursor()
        if int(parts[1]) >= room.shards:
            raise InvalidCursor()
        return int(parts[1]), parts[2] or None

    def evict_all(self, room_id: str, deadline: float, on_freed: Callable[[list[Seat]], None] | None = None) -> bool:
        """Free every seat of the room, 99 at a time, until `deadline` (time.monotonic()); True once empty."""
        self._t.enter("evict_all")
        self._t.stored_room(room_id)
        while time.monotonic() < deadline:
            held = [key for key, seat in self._t.seats.items() if seat.room_id == room_id]
            if held:
                freed = [self._t.seats.pop(key) for key in held[:_EVICT_CHUNK]]
                if on_freed is not None:
                    on_freed(freed)
                continue
            stored = self._t.rooms[room_id]
            if stored.marker == EVICTING:
                stored.marker = None
            return True
        return False

    # overflow
    def seat_batch(
        self, room: Room, requests: Sequence[OverflowRequest], now: datetime, *, whole: bool = False
    ) -> BatchOutcome:
        """One transaction: the shards' counts (each open, within its slice), a seat per user (none held) and
        each ticket seated (only if queued). All or nothing; a cancellation reports every failed condition."""
        self._t.enter("seat_batch")
        if len({request.user_id for request in requests}) != len(requests):
            raise ValueError("two writes on one seat in a transaction: DynamoDB refuses it")
        plan = self._shards_for(room, len(requests))
        planned = sum(taken for _, taken in plan)
        if not planned or (whole and planned < len(requests)):
            return BatchOutcome(room_changed=True)  # the room filled since the caller read it
        requests = list(requests[:planned])
        stored = self._t.stored_room(room.room_id)
        counts = self._t.occupancies(room.room_id)
        outcome = BatchOutcome()
        outcome.room_changed = any(
            stored.shard_status[shard] is not RoomStatus.OPEN or counts[shard] > stored.slices[shard] - taken
            for shard, taken in plan
        )
        for request in requests:
            held = self._t.seats.get((request.family_id, request.user_id))
            ticket = self._t.tickets.get(request.ticket_id)
            if held is not None:
                outcome.already_seated[request.user_id] = held
            elif ticket is None or ticket.ticket.status is not TicketStatus.QUEUED:
                outcome.not_waiting.append(request.user_id)
        if outcome.room_changed or outcome.already_seated or outcome.not_waiting:
            return outcome
        shard_of = [shard for shard, taken in plan for _ in range(taken)]
        for request, shard in zip(requests, shard_of, strict=True):
            seat = Seat(
                room.room_id,
                request.family_id,
                request.user_id,
                now,
                now + self.lease,
                True,
                shard,
                group_id=request.group_id,
            )
            self._t.seats[(request.family_id, request.user_id)] = seat
            outcome.seated.append(seat)
            held_ticket = self._t.tickets[request.ticket_id]
            held_ticket.ticket = replace(
                held_ticket.ticket, status=TicketStatus.SEATED, room_id=room.room_id, updated_at=now
            )
            held_ticket.due = None
        return outcome

    def admit_group(self, room_id: str, group: Group, now: datetime) -> list[Seat]:
        """One transaction: the members' seats through the room's emptiest shards, all or none."""
        self._t.enter("admit_group")
        stored = self._t.stored_room(room_id)
        held = [seat for user in group.members if (seat := self._t.seats.get((group.family_id, user)))]
        if held:
            apart = [seat.user_id for seat in held if seat.group_id != group.group_id]
            if apart:
                raise GroupMemberElsewhere(group.group_id, apart)
            return held
        if stored.shard_status[0] is RoomStatus.CLOSED:
            raise RoomClosed(room_id)
        room = self._t.room(room_id)
        plan = self._shards_for(room, len(group.members))
        if sum(taken for _, taken in plan) < len(group.members):
            raise RoomFull(room_id, room.capacity)
        shard_of = [shard for shard, taken in plan for _ in range(taken)]
        seats = []
        for user, shard in zip(group.members, shard_of, strict=True):
            seat = Seat(room_id, group.family_id, user, now, now + self.lease, shard=shard, group_id=group.group_id)
            self._t.seats[(group.family_id, user)] = seat
            seats.append(seat)
        return seats

    def _shards_for(self, room: Room, wanted: int) -> list[tuple[int, int]]:
        """(shard, seats) as the adapter plans them: a one-shard room from the caller's read of it, else
        the domain's plan over the stored shards."""
        if room.shards == 1:
            return [(0, min(wanted, room.free_seats))] if room.free_seats else []
        counts = self._t.occupancies(room.room_id)
        slices = self._t.stored_room(room.room_id).slices
        free = [cap - count for count, cap in zip(counts, slices, strict=True)][: room.listener_shards]
        return plan_batch(free, wanted, TRANSACTION_ITEMS)

    def promote(self, ticket: Ticket, main_room_id: str, now: datetime) -> Promotion:
        """Move a seat and its ticket to a free main-room shard; MAIN_FULL or GONE as the adapter answers.

        The adapter reads the seat and the main room, then writes in one transaction: `promote:write`
        names the point between the two, for a writer to land in."""
        self._t.enter("promote")
        from_room = ticket.room_id
        seat = self._t.seats.get((ticket.family_id, ticket.user_id))
        if from_room is None or seat is None or seat.room_id != from_room or seat.speaker:
            return Promotion.GONE
        free = self._t.free_shards(main_room_id)
        if not free:
            return Promotion.MAIN_FULL
        to_shard = free[0]
        self._t.enter("promote:write")
        current = self._t.seats.get((ticket.family_id, ticket.user_id))
        stored_ticket = self._t.tickets.get(ticket.ticket_id)
        if to_shard not in self._t.free_shards(main_room_id):
            return Promotion.MAIN_FULL
        seat_moved = current is None or (current.room_id, current.shard) != (from_room, seat.shard)
        ticket_moved = (
            stored_ticket is None
            or stored_ticket.ticket.status is not TicketStatus.SEATED
            or stored_ticket.ticket.room_id != from_room
        )
        if seat_moved or ticket_moved or stored_ticket is None or current is None:
            return Promotion.GONE
        self._t.seats[(ticket.family_id, ticket.user_id)] = replace(current, room_id=main_room_id, shard=to_shard)
        stored_ticket.ticket = replace(stored_ticket.ticket, room_id=main_room_id, updated_at=now)
        stored_ticket.promoting = False
        return Promotion.PROMOTED

    def set_moderator(self, family_id: str, user_id: str, named: bool) -> None:
        self._t.enter("set_moderator")
        named_ones = self._t.moderators.setdefault(family_id, set())
        if named:
            named_ones.add(user_id)
        else:
            named_ones.discard(user_id)

    def bring_up(self, seat: Seat, main: Room, now: datetime) -> Promotion:
        """Move the seat (and its ticket, if it came through one) to a free stage seat of the main room."""
        self._t.enter("bring_up")
        free = self._t.free_shards(main.room_id, stage=True)  # the transaction reports this one first
        if not free:
            return Promotion.MAIN_FULL
        current = self._t.seats.get((seat.family_id, seat.user_id))
        if current is None or (current.room_id, current.shard) != (seat.room_id, seat.shard):
            return Promotion.GONE
        ticket = self._t.tickets.get(ticket_id_for(seat.family_id, seat.user_id)) if seat.ticketed else None
        if seat.ticketed and (ticket is None or ticket.ticket.room_id != seat.room_id):
            return Promotion.GONE
        self._t.seats[(seat.family_id, seat.user_id)] = replace(
            current, room_id=main.room_id, shard=free[0], speaker=True
        )
        if ticket is not None:
            ticket.ticket = replace(ticket.ticket, room_id=main.room_id, updated_at=now)
            ticket.promoting = False
        return Promotion.PROMOTED

    def relocate(self, seat: Seat, to_room: Room, now: datetime, moved_before: datetime) -> Promotion:
        """Move a ticketed seat and its ticket to a free shard of `to_room` unless it moved since `moved_before`;
        `relocate:write` names the point between the adapter's read of the room and its transaction."""
        self._t.enter("relocate")
        free = self._t.free_shards(to_room.room_id) if to_room.room_id in self._t.rooms else []
        if not free or self._t.stored_room(to_room.room_id).shard_status[0] is RoomStatus.CLOSED:
            return Promotion.MAIN_FULL
        to_shard = free[0]
        self._t.enter("relocate:write")
        key = (seat.family_id, seat.user_id)
        current = self._t.seats.get(key)
        stored_ticket = self._t.tickets.get(ticket_id_for(seat.family_id, seat.user_id))
        if to_shard not in self._t.free_shards(to_room.room_id):
            return Promotion.MAIN_FULL
        if current is None or (current.room_id, current.shard) != (seat.room_id, seat.shard):
            return Promotion.GONE
        if current.moved_at is not None and current.moved_at >= moved_before:
            return Promotion.GONE
        if (
            stored_ticket is None
            or stored_ticket.ticket.status is not TicketStatus.SEATED
            or stored_ticket.ticket.room_id != seat.room_id
        ):
            return Promotion.GONE
        self._t.seats[key] = replace(current, room_id=to_room.room_id, shard=to_shard, moved_at=now)
        stored_ticket.ticket = replace(stored_ticket.ticket, room_id=to_room.room_id, updated_at=now)
        return Promotion.PROMOTED


def _seat_order(seat: Seat) -> str:
    return f"{seat.joined_at.isoformat()}#{seat.user_id}"


# ------------------------------------------------------------------------ TicketStore
class FakeTicketStore:
    """TicketStore: each change a conditional write on the ticket alone; the family, promotion and due indexes."""

    def __init__(self, table: Table, delivery_budget: timedelta = BUDGET) -> None:
        self._t = table
        self.budget = delivery_budget

    @property
    def by_id(self) -> dict[str, Ticket]:
        """The tickets as they stand, for a test to read."""
        return {ticket_id: stored.ticket for ticket_id, stored in self._t.tickets.items()}

    def _due(self, queued_at: datetime) -> int:
        return due_bucket(queued_at + self.budget)

    def put_ticket(self, ticket: Ticket) -> Ticket | None:
        self._t.enter("put_ticket")
        held = self._t.tickets.get(ticket.ticket_id)
        if held is not None:
            return held.ticket
        due = self._due(ticket.queued_since) if ticket.status is TicketStatus.QUEUED else None
        self._t.tickets[ticket.ticket_id] = StoredTicket(ticket, due=due, promoting=ticket.promote)
        return None

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        self._t.enter("get_ticket")
        held = self._t.tickets.get(ticket_id)
        return held.ticket if held else None

    def requeue_ticket(self, ticket: Ticket, now: datetime) -> bool:
        self._t.enter("requeue_ticket")
        held = self._t.tickets.get(ticket.ticket_id)
        if held is None or (held.ticket.status, held.ticket.updated_at) != (ticket.status, ticket.updated_at):
            return False
        held.ticket = replace(
            held.ticket,
            status=TicketStatus.QUEUED,
            requested_room_id=ticket.requested_room_id,
            promote=ticket.promote,
            group_id=ticket.group_id,
            room_id=None,
            reason=None,
            republished=0,
            created_at=now,
            updated_at=now,
        )
        held.due, held.promoting = self._due(now), ticket.promote
        return True

    def republish_ticket(self, ticket: Ticket, now: datetime) -> Ticket | None:
        self._t.enter("republish_ticket")
        held = self._t.tickets.get(ticket.ticket_id)
        if held is None or held.ticket.status is not TicketStatus.QUEUED or held.ticket.updated_at != ticket.updated_at:
            return None
        held.ticket = replace(held.ticket, updated_at=now, republished=held.ticket.republished + 1)
        held.due = self._due(now)
        return replace(ticket, updated_at=now, republished=ticket.republished + 1)

    def fail_ticket(self, ticket_id: str, reason: str, now: datetime, *, queued_at: datetime | None = None) -> bool:
        self._t.enter("fail_ticket")
        held = self._t.tickets.get(ticket_id)
        if held is None or held.ticket.status is not TicketStatus.QUEUED:
            return False
        if queued_at is not None and held.ticket.updated_at != queued_at:
            return False
        held.ticket = replace(held.ticket, status=TicketStatus.FAILED, reason=reason, updated_at=now)
        held.due = None
        return True

    def mark_ticket_seated(self, ticket_id: str, seat: Seat, now: datetime) -> None:
        self._t.enter("mark_ticket_seated")
        held = self._t.tickets.get(ticket_id)
        if held is None or held.ticket.status is not TicketStatus.QUEUED:
            return
        held.ticket = replace(
            held.ticket, status=TicketStatus.SEATED, room_id=seat.room_id, reason=None, updated_at=now
        )
        held.due = None

    def end_ticket(self, seat: Seat, status: TicketStatus, reason: str | None, now: datetime) -> bool:
        self._t.enter("end_ticket")
        held = self._t.tickets.get(ticket_id_for(seat.family_id, seat.user_id))
        if held is None or held.ticket.status not in (TicketStatus.QUEUED, TicketStatus.SEATED):
            return False
        if held.ticket.created_at > seat.joined_at:
            return False  # queued again since the seat was taken: a newer join's
        held.ticket = replace(held.ticket, status=status, room_id=seat.room_id, reason=reason, updated_at=now)
        held.due = None
        return True

    def _family(self, family_id: str) -> list[StoredTicket]:
        held = [stored for stored in self._t.tickets.values() if stored.ticket.family_id == family_id]
        return sorted(held, key=lambda stored: (stored.ticket.created_at, stored.ticket.ticket_id))

    def queued_tickets(self, family_id: str) -> Iterator[Ticket]:
        self._t.enter("queued_tickets")
        for stored in self._family(family_id):
            if stored.ticket.status is TicketStatus.QUEUED:
                yield stored.ticket

    def due_tickets(self, bucket: int) -> Iterator[Ticket]:
        self._t.enter("due_tickets")
        for stored in list(self._t.tickets.values()):
            if stored.due == bucket:
                yield stored.ticket

    def promotion_candidates(self, family_id: str, main_room_id: str, limit: int) -> list[Ticket]:
        self._t.enter("promotion_candidates")
        if limit <= 0:
            return []
        candidates = [
            stored.ticket
            for stored in self._family(family_id)
            if stored.promoting
            and stored.ticket.status is TicketStatus.SEATED
            and stored.ticket.room_id != main_room_id
        ]
        return candidates[:limit]

    def drop_promotion(self, ticket: Ticket) -> None:
        self._t.enter("drop_promotion")
        held = self._t.tickets.get(ticket.ticket_id)
        if held is not None:
            held.promoting = False


# ------------------------------------------------------------------------ HousekeepingStore, ExpiryStore
class FakeHousekeepingStore:
    """HousekeepingStore and ExpiryStore, as DynamoHousekeepingStore is both: the runs' records, the families
    with overflow, the empty-room marks, and the sweepers' expiry index and releases."""

    def __init__(self, table: Table, interval_seconds: int = INTERVAL_SECONDS) -> None:
        self._t = table
        self.interval_seconds = interval_seconds

    def expiry_progress(self) -> ExpiryProgress | None:
        self._t.enter("expiry_progress")
        record = self._t.records.get("expiry")
        return ExpiryProgress(*record) if record else None

    def record_expiry_progress(self, done: int, now: datetime) -> None:
        self._t.enter("record_expiry_progress")
        record = self._t.records.get("expiry")
        if record is None or record[0] <= done:  # never moved back
            self._t.records["expiry"] = (done, now)

    def last_due_bucket(self) -> int | None:
        self._t.enter("last_due_bucket")
        record = self._t.records.get("due")
        return record[0] if record else None

    def set_last_due_bucket(self, bucket: int, now: datetime) -> None:
        self._t.enter("set_last_due_bucket")
        record = self._t.records.get("due")
        if record is None or record[0] < bucket:
            self._t.records["due"] = (bucket, now)

    def families_with_overflow(self) -> list[str]:
        self._t.enter("families_with_overflow")
        return sorted(room_id for room_id, stored in self._t.rooms.items() if stored.marker == ACTIVE)

    def retire_family(self, family_id: str) -> None:
        self._t.enter("retire_family")
        if family_id in self._t.rooms:
            self._t.rooms[family_id].marker = None

    def empty_since(self, room_ids: Sequence[str]) -> dict[str, datetime | None]:
        self._t.enter("empty_since")
        return {room_id: self._t.rooms[room_id].empty_since for room_id in room_ids if room_id in self._t.rooms}

    def mark_empty(self, room_id: str, now: datetime) -> None:
        """Only while the room item (shard 0) counts nobody, is open and has no mark: the adapter's condition."""
        self._t.enter("mark_empty")
        stored = self._t.rooms.get(room_id)
        if stored is None or stored.shard_status[0] is not RoomStatus.OPEN or stored.empty_since is not None:
            return
        if self._t.shard_occupancy(room_id, 0) == 0:
            stored.empty_since = now

    def clear_empty(self, room_id: str) -> None:
        self._t.enter("clear_empty")
        if room_id in self._t.rooms:
            self._t.rooms[room_id].empty_since = None

    def close_if_empty(self, room_id: str, since: datetime) -> bool:
        self._t.enter("close_if_empty")
        stored = self._t.stored_room(room_id)
        if stored.shard_status[0] is not RoomStatus.OPEN or stored.empty_since != since:
            return False
        if any(self._t.occupancies(room_id)):
            return False
        stored.shard_status = [RoomStatus.CLOSED] * len(stored.shard_status)
        stored.empty_since = None
        return True

    def seats_expiring(self, bucket: int, shard: int, by: datetime) -> Iterator[Seat]:
        self._t.enter("seats_expiring")
        indexed = [
            seat
            for seat in self._t.seats.values()
            if expiry_bucket(seat.expires_at, self.interval_seconds) == bucket
            and expiry_shard(seat_key(seat.family_id, seat.user_id)) == shard
            and seat.expires_at <= by
        ]
        yield from sorted(indexed, key=lambda seat: seat.expires_at)

    def release_expired(self, seats: Sequence[Seat], now: datetime) -> list[Seat]:
        self._t.enter("release_expired")
        return [seat for seat in seats if self._t.release(seat, expired_by=now)]

    def seat(self, family_id: str, user_id: str) -> Seat | None:
        self._t.enter("seat")
        return self._t.seats.get((family_id, user_id))


# ------------------------------------------------------------------------ ConnectionStore
class FakeConnectionStore:
    """ConnectionStore: the table's connections by (user, connection id)."""

    def __init__(self, table: Table) -> None:
        self._t = table

    def record(self, connection: Connection) -> None:
        self._t.enter("record")
        self._t.connections[(connection.user_id, connection.connection_id)] = connection

    def forget(self, user_id: str, connection_id: str) -> Connection | None:
        self._t.enter("forget")
        return self._t.connections.pop((user_id, connection_id), None)

    def connections_of(self, user_id: str) -> list[Connection]:
        self._t.enter("connections_of")
        return [c for (user, _), c in sorted(self._t.connections.items()) if user == user_id]

    def set_hold(self, user_id: str, connection_id: str, room_id: str) -> None:
        self._set(user_id, connection_id, holds_room=room_id)

    def set_watch(self, user_id: str, connection_id: str, ticket_id: str) -> None:
        self._set(user_id, connection_id, watches_ticket=ticket_id)

    def _set(self, user_id: str, connection_id: str, **changes: Any) -> None:
        self._t.enter("set_connection")
        found = self._t.connections.get((user_id, connection_id))
        if found is not None:  # a late message after `$disconnect` revives nothing
            self._t.connections[(user_id, connection_id)] = replace(found, **changes)


# ------------------------------------------------------------------------ EventStore
class FakeEventStore:
    """EventStore: booked shows with their host's quota, optimistic saves, RSVPs counted once."""

    def __init__(self, table: Table, max_booked_shows: int | None = None) -> None:
        self._t = table
        self._max_shows = max_booked_shows if max_booked_shows is not None else settings().max_booked_shows_per_host

    def put_event(self, event: Event) -> None:
        self._t.enter("put_event")
        if self._t.quotas[(event.host_id, "booked_shows")] >= self._max_shows:
            raise QuotaExceeded("booked shows", self._max_shows)
        if event.event_id in self._t.events:
            raise ValueError(f"event {event.event_id} exists: the adapter's condition refuses a second put")
        self._t.events[event.event_id] = StoredEvent(event)
        self._t.quotas[(event.host_id, "booked_shows")] += 1

    def get_event(self, event_id: str, *, consistent: bool = False) -> Event:
        self._t.enter("get_event")
        if event_id not in self._t.events:
            raise EventNotFound(event_id)
        return self._t.events[event_id].event

    def save_event(self, event: Event, prior: Event) -> Event:
        """Write the fields that differ from `prior`, only if nobody saved it since (Contention otherwise)."""
        self._t.enter("save_event")
        stored = self._t.events.get(event.event_id)
        if stored is None or stored.event.updated_at != prior.updated_at:
            raise Contention(f"event {event.event_id}")
        changes: dict[str, Any] = {
            name: getattr(event, name) for name in MUTABLE_EVENT_FIELDS if getattr(event, name) != getattr(prior, name)
        }
        stored.event = replace(stored.event, updated_at=event.updated_at, **changes)
        if stored.holds_quota and stored.event.status not in EDITABLE:
            stored.holds_quota = False
            self._t.give_back_quota(stored.event.host_id, "booked_shows")
        return stored.event

    def delete_event(self, event_id: str) -> None:
        self._t.enter("delete_event")
        stored = self._t.events.pop(event_id, None)
        if stored is not None and stored.holds_quota:
            self._t.give_back_quota(stored.event.host_id, "booked_shows")

    def rsvp(self, event_id: str, user_id: str, now: datetime) -> bool:
        self._t.enter("rsvp")
        if (event_id, user_id) in self._t.rsvps:
            return False
        stored = self._t.events.get(event_id)
        if stored is None:
            raise EventNotFound(event_id)
        if stored.event.status not in EDITABLE:
            raise EventNotEditable(event_id, stored.event.status.value, "attended")
        self._t.rsvps.add((event_id, user_id))
        stored.event = replace(stored.event, expected_audience=stored.event.expected_audience + 1)
        return True

    def host_events(
        self, host_id: str, since: datetime, ending_after: datetime, limit: int, cursor: str | None
    ) -> Page[Event]:
        """By start time from `since`; `limit` counts the events read before the filter, as DynamoDB's Limit."""
        self._t.enter("host_events")
        listing = f"events/{host_id}"
        ordered = sorted(
            (stored.event for stored in self._t.events.values() if stored.event.host_id == host_id),
            key=_event_order,
        )
        keyed = [event for event in ordered if event.starts_at >= since]
        if cursor:
            parts = cursor.split("|")
            if len(parts) != 2 or parts[0] != listing:
                raise InvalidCursor()
            keyed = [event for event in keyed if _event_order(event) > parts[1]]
        read = keyed[:limit]
        events = [event for event in read if event.ends_at > ending_after and event.status in EDITABLE]
        last = f"{listing}|{_event_order(read[-1])}" if len(read) == limit and read else None
        return Page(items=events, next_cursor=last)

    def create_room_once(self, room: Room) -> Room:
        self._t.enter("create_room_once")
        if room.room_id in self._t.rooms:
            return self._t.room(room.room_id)
        self._t.put_room(room)
        return room


def _event_order(event: Event) -> str:
    return f"{event.starts_at.astimezone(UTC).isoformat()}#{event.event_id}"


# ------------------------------------------------------------------------ queues and the Scheduler
class Unreachable(ConnectionError):
    """What a broken queue or Scheduler raises: the adapters let the SDK's error through."""


@dataclass
class FakePublisher:
    published: list[OverflowRequest] = field(default_factory=list)
    broken: bool = False

    def publish(self, request: OverflowRequest) -> None:
        if self.broken:
            raise Unreachable("the queue is unreachable")
        self.published.append(request)


@dataclass
class FakeNotifier:
    """The pushes, in order, as (user, frame); it may be broken, and a Notifier swallows that itself."""

    pushed: list[tuple[str, Frame]] = field(default_factory=list)

    def notify(self, user_id: str, frame: Frame) -> None:
        self.pushed.append((user_id, frame))

    def notify_many(self, pushes: Sequence[tuple[str, Frame]]) -> None:
        self.pushed.extend(pushes)

    def of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(user, frame["data"]) for user, frame in self.pushed if frame["type"] == kind]


@dataclass
class FakeReleaseQueue:
    """The sweep queue's delayed releases, (room, user, delay), and promotions, (family, seats), in order."""

    releases: list[tuple[str, str, int]] = field(default_factory=list)
    promotions: list[tuple[str, int]] = field(default_factory=list)
    broken: bool = False

    def release_later(self, room_id: str, user_id: str, delay_seconds: int) -> None:
        if self.broken:
            raise Unreachable("the queue is unreachable")
        self.releases.append((room_id, user_id, delay_seconds))

    def promote_later(self, family_id: str, seats: int = 1) -> None:
        if self.broken:
            raise Unreachable("the queue is unreachable")
        self.promotions.append((family_id, seats))


@dataclass
class FakeSweepQueue:
    """The sweep queue: the jobs of each enqueue call, in order; it may break after some calls."""

    calls: list[list[SweepJob]] = field(default_factory=list)
    broken_after: int | None = None  # calls that succeed before the queue becomes unreachable

    def enqueue(self, jobs: Sequence[SweepJob]) -> None:
        if self.broken_after is not None and len(self.calls) >= self.broken_after:
            raise Unreachable("the queue is unreachable")
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
    broken: bool = False

    def add(self, body: str) -> None:
        number = len(self.letters)
        self.letters.append(DeadLetter(f"m{number}", body, f"handle-{number}"))

    def peek(self, limit: int) -> list[DeadLetter]:
        if self.broken:
            raise Unreachable("the dead-letter queue is unreachable")
        self.out = self.letters[:limit]
        return list(self.out)

    def put_back(self, letters: Sequence[DeadLetter]) -> None:
        self.out = [letter for letter in self.out if letter not in letters]


@dataclass
class FakeScheduler:
    """ShowScheduler: schedules by name; a put replaces one of the same name; deleting a missing one is fine."""

    schedules: dict[str, ScheduleSpec] = field(default_factory=dict)
    broken: bool = False
    broken_deletes: bool = False

    def put(self, spec: ScheduleSpec) -> None:
        if self.broken:
            raise Unreachable("the Scheduler is unreachable")
        self.schedules[spec.name] = spec

    def delete(self, name: str) -> None:
        if self.broken or self.broken_deletes:
            raise Unreachable("the Scheduler is unreachable")
        self.schedules.pop(name, None)


# ------------------------------------------------------------------------ set-up helpers
def main_room(
    family_id: str = "r_main", *, capacity: int = 1, shards: int = 1, host_id: str = "host", **changes: Any
) -> Room:
    room = Room(
        room_id=family_id,
        family_id=family_id,
        index=MAIN_INDEX,
        host_id=host_id,
        title="t",
        capacity=capacity,
        occupancy=0,
        status=RoomStatus.OPEN,
        created_at=START,
        shards=shards,
    )
    return replace(room, **changes)


_ROOM_FIELDS = {f.name for f in fields(Room)}


@dataclass
class Fakes:
    """Every port on one table and one clock, and the use cases built on them as the composition roots do."""

    clock: Clock = field(default_factory=Clock)
    table: Table = field(default_factory=Table)
    interval_seconds: int = INTERVAL_SECONDS
    budget: timedelta = BUDGET
    publisher: FakePublisher = field(default_factory=FakePublisher)
    sweep_queue: FakeSweepQueue = field(default_factory=FakeSweepQueue)
    dead_letters: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    scheduler: FakeScheduler = field(default_factory=FakeScheduler)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    releases: FakeReleaseQueue = field(default_factory=FakeReleaseQueue)
    grace_seconds: int = 20

    def __post_init__(self) -> None:
        self.rooms = FakeRoomStore(self.table, self.interval_seconds)
        self.tickets = FakeTicketStore(self.table, self.budget)
        self.records = FakeHousekeepingStore(self.table, self.interval_seconds)
        self.events = FakeEventStore(self.table)
        self.connections = FakeConnectionStore(self.table)
        self.bans = FakeBanStore(self.table)
        self.groups = FakeGroupStore(self.table)

    # state, as a test sets it up
    def add_room(self, room: Room, *, seated: Sequence[str] = ()) -> Room:
        """Put a room (a parallel one raises its main room's parallel count) and seat `seated` in it."""
        self.table.put_room(room)
        if not room.is_main and room.family_id in self.table.rooms:
            main = self.table.rooms[room.family_id]
            main.room = replace(main.room, parallel_count=max(main.room.parallel_count, room.index))
            main.marker = ACTIVE
        for user in seated:
            self.seat(room.room_id, user)
        return self.table.room(room.room_id)

    def seat(self, room_id: str, user_id: str, *, ticketed: bool = False, shard: int | None = None) -> Seat:
        """A seat as an admission (or the worker, `ticketed`) would have written it, now."""
        room = self.table.room(room_id)
        free = self.table.free_shards(room_id)
        if shard is None and not free:
            raise RoomFull(room_id, room.capacity)
        chosen = free[0] if shard is None else shard
        now = self.clock()
        seat = Seat(room_id, room.family_id, user_id, now, now + self.rooms.lease, ticketed, chosen)
        self.table.seats[(room.family_id, user_id)] = seat
        return seat

    def put_ticket(self, ticket: Ticket, *, promoting: bool | None = None) -> Ticket:
        due = due_bucket(ticket.queued_since + self.budget) if ticket.status is TicketStatus.QUEUED else None
        self.table.tickets[ticket.ticket_id] = StoredTicket(
            ticket, due, ticket.promote if promoting is None else promoting
        )
        return ticket

    def set_room(self, room_id: str, **changes: Any) -> None:
        """Change a stored room's static fields, or its status (every shard's)."""
        stored = self.table.stored_room(room_id)
        status = changes.pop("status", None)
        assert set(changes) <= _ROOM_FIELDS
        stored.room = replace(stored.room, **changes)
        if status is not None:
            stored.shard_status = [status] * len(stored.shard_status)

    def ticket(self, ticket_id: str) -> Ticket:
        return self.table.ticket(ticket_id)

    def seated(self, room_id: str | None = None) -> set[str]:
        return {user for (_, user), seat in self.table.seats.items() if room_id is None or seat.room_id == room_id}

    def occupancy(self, room_id: str) -> int:
        return self.table.room(room_id).occupancy

    # the use cases, wired as the composition roots wire the adapters
    def room_service(self) -> RoomService:
        return RoomService(
            self.rooms,
            self.tickets,
            self.publisher,
            self.clock,
            delivery_budget=self.budget,
            notifier=self.notifier,
            promotions=self.releases,
            bans=self.bans,
        )

    def overflow_service(self, max_parallel_rooms: int = 100) -> OverflowService:
        return OverflowService(
            self.rooms,
            self.tickets,
            max_parallel_rooms,
            self.clock,
            notifier=self.notifier,
            bans=self.bans,
            groups=self.groups,
        )

    def group_service(self) -> GroupService:
        return GroupService(
            self.groups, self.rooms, self.tickets, self.publisher, self.clock, bans=self.bans, notifier=self.notifier
        )

    def reconciler(self) -> TicketReconciler:
        return TicketReconciler(
            self.rooms, self.tickets, self.publisher, self.budget, self.clock, notifier=self.notifier
        )

    def presence(self) -> Presence:
        return Presence(
            connections=self.connections,
            holds=self.rooms,
            rooms=self.room_service(),
            releases=self.releases,
            grace_seconds=self.grace_seconds,
            clock=self.clock,
        )

    def housekeeping(
        self, *, grace_seconds: int = 300, reconciler: TicketReconciler | None = None, settle_tickets: bool = True
    ) -> Housekeeping:
        """The minute run; without `settle_tickets`, one given neither reconciler nor dead-letter queue."""
        return Housekeeping(
            store=self.records,
            rooms=self.rooms,
            tickets=self.tickets,
            events=self.events,
            heartbeat_interval_seconds=self.interval_seconds,
            empty_room_grace_seconds=grace_seconds,
            sweep_queue=self.sweep_queue,
            clock=self.clock,
            reconciler=(reconciler or self.reconciler()) if settle_tickets else None,
            dead_letters=self.dead_letters if settle_tickets else None,
            notifier=self.notifier,
        )

    def sweeper(self) -> ExpirySweeper:
        return ExpirySweeper(self.records, self.tickets, self.clock, promoter=self.promoter())

    def promoter(self) -> Promoter:
        return Promoter(self.rooms, self.tickets, self.clock, notifier=self.notifier)

    def deliver_promotions(self) -> int:
        """The sweep queue delivers the promote messages waiting, in order, to a sweeper: how many moved up."""
        waiting, self.releases.promotions = self.releases.promotions, []
        sweeper = self.sweeper()
        return sum(sweeper.promote(family_id, seats) for family_id, seats in waiting)

    def show_runner(self, max_parallel_rooms: int = 100) -> ShowRunner:
        return ShowRunner(
            events=self.events,
            rooms=self.rooms,
            tickets=self.tickets,
            room_service=self.room_service(),
            max_parallel_rooms=max_parallel_rooms,
            clock=self.clock,
        )

    def event_service(self) -> EventService:
        return EventService(self.events, self.scheduler, self.show_runner(), self.clock)


# ------------------------------------------------------------------------ BanStore
class FakeBanStore:
    """BanStore: the table's bans, each read seeing every ban written before it."""

    def __init__(self, table: Table) -> None:
        self._t = table

    def put_ban(self, ban: Ban) -> None:
        self._t.enter("put_ban")
        self._t.bans[(ban.family_id, ban.user_id)] = ban

    def lift_ban(self, family_id: str, user_id: str) -> bool:
        self._t.enter("lift_ban")
        return self._t.bans.pop((family_id, user_id), None) is not None

    def get_ban(self, family_id: str, user_id: str, *, consistent: bool = True) -> Ban | None:
        self._t.enter("get_ban")
        return self._t.bans.get((family_id, user_id))

    def bans_of(self, family_id: str, user_ids: Sequence[str]) -> dict[str, Ban]:
        self._t.enter("bans_of")
        return {user: ban for user in user_ids if (ban := self._t.bans.get((family_id, user))) is not None}


# ------------------------------------------------------------------------ GroupStore
class FakeGroupStore:
    """GroupStore: the table's groups; each change of one sees every change made before it."""

    def __init__(self, table: Table) -> None:
        self._t = table

    def put_group(self, group: Group) -> None:
        self._t.enter("put_group")
        self._t.groups[group.group_id] = group

    def get_group(self, group_id: str) -> Group | None:
        self._t.enter("get_group")
        return self._t.groups.get(group_id)

    def add_member(self, group_id: str, user_id: str, now: datetime) -> Group:
        self._t.enter("add_member")
        group = self._live(group_id, now)
        if group.has(user_id):
            return group
        if group.taken_in_at is not None:
            raise GroupClosed(group_id, "its leader took it into the room")
        if len(group.members) >= MAX_GROUP_MEMBERS:
            raise GroupClosed(group_id, "it is full")
        self._t.groups[group_id] = replace(group, members=(*group.members, user_id))
        return self._t.groups[group_id]

    def take_in(self, group_id: str, now: datetime) -> Group:
        self._t.enter("take_in")
        group = self._live(group_id, now)
        if group.taken_in_at is None:
            self._t.groups[group_id] = replace(group, taken_in_at=now)
        return self._t.groups[group_id]

    def _live(self, group_id: str, now: datetime) -> Group:
        group = self._t.groups.get(group_id)
        if group is None or not group.live(now):
            raise GroupNotFound(group_id)
        return group


# ------------------------------------------------------------------------ LifecycleBus
class FakeLifecycleBus:
    """LifecycleBus: keeps what was published; `refusing` makes every publish raise, as a bus that refused."""

    def __init__(self) -> None:
        self.published: list[LifecycleEvent] = []
        self.refusing = False

    def publish(self, events: Sequence[LifecycleEvent]) -> None:
        if self.refusing:
            raise RuntimeError("the bus refused the events")
        self.published.extend(events)
