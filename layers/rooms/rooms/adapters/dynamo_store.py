"""The RoomStore on DynamoDB: every invariant is held by a conditional write or a transaction.

A room's occupancy is counted on its write shards (RoomShardItem; shard 0 is the room item), each
owning a slice of the capacity. A seat and its shard's count change together in one transaction, so
I1 (occupancy == seats <= capacity, occupancy the sum over shards) holds at every instant; the seat key
is (family, user), so I2 (one seat per family) is a key fact.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pynamodb.attributes import BooleanAttribute, NumberAttribute
from pynamodb.connection import Connection
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from rooms.adapters.cursors import seal, unseal
from rooms.adapters.full_shards import FullShards
from rooms.adapters.models import (
    ACTIVE_FAMILIES,
    EVICTING_ROOMS,
    FAMILY_METADATA_SK,
    QUOTA_SK,
    SHARD_SK,
    FamilyMetadataItem,
    QuotaItem,
    RoomItem,
    RoomShardItem,
    SeatItem,
    TicketItem,
    arrival_key,
    due_ticket_shard,
    due_tickets_key,
    expiry_sort_key,
    quota_key,
    room_key,
    seat_expiry_key,
    seat_key,
    seats_key,
    shard_key,
    ticket_family_key,
    ticket_key,
)
from rooms.config import settings
from rooms.domain.errors import (
    Contention,
    InvalidCursor,
    QuotaExceeded,
    RoomClosed,
    RoomFull,
    RoomNotFound,
)
from rooms.domain.expiry import expiry_bucket
from rooms.domain.model import (
    Page,
    Room,
    RoomStatus,
    Seat,
    Ticket,
    TicketStatus,
    due_bucket,
    family_of,
    parallel_room_id,
    shard_capacities,
    ticket_id_for,
)
from rooms.ports import BatchOutcome, OverflowRequest

T = TypeVar("T")
# pynamodb sends a transaction's items grouped: condition checks, deletes, puts, then updates;
# cancellation reasons follow that order, so positions below are counted the same way.
CONDITION_FAILED = "ConditionalCheckFailed"
CONFLICT = "TransactionConflict"
_MAX_CONFLICT_RETRIES = 8
_EVICT_CHUNK = 99  # one room update + 99 seat deletes per transaction
_TERMINAL_TICKET_TTL = timedelta(days=1)
# a ticket that stops being queued leaves the index of due tickets (TicketItem.by_due_time)
_OFF_DUE_INDEX = (TicketItem.gsi2pk.remove(), TicketItem.gsi2sk.remove())
_BATCH_GET_LIMIT = 100  # keys per BatchGetItem call
# a participants cursor holds (write shard, seat pk, gsi1sk): the shard's listing and where it stopped
_SEAT_CURSOR_VALUES = 3
# TransactWriteItems takes 100 items
_TRANSACTION_ITEMS = 100
IS_OPEN = RoomItem.status == RoomStatus.OPEN.value
# Write shards share these attribute names with the room item (shard 0): one expression serves both.
HAS_FREE_SEAT = RoomItem.occupancy < RoomItem.shard_capacity


def shard_item(room_id: str, shard: int) -> Model:
    """The item counting write shard `shard` of a room (key only): the room item itself for shard 0."""
    if shard == 0:
        return RoomItem(pk=room_key(room_id), sk="ROOM")
    return RoomShardItem(pk=shard_key(room_id, shard), sk=SHARD_SK)


def _codes(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in error.cancellation_reasons]


def _raw(error: TransactWriteError, position: int) -> dict[str, Any] | None:
    reasons = error.cancellation_reasons
    if position < len(reasons) and reasons[position] is not None:
        return reasons[position].raw_item  # type: ignore[union-attr]
    return None


def update_if(item: Model, actions: Sequence[Action], condition: Condition) -> bool:
    """UpdateItem under a condition; False, not an error, when the condition does not hold."""
    try:
        item.update(actions=list(actions), condition=condition)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _with_conflict_retries(what: str, attempt: Callable[[], T]) -> T:
    """Retry a transaction cancelled only by a concurrent transaction, with jittered backoff."""
    for tries in range(_MAX_CONFLICT_RETRIES):
        try:
            return attempt()
        except TransactWriteError as error:
            codes = _codes(error)
            if CONFLICT not in codes or CONDITION_FAILED in codes:
                raise
            time.sleep(random.uniform(0, 0.005 * 2**tries))
    raise Contention(what)


def count_in_quota(tx: TransactWrite, host_id: str, counter: NumberAttribute, limit: int) -> None:
    """In `tx`: add one to a host's quota counter, only while it is below `limit` (see QuotaItem)."""
    tx.update(
        QuotaItem(pk=quota_key(host_id), sk=QUOTA_SK),
        actions=[counter.add(1)],
        condition=counter.does_not_exist() | (counter < limit),
    )


def give_back_quota(
    connection: Connection, holder: Model, flag: BooleanAttribute, counter: NumberAttribute, host_id: str
) -> None:
    """Return the unit `holder` (a key-only item) took from its host's quota; only the first call does."""

    def attempt() -> None:
        with TransactWrite(connection=connection) as tx:
            tx.update(holder, actions=[flag.remove()], condition=flag.exists())
            tx.update(QuotaItem(pk=quota_key(host_id), sk=QUOTA_SK), actions=[counter.add(-1)])

    try:
        _with_conflict_retries(f"quota of host {host_id}", attempt)
    except TransactWriteError as error:
        if CONDITION_FAILED not in _codes(error):
            raise
        # another close or cancel gave it back already


def room_from_item(item: RoomItem, metadata: Mapping[str, str] | None = None) -> Room:
    """A Room from its item and its family's metadata item (None: none, or a room from before the split)."""
    if metadata is None:
        legacy = item.legacy_metadata
        metadata = legacy.as_dict() if hasattr(legacy, "as_dict") else dict(legacy or {})
    return Room(
        room_id=item.room_id,
        family_id=item.family_id,
        index=int(item.index),
        host_id=item.host_id,
        title=item.title,
        capacity=int(item.capacity),
        occupancy=int(item.occupancy),
        status=RoomStatus(item.status),
        created_at=item.created_at,
        metadata=dict(metadata),
        parallel_count=int(item.parallel_count or 0),
        event_id=item.event_id,
        shards=int(item.shards or 1),
    )


def seat_from_item(item: SeatItem) -> Seat:
    return Seat(
        room_id=item.room_id,
        family_id=item.family_id,
        user_id=item.user_id,
        joined_at=item.joined_at,
        expires_at=item.expires_at,
        ticketed=bool(item.ticketed),
        shard=int(item.shard or 0),
    )


def seat_item(seat: Seat, interval_seconds: int) -> SeatItem:
    """A seat's item with its index keys: its room's participants (gsi1), its lease end (gsi2)."""
    key = seat_key(seat.family_id, seat.user_id)
    return SeatItem(
        pk=key,
        sk="SEAT",
        room_id=seat.room_id,
        family_id=seat.family_id,
        user_id=seat.user_id,
        joined_at=seat.joined_at,
        expires_at=seat.expires_at,
        ticketed=True if seat.ticketed else None,
        shard=seat.shard or None,
        gsi1pk=seats_key(seat.room_id, seat.shard),
        gsi1sk=f"{seat.joined_at.isoformat()}#{seat.user_id}",
        gsi2pk=seat_expiry_key(expiry_bucket(seat.expires_at, interval_seconds), key),
        gsi2sk=expiry_sort_key(seat.expires_at, key),
    )


def ticket_from_item(item: TicketItem) -> Ticket:
    return Ticket(
        ticket_id=item.ticket_id,
        family_id=item.family_id,
        user_id=item.user_id,
        status=TicketStatus(item.status),
        requested_room_id=item.requested_room_id,
        created_at=item.created_at,
        updated_at=item.updated_at,
        room_id=item.room_id,
        reason=item.reason,
        promote=bool(item.promote),
        republished=int(item.republished or 0),
    )


class DynamoRoomStore:
    def __init__(self, connection: Connection | None = None) -> None:
        config = settings()
        self._connection = connection or Connection(
            region=config.region, retry_configuration={"mode": "standard", "total_max_attempts": 5}
        )
        self._lease = timedelta(seconds=config.seat_lease_seconds)
        self._bucket_seconds = config.heartbeat_interval_seconds
        self._delivery_budget = timedelta(seconds=config.overflow_delivery_budget_seconds)
        self._full = FullShards(config.full_room_memory_seconds)
        self._shapes: dict[str, tuple[int, int]] = {}  # room id -> (write shards, capacity): never change

    # ------------------------------------------------------------------ rooms
    def create_room(self, room: Room) -> None:
        """Create a main room, its metadata item and its count in the host's quota, in one transaction.

        QuotaExceeded when the host already has `max_open_rooms_per_host` open rooms: nothing is written.
        """
        limit = settings().max_open_rooms_per_host

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                self.save_room(tx, room, holds_quota=True)
                if room.metadata:
                    tx.save(FamilyMetadataItem(pk=room_key(room.family_id), metadata=dict(room.metadata)))
                count_in_quota(tx, room.host_id, QuotaItem.open_rooms, limit)

        try:
            _with_conflict_retries(f"host {room.host_id}", attempt)
        except TransactWriteError as error:
            if _codes(error)[-1:] == [CONDITION_FAILED]:  # [room put, shard puts..., metadata put?, quota update]
                raise QuotaExceeded("open rooms", limit) from None
            raise

    def save_room(self, tx: TransactWrite, room: Room, *, holds_quota: bool = False) -> None:
        """In `tx`: put a new room's item and its other write shards, only if the room does not exist."""
        slices = shard_capacities(room.capacity, room.shards)
        tx.save(self._room_item(room, holds_quota=holds_quota), condition=RoomItem.pk.does_not_exist())
        for shard in range(1, room.shards):
            tx.save(
                RoomShardItem(
                    pk=shard_key(room.room_id, shard),
                    room_id=room.room_id,
                    family_id=room.family_id,
                    shard=shard,
                    occupancy=0,
                    shard_capacity=slices[shard],
                    status=room.status.value,
                )
            )

    def get_room(self, room_id: str, *, consistent: bool = False) -> Room:
        rooms = self._read_rooms([room_id], consistent)
        if not rooms:
            raise RoomNotFound(room_id)
        return rooms[0]

    def get_rooms(self, room_ids: Sequence[str]) -> list[Room]:
        return self._read_rooms(room_ids, consistent=True)

    def _read_rooms(self, room_ids: Sequence[str], consistent: bool) -> list[Room]:
        """Rooms (those that exist, in order) with their family's metadata, read in one BatchGetItem.

        pynamodb's batch_get reads one model; both kinds of item are read raw here, told apart by sk.
        """
        families = dict.fromkeys(family_of(room_id)[0] for room_id in room_ids)
        keys = [(room_key(room_id), "ROOM") for room_id in dict.fromkeys(room_ids)]
        keys += [(room_key(family_id), FAMILY_METADATA_SK) for family_id in families]
        items: dict[str, RoomItem] = {}
        metadata: dict[str, dict[str, str]] = {}
        for raw in self._batch_get_raw(keys, consistent):
            if raw["sk"]["S"] == FAMILY_METADATA_SK:
                details = FamilyMetadataItem.from_raw_data(raw)
                metadata[details.pk] = details.metadata.as_dict()
            else:
                item = RoomItem.from_raw_data(raw)
                items[item.room_id] = item
        rooms = [
            room_from_item(items[room_id], metadata.get(room_key(items[room_id].family_id)))
            for room_id in room_ids
            if room_id in items
        ]
        return self._with_shard_counts(rooms, consistent)

    def _with_shard_counts(self, rooms: list[Room], consistent: bool) -> list[Room]:
        """Rooms whose occupancy is the sum over their write shards (the room item counts shard 0 only)."""
        keys = [(shard_key(room.room_id, k), SHARD_SK) for room in rooms for k in range(1, room.shards)]
        if not keys:
            return rooms
        counted: dict[str, int] = {}
        for raw in self._batch_get_raw(keys, consistent):
            shard = RoomShardItem.from_raw_data(raw)
            counted[shard.room_id] = counted.get(shard.room_id, 0) + int(shard.occupancy)
        return [replace(room, occupancy=room.occupancy + counted.get(room.room_id, 0)) for room in rooms]

    def shard_occupancies(self, room: Room) -> list[tuple[int, int]]:
        """(occupancy, capacity) of each write shard of a room, read consistently, in shard order."""
        keys = [(shard_key(room.room_id, k), "ROOM" if k == 0 else SHARD_SK) for k in range(room.shards)]
        found: dict[int, tuple[int, int]] = {}
        for raw in self._batch_get_raw(keys, consistent=True):
            if raw["sk"]["S"] == SHARD_SK:
                shard = RoomShardItem.from_raw_data(raw)
                found[int(shard.shard)] = (int(shard.occupancy), int(shard.shard_capacity))
            else:
                item = RoomItem.from_raw_data(raw)
                found[0] = (int(item.occupancy), int(item.shard_capacity or item.capacity))
        return [found.get(k, (0, 0)) for k in range(room.shards)]

    def _batch_get_raw(self, keys: Sequence[tuple[str, str]], consistent: bool) -> list[dict[str, Any]]:
        table = RoomItem.Meta.table_name
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                table: {
                    "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": consistent,
                }
            }
            for tries in range(_MAX_CONFLICT_RETRIES):
                answer = self._connection.client.batch_get_item(RequestItems=request)
                found += answer.get("Responses", {}).get(table, [])
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(random.uniform(0, 0.005 * 2**tries))  # the keys left over were throttled
            else:
                raise Contention("reading rooms")
        return found

    def close_room(self, room_id: str) -> Room:
        """Close a room and list it among the rooms whose seats are being freed, in one write.

        A main room counted in its host's quota then gives its unit back, once (see QuotaItem).
        """
        item = RoomItem(pk=room_key(room_id), sk="ROOM")
        actions = [
            RoomItem.status.set(RoomStatus.CLOSED.value),
            RoomItem.gsi2pk.set(EVICTING_ROOMS),
            RoomItem.gsi2sk.set(room_id),
        ]
        if not update_if(item, actions, RoomItem.pk.exists()):
            raise RoomNotFound(room_id)
        occupancy = int(item.occupancy)
        for shard in range(1, int(item.shards or 1)):  # every shard admits on its own status
            counter = RoomShardItem(pk=shard_key(room_id, shard), sk=SHARD_SK)
            if update_if(counter, [RoomShardItem.status.set(RoomStatus.CLOSED.value)], RoomShardItem.pk.exists()):
                occupancy += int(counter.occupancy)
        if item.holds_quota:
            holder = RoomItem(pk=item.pk, sk=item.sk)
            give_back_quota(self._connection, holder, RoomItem.holds_quota, QuotaItem.open_rooms, item.host_id)
        return replace(room_from_item(item), occupancy=occupancy)

    def rooms_being_evicted(self) -> list[str]:
        return [item.gsi2sk for item in RoomItem.with_overflow.query(EVICTING_ROOMS) if item.gsi2sk]

    def create_parallel_room(self, main: Room, index: int, now: datetime) -> None:
        """Create parallel room `index` once, however many callers race: deterministic id + conditions."""
        room = Room(
            room_id=parallel_room_id(main.family_id, index),
            family_id=main.family_id,
            index=index,
            host_id=main.host_id,
            title=main.title,
            capacity=main.capacity,
            occupancy=0,
            status=RoomStatus.OPEN,
            created_at=now,
            event_id=main.event_id,  # no metadata: the family's item holds it for every room
            shards=main.shards,
        )

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                self.save_room(tx, room)
                tx.update(
                    RoomItem(pk=room_key(main.room_id), sk="ROOM"),
                    actions=[
                        RoomItem.parallel_count.set(index),
                        # housekeeping finds families with parallel rooms through gsi2 (promotion, empty rooms)
                        RoomItem.gsi2pk.set(ACTIVE_FAMILIES),
                        RoomItem.gsi2sk.set(room_key(main.room_id)),
                    ],
                    condition=(RoomItem.parallel_count == index - 1) & (RoomItem.status == RoomStatus.OPEN.value),
                )

        try:
            _with_conflict_retries(f"room family {main.family_id}", attempt)
        except TransactWriteError as error:
            if CONDITION_FAILED not in _codes(error):
                raise
            # someone else created it, or the family is closed: the caller re-reads the family

    # ------------------------------------------------------------------ seats
    def admit(self, room_id: str, family_id: str, user_id: str, now: datetime) -> Seat:
        """Seat a user through one of the room's write shards, in one transaction there: the shard's count
        + 1 only while it is open and below its slice, and the seat. A full shard sends the join to the
        next; RoomFull once every shard is full (or known full: FullShards).

        A user already seated anywhere in the family gets that seat back (repeated joins are idempotent).
        """
        shards, capacity = self._shape(room_id)
        tried = False
        for shard in self._full.open_shards(room_id, shards):
            seat = self._admit_through(shard, room_id, family_id, user_id, now)
            if seat is not None:
                self._full.seated(room_id)
                return seat
            tried = True
            self._full.mark_full(room_id, shard, shards)
        if not tried:  # no transaction ran, so none proved the user holds no seat: look
            found = self.get_seat(family_id, user_id)
            if found is not None:
                return found
        raise RoomFull(room_id, capacity)

    def _shape(self, room_id: str) -> tuple[int, int]:
        """(write shards, capacity) of a room, read once per instance: neither changes in a room's life."""
        shape = self._shapes.get(room_id)
        if shape is None:
            try:
                item = RoomItem.get(
                    room_key(room_id), "ROOM", consistent_read=True, attributes_to_get=["shards", "capacity"]
                )
            except DoesNotExist:
                raise RoomNotFound(room_id) from None
            shape = (int(item.shards or 1), int(item.capacity))
            if len(self._shapes) > 10_000:
                self._shapes.clear()
            self._shapes[room_id] = shape
        return shape

    def _admit_through(self, shard: int, room_id: str, family_id: str, user_id: str, now: datetime) -> Seat | None:
        """The seat, through write shard `shard`; None when that shard is full."""
        seat = self._seat_item(room_id, family_id, user_id, now, shard=shard)

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    shard_item(room_id, shard),
                    actions=[RoomItem.occupancy.add(1)],
                    condition=IS_OPEN & HAS_FREE_SEAT,
                    return_values=ALL_OLD,
                )
                tx.save(seat, condition=SeatItem.pk.does_not_exist(), return_values=ALL_OLD)

        try:
            _with_conflict_retries(f"room {room_id}", attempt)
        except TransactWriteError as error:
            codes = _codes(error)  # [seat put, shard update]
            if len(codes) < 2:
                raise
            if codes[0] == CONDITION_FAILED:
                existing = _raw(error, 0)
                if existing is not None:
                    return seat_from_item(SeatItem.from_raw_data(existing))
                found = self.get_seat(family_id, user_id)
                if found is not None:
                    return found
            if codes[1] == CONDITION_FAILED:
                counter = _raw(error, 1)
                if counter is None:
                    raise RoomNotFound(room_id) from None
                if counter.get("status", {}).get("S") == RoomStatus.CLOSED.value:
                    raise RoomClosed(room_id) from None
                return None
            raise
        return seat_from_item(seat)

    def get_seat(self, family_id: str, user_id: str) -> Seat | None:
        try:
            return seat_from_item(SeatItem.get(seat_key(family_id, user_id), "SEAT", consistent_read=True))
        except DoesNotExist:
            return None

    def release(self, seat: Seat, *, expired_by: datetime | None = None) -> bool:
        """Free a seat and its room's occupancy together; False when it was already gone.

        With `expired_by`, only a seat whose lease ended by then is freed: a heartbeat that lands
        between housekeeping's read and this write keeps the seat.
        """
        condition = SeatItem.room_id == seat.room_id
        if expired_by is not None:
            condition &= SeatItem.expires_at <= expired_by

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.delete(SeatItem(pk=seat_key(seat.family_id, seat.user_id), sk="SEAT"), condition=condition)
                tx.update(
                    shard_item(seat.room_id, seat.shard),
                    actions=[RoomItem.occupancy.add(-1)],
                    condition=RoomItem.occupancy > 0,
                )

        try:
            _with_conflict_retries(f"room {seat.room_id}", attempt)
        except TransactWriteError as error:
            if _codes(error)[:1] == [CONDITION_FAILED]:  # [seat delete, shard update]
                return False
            raise
        self._full.forget(seat.room_id)
        return True

    def release_expired(self, seats: Sequence[Seat], now: datetime) -> list[Seat]:
        """Free the seats whose lease ended by `now`, a room at a time and up to 99 a transaction (one
        room update, so I1 holds after each); the seats freed.

        Each seat's delete is conditional on its room and its lease, so one heartbeated, left or freed
        since it was read is left out: a seat released twice frees once, and its room counts it once.
        """
        counters: dict[tuple[str, int], list[Seat]] = defaultdict(list)
        for seat in seats:
            counters[(seat.room_id, seat.shard)].append(seat)
        freed: list[Seat] = []
        for (room_id, shard), held in counters.items():
            for start in range(0, len(held), _EVICT_CHUNK):
                freed += self._release_in_shard(room_id, shard, held[start : start + _EVICT_CHUNK], now)
        for room_id in {seat.room_id for seat in freed}:
            self._full.forget(room_id)
        return freed

    def _release_in_shard(self, room_id: str, shard: int, seats: list[Seat], expired_by: datetime) -> list[Seat]:
        conflicts = 0
        while seats:
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.update(
                        shard_item(room_id, shard),
                        actions=[RoomItem.occupancy.add(-len(seats))],
                        condition=RoomItem.occupancy >= len(seats),
                    )
                    for seat in seats:
                        tx.delete(
                            SeatItem(pk=seat_key(seat.family_id, seat.user_id), sk="SEAT"),
                            condition=(SeatItem.room_id == room_id) & (SeatItem.expires_at <= expired_by),
                        )
                return seats
            except TransactWriteError as error:
                codes = _codes(error)  # [seat deletes..., shard update]
                kept = {i for i, code in enumerate(codes[: len(seats)]) if code == CONDITION_FAILED}
                if kept:
                    seats = [seat for i, seat in enumerate(seats) if i not in kept]
                    continue
                if CONFLICT not in codes:
                    raise
                if conflicts == _MAX_CONFLICT_RETRIES:
                    raise Contention(f"room {room_id}") from error
                conflicts += 1
                time.sleep(random.uniform(0, 0.005 * 2**conflicts))
        return []

    def touch(self, family_id: str, user_id: str, now: datetime) -> Seat | None:
        """Extend a user's seat lease from `now`, wherever in the family it sits; None if they hold none.

        One conditional UpdateItem and no read first: the update answers with the seat."""
        key = seat_key(family_id, user_id)
        expires = now + self._lease
        item = SeatItem(pk=key, sk="SEAT")
        actions = [
            SeatItem.expires_at.set(expires),
            SeatItem.gsi2pk.set(seat_expiry_key(expiry_bucket(expires, self._bucket_seconds), key)),
            SeatItem.gsi2sk.set(expiry_sort_key(expires, key)),
        ]
        if not update_if(item, actions, SeatItem.pk.exists()):
            return None
        return seat_from_item(item)

    def list_seats(self, room: Room, limit: int, cursor: str | None) -> Page[Seat]:
        """A page of a room's seats: write shard after write shard, each in the order its seats joined.

        The cursor holds the shard and where its listing stopped, sealed for this room's listing.
        """
        listing = f"seats/{room.room_id}"
        shard, start = self._seat_cursor(listing, room, cursor)
        seats: list[Seat] = []
        while shard < room.shards:
            results = SeatItem.by_room.query(
                seats_key(room.room_id, shard), limit=limit - len(seats), last_evaluated_key=start
            )
            seats += [seat_from_item(item) for item in results]
            last = results.last_evaluated_key
            if last:
                if len(seats) >= limit:
                    return Page(seats, seal(listing, [str(shard), last["pk"]["S"], last["gsi1sk"]["S"]]))
                start = last
                continue
            shard, start = shard + 1, None
            if len(seats) >= limit and shard < room.shards:
                return Page(seats, seal(listing, [str(shard), "", ""]))
        return Page(seats, None)

    @staticmethod
    def _seat_cursor(listing: str, room: Room, cursor: str | None) -> tuple[int, dict[str, Any] | None]:
        if not cursor:
            return 0, None
        shard_text, pk, position = unseal(listing, cursor, _SEAT_CURSOR_VALUES)
        if not shard_text.isdigit() or int(shard_text) >= room.shards:
            raise InvalidCursor()
        shard = int(shard_text)
        if not pk:
            return shard, None
        gsi1pk = seats_key(room.room_id, shard)
        return shard, {"pk": {"S": pk}, "sk": {"S": "SEAT"}, "gsi1pk": {"S": gsi1pk}, "gsi1sk": {"S": position}}

    def evict_all(self, room_id: str, deadline: float) -> bool:
        """Free every seat of a closed room, 99 per transaction so I1 holds after each step.

        Stops at `deadline` (time.monotonic()) and returns False: housekeeping finishes the job later,
        so closing a family of any size answers within the API's time limit. True once the room is empty.
        """
        shards = self.get_room(room_id, consistent=True).shards
        while time.monotonic() < deadline:
            batches = (
                (shard, list(SeatItem.by_room.query(seats_key(room_id, shard), limit=_EVICT_CHUNK)))
                for shard in range(shards)
            )
            shard, batch = next(((shard, batch) for shard, batch in batches if batch), (0, []))
            if batch:
                self._evict(room_id, shard, batch)
                continue
            if self.get_room(room_id, consistent=True).occupancy > 0:
                time.sleep(0.05)  # the index is eventually consistent: late seats are still coming
                continue
            self._unlist_evicting(room_id)
            return True
        return False

    def _unlist_evicting(self, room_id: str) -> None:
        update_if(
            RoomItem(pk=room_key(room_id), sk="ROOM"),
            [RoomItem.gsi2pk.remove(), RoomItem.gsi2sk.remove()],
            RoomItem.gsi2pk == EVICTING_ROOMS,
        )

    def _evict(self, room_id: str, shard: int, seats: list[SeatItem]) -> int:
        while seats:
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.update(
                        shard_item(room_id, shard),
                        actions=[RoomItem.occupancy.add(-len(seats))],
                        condition=RoomItem.occupancy >= len(seats),
                    )
                    for seat in seats:
                        tx.delete(SeatItem(pk=seat.pk, sk="SEAT"), condition=SeatItem.room_id == room_id)
                return len(seats)
            except TransactWriteError as error:
                codes = _codes(error)  # [seat deletes..., room update]
                gone = {i for i, code in enumerate(codes[: len(seats)]) if code == CONDITION_FAILED}
                if not gone and CONFLICT not in codes:
                    raise
                seats = [seat for i, seat in enumerate(seats) if i not in gone]
        return 0

    # --------------------------------------------------------------- overflow
    def seat_batch(self, room: Room, requests: Sequence[OverflowRequest], now: datetime) -> BatchOutcome:
        """Seat queued users of one family in `room` with one transaction (I1, I2 held by it).

        The seats go to the room's write shards with free seats (as few as can take them); if they
        need more shards than the transaction has room for, the first users are seated and the rest
        are left for the caller's next round.
        """
        plan = self._shards_for(room, len(requests))
        requests = list(requests[: sum(taken for _, taken, _ in plan)])
        count = len(requests)
        if not count:
            return BatchOutcome(room_changed=True)  # the room filled since the caller read it
        shard_of = [shard for shard, taken, _ in plan for _ in range(taken)]
        seats = [
            self._seat_item(room.room_id, r.family_id, r.user_id, now, ticketed=True, shard=shard)
            for r, shard in zip(requests, shard_of, strict=True)
        ]
        expires = now + _TERMINAL_TICKET_TTL

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                for shard, taken, capacity in plan:
                    tx.update(
                        shard_item(room.room_id, shard),
                        actions=[RoomItem.occupancy.add(taken)],
                        condition=IS_OPEN & (RoomItem.occupancy <= capacity - taken),
                    )
                for seat in seats:
                    tx.save(seat, condition=SeatItem.pk.does_not_exist(), return_values=ALL_OLD)
                for request in requests:
                    tx.update(
                        TicketItem(pk=ticket_key(request.ticket_id), sk="TICKET"),
                        actions=[
                            TicketItem.status.set(TicketStatus.SEATED.value),
                            TicketItem.room_id.set(room.room_id),
                            TicketItem.updated_at.set(now),
                            TicketItem.ttl.set(expires),
                            *_OFF_DUE_INDEX,
                        ],
                        condition=TicketItem.status == TicketStatus.QUEUED.value,
                    )

        outcome = BatchOutcome()
        try:
            _with_conflict_retries(f"room {room.room_id}", attempt)
        except TransactWriteError as error:
            codes = _codes(error)  # [seat puts..., shard updates..., ticket updates...]
            if CONDITION_FAILED not in codes:
                raise
            outcome.room_changed = CONDITION_FAILED in codes[count : count + len(plan)]
            for i, request in enumerate(requests):
                if codes[i] == CONDITION_FAILED:
                    raw = _raw(error, i)
                    existing = seat_from_item(SeatItem.from_raw_data(raw)) if raw else None
                    existing = existing or self.get_seat(request.family_id, request.user_id)
                    if existing is not None:
                        outcome.already_seated[request.user_id] = existing
                elif codes[count + len(plan) + i] == CONDITION_FAILED:
                    outcome.not_waiting.append(request.user_id)
            return outcome
        outcome.seated = [seat_from_item(seat) for seat in seats]
        return outcome

    def _shards_for(self, room: Room, wanted: int) -> list[tuple[int, int, int]]:
        """(shard, seats, shard capacity) for up to `wanted` seats in `room`: one shard that takes them
        all if any does, else the shards with the most free seats, within one transaction's 100 items
        (a shard update, and a seat and a ticket per user)."""
        if room.shards == 1:
            return [(0, min(wanted, room.free_seats), room.capacity)] if room.free_seats else []
        shards = [(capacity - occupancy, shard, capacity) for shard, (occupancy, capacity) in self._shards_of(room)]
        fits = [(shard, capacity) for free, shard, capacity in shards if free >= wanted]
        if fits:
            shard, capacity = random.choice(fits)
            return [(shard, wanted, capacity)]
        plan: list[tuple[int, int, int]] = []
        items_left = _TRANSACTION_ITEMS
        for free, shard, capacity in sorted(shards, reverse=True):
            take = min(free, wanted, (items_left - 1) // 2)
            if take <= 0:
                break
            plan.append((shard, take, capacity))
            wanted -= take
            items_left -= 1 + 2 * take
        return plan

    def _shards_of(self, room: Room) -> list[tuple[int, tuple[int, int]]]:
        return list(enumerate(self.shard_occupancies(room)))

    # ---------------------------------------------------------------- tickets
    def put_ticket(self, ticket: Ticket) -> Ticket | None:
        """Record a new ticket; if the user already holds one for the family, return it instead."""
        try:
            self._ticket_item(ticket).save(condition=TicketItem.pk.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            return self.get_ticket(ticket.ticket_id)
        return None

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return ticket_from_item(TicketItem.get(ticket_key(ticket_id), "TICKET", consistent_read=True))
        except DoesNotExist:
            return None

    def requeue_ticket(self, ticket: Ticket, now: datetime) -> bool:
        """Put a finished ticket back in the queue, unless another request already did."""
        return update_if(
            TicketItem(pk=ticket_key(ticket.ticket_id), sk="TICKET"),
            [
                TicketItem.status.set(TicketStatus.QUEUED.value),
                TicketItem.requested_room_id.set(ticket.requested_room_id),
                TicketItem.room_id.remove(),
                TicketItem.reason.remove(),
                TicketItem.ttl.remove(),
                TicketItem.republished.set(0),
                TicketItem.created_at.set(now),
                TicketItem.updated_at.set(now),
                TicketItem.gsi1pk.set(ticket_family_key(ticket.ticket_id, ticket.family_id, ticket.promote)),
                TicketItem.gsi1sk.set(arrival_key(now, ticket.ticket_id)),
                *self._on_due_index(ticket.ticket_id, now),
            ],
            (TicketItem.status == ticket.status.value) & (TicketItem.updated_at == ticket.updated_at),
        )

    def republish_ticket(self, ticket: Ticket, now: datetime) -> Ticket | None:
        """Start a new delivery budget for a queued ticket whose request is about to be published again.

        Only if nothing changed it since it was read (None otherwise): two sweeps, or a sweep and a
        rejoin, never both publish. Its place in the family's arrival order is kept.
        """
        changed = update_if(
            TicketItem(pk=ticket_key(ticket.ticket_id), sk="TICKET"),
            [
                TicketItem.updated_at.set(now),
                TicketItem.republished.add(1),
                *self._on_due_index(ticket.ticket_id, now),
            ],
            (TicketItem.status == TicketStatus.QUEUED.value) & (TicketItem.updated_at == ticket.updated_at),
        )
        return replace(ticket, updated_at=now, republished=ticket.republished + 1) if changed else None

    def fail_ticket(self, ticket_id: str, reason: str, now: datetime, *, queued_at: datetime | None = None) -> bool:
        """Mark a queued ticket failed with a reason the client can read; False if it was not queued.

        With `queued_at`, only the queueing published then: a message that outlived its queueing
        (the ticket was re-published or re-queued since) does not fail the newer one.
        """
        condition = TicketItem.status == TicketStatus.QUEUED.value
        if queued_at is not None:
            condition &= TicketItem.updated_at == queued_at
        return update_if(
            TicketItem(pk=ticket_key(ticket_id), sk="TICKET"),
            [
                TicketItem.status.set(TicketStatus.FAILED.value),
                TicketItem.reason.set(reason),
                TicketItem.updated_at.set(now),
                TicketItem.ttl.set(now + _TERMINAL_TICKET_TTL),
                *_OFF_DUE_INDEX,
            ],
            condition,
        )

    def mark_ticket_seated(self, ticket_id: str, seat: Seat, now: datetime) -> None:
        update_if(
            TicketItem(pk=ticket_key(ticket_id), sk="TICKET"),
            [
                TicketItem.status.set(TicketStatus.SEATED.value),
                TicketItem.room_id.set(seat.room_id),
                TicketItem.reason.remove(),
                TicketItem.updated_at.set(now),
                TicketItem.ttl.set(now + _TERMINAL_TICKET_TTL),
                *_OFF_DUE_INDEX,
            ],
            TicketItem.status == TicketStatus.QUEUED.value,
        )

    def end_ticket(self, seat: Seat, status: TicketStatus, reason: str | None, now: datetime) -> bool:
        """Tell the user's ticket in the family that `seat` is gone (left or expired); False if none is told.

        One conditional write on the ticket's own key, after the seat's release: the admission and
        release transactions stay as they are. Only a ticket from before the seat (queued or seated)
        changes; one queued again since the seat was taken belongs to a newer join and is left alone.
        """
        ticket_id = ticket_id_for(seat.family_id, seat.user_id)
        return update_if(
            TicketItem(pk=ticket_key(ticket_id), sk="TICKET"),
            [
                TicketItem.status.set(status.value),
                TicketItem.room_id.set(seat.room_id),
                TicketItem.reason.set(reason) if reason else TicketItem.reason.remove(),
                TicketItem.updated_at.set(now),
                TicketItem.ttl.set(now + _TERMINAL_TICKET_TTL),
                *_OFF_DUE_INDEX,
            ],
            TicketItem.status.is_in(TicketStatus.QUEUED.value, TicketStatus.SEATED.value)
            & (TicketItem.created_at <= seat.joined_at),
        )

    def _on_due_index(self, ticket_id: str, queued_at: datetime) -> list[Action]:
        key = self._due_key(ticket_id, queued_at)
        return [TicketItem.gsi2pk.set(key), TicketItem.gsi2sk.set(ticket_key(ticket_id))]

    def _due_key(self, ticket_id: str, queued_at: datetime) -> str:
        """The due index partition of a ticket queued at `queued_at`: the minute its delivery budget ends."""
        return due_tickets_key(due_bucket(queued_at + self._delivery_budget), due_ticket_shard(ticket_id))

    # ---------------------------------------------------------------- mapping
    def _room_item(self, room: Room, *, holds_quota: bool = False) -> RoomItem:
        """The room's counter item: no metadata on it (FamilyMetadataItem says why)."""
        return RoomItem(
            pk=room_key(room.room_id),
            sk="ROOM",
            room_id=room.room_id,
            family_id=room.family_id,
            index=room.index,
            host_id=room.host_id,
            title=room.title,
            capacity=room.capacity,
            occupancy=room.occupancy,
            status=room.status.value,
            created_at=room.created_at,
            parallel_count=room.parallel_count,
            event_id=room.event_id,
            holds_quota=True if holds_quota else None,
            shards=room.shards,
            shard_capacity=shard_capacities(room.capacity, room.shards)[0],
        )

    def _seat_item(
        self,
        room_id: str,
        family_id: str,
        user_id: str,
        now: datetime,
        *,
        ticketed: bool = False,
        shard: int = 0,
    ) -> SeatItem:
        seat = Seat(room_id, family_id, user_id, now, now + self._lease, ticketed, shard)
        return seat_item(seat, self._bucket_seconds)

    def _ticket_item(self, ticket: Ticket) -> TicketItem:
        item = TicketItem(
            pk=ticket_key(ticket.ticket_id),
            sk="TICKET",
            ticket_id=ticket.ticket_id,
            family_id=ticket.family_id,
            user_id=ticket.user_id,
            status=ticket.status.value,
            requested_room_id=ticket.requested_room_id,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
            room_id=ticket.room_id,
            reason=ticket.reason,
            promote=ticket.promote,
            republished=ticket.republished,
            gsi1pk=ticket_family_key(ticket.ticket_id, ticket.family_id, ticket.promote),
            gsi1sk=arrival_key(ticket.created_at, ticket.ticket_id),
        )
        if ticket.status is TicketStatus.QUEUED:
            item.gsi2pk = self._due_key(ticket.ticket_id, ticket.queued_since)
            item.gsi2sk = item.pk
        return item
