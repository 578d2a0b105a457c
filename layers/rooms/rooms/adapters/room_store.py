"""Rooms and seats on DynamoDB (the RoomStore port): every invariant is held by a conditional write or
a transaction.

A room's occupancy is counted on its write shards (RoomShardItem; shard 0 is the room item), each
owning a slice of the capacity. A seat and its shard's count change together in one transaction, so
I1 (occupancy == seats <= capacity, occupancy the sum over shards) holds at every instant; the seat key
is (family, user), so I2 (one seat per family) is a key fact.

Two transactions also write tickets, because a seat and its ticket must change together: seat_batch
seats queued users and marks their tickets seated, promote moves a seat to the main room and its ticket
with it. They stay here, beside the invariants they hold (I1, I2), and write the ticket items as
rooms.adapters.mapping lays them out; the ticket store (DynamoTicketStore) writes a ticket alone. The
sweepers' release of expired seats is the housekeeping store's (DynamoHousekeepingStore).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from rooms.adapters import room_items
from rooms.adapters.cursors import seal, unseal
from rooms.adapters.dynamo import (
    CONDITION_FAILED,
    MAX_CONFLICT_RETRIES,
    TRANSACTION_ITEMS,
    backoff,
    cancellation_codes,
    cancelled_item,
    count_in_quota,
    give_back_quota,
    new_connection,
    update_if,
    with_conflict_retries,
)
from rooms.adapters.full_shards import FullShards
from rooms.adapters.mapping import (
    OFF_DUE_INDEX,
    TERMINAL_TICKET_TTL,
    expiry_index,
    room_from_item,
    seat_from_item,
    seat_item,
)
from rooms.adapters.models import (
    ACTIVE_FAMILIES,
    EVICTING_ROOMS,
    FAMILY_METADATA_SK,
    SHARD_SK,
    FamilyMetadataItem,
    QuotaItem,
    RoomItem,
    RoomShardItem,
    SeatItem,
    TicketItem,
    room_key,
    seat_key,
    seats_key,
    shard_key,
    ticket_family_key,
    ticket_key,
)
from rooms.adapters.overload import overload_is_busy
from rooms.adapters.room_items import (
    HAS_FREE_SEAT,
    IS_OPEN,
    free_seats,
    occupancies_of,
    save_room,
    shard_item,
    shard_occupancies,
)
from rooms.config import settings
from rooms.domain.errors import (
    Contention,
    GroupMemberElsewhere,
    InvalidCursor,
    QuotaExceeded,
    RoomClosed,
    RoomFull,
    RoomNotFound,
)
from rooms.domain.groups import Group
from rooms.domain.model import (
    Page,
    Room,
    RoomStatus,
    Seat,
    Ticket,
    TicketStatus,
    family_of,
    parallel_room,
    plan_batch,
    ticket_id_for,
)
from rooms.ports import BatchOutcome, OverflowRequest, Promotion

_EVICT_CHUNK = TRANSACTION_ITEMS - 1  # one shard update + 99 seat deletes per transaction
# a participants cursor holds (write shard, seat pk, gsi1sk): the shard's listing and where it stopped
_SEAT_CURSOR_VALUES = 3


def _pk(seat: SeatItem) -> str:
    return str(seat.pk)


@overload_is_busy
class DynamoRoomStore:
    def __init__(self, connection: Connection | None = None) -> None:
        config = settings()
        self._connection = connection or new_connection()
        self._lease = timedelta(seconds=config.seat_lease_seconds)
        self._bucket_seconds = config.heartbeat_interval_seconds
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
                save_room(tx, room, holds_quota=True)
                if room.metadata:
                    tx.save(FamilyMetadataItem(pk=room_key(room.family_id), metadata=dict(room.metadata)))
                count_in_quota(tx, room.host_id, QuotaItem.open_rooms, limit)

        try:
            with_conflict_retries(f"host {room.host_id}", attempt)
        except TransactWriteError as error:
            # [room put, shard puts..., metadata put?, quota update]
            if cancellation_codes(error)[-1:] == [CONDITION_FAILED]:
                raise QuotaExceeded("open rooms", limit) from None
            raise

    def get_room(self, room_id: str, *, consistent: bool = False) -> Room:
        return room_items.get_room(self._connection, room_id, consistent=consistent)

    def get_rooms(self, room_ids: Sequence[str]) -> list[Room]:
        return room_items.read_rooms(self._connection, room_ids, consistent=True)

    def full_capacity(self, room_id: str) -> int | None:
        """The other write shards first, the room item (shard 0: its family's hot key) only once they are
        all full. Shards fill together, so reading the whole room at each shard's fill would put a read of
        the room item per shard into the room's last seconds of admissions."""
        try:
            shards, capacity = self._shape(room_id)
        except RoomNotFound:
            return None
        others = list(range(1, shards))
        if others and not room_items.shards_full(self._connection, room_id, others):
            return None
        return capacity if room_items.shards_full(self._connection, room_id, [0]) else None

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
        room = parallel_room(main, index, now)

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                save_room(tx, room)
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
            with_conflict_retries(f"room family {main.family_id}", attempt)
        except TransactWriteError as error:
            if CONDITION_FAILED not in cancellation_codes(error):
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
        for shard in self._two_choices(room_id, shards, self._full.open_shards(room_id, shards)):
            seat = self._admit_through(shard, room_id, family_id, user_id, now)
            if seat is not None:
                self._full.seated(room_id)
                return seat
            tried = True
            self._full.mark_full(room_id, shard, shards)
        if tried:  # every shard not known full was tried and was full: so is the room, for a while
            self._full.mark_room_full(room_id, shards)
        else:  # no transaction ran, so none proved the user holds no seat: look
            found = self.get_seat(family_id, user_id)
            if found is not None:
                return found
        raise RoomFull(room_id, capacity)

    def _two_choices(self, room_id: str, shards: int, order: list[int]) -> list[int]:
        """The shards to try, in order: of the first two candidates, the one with more free seats first
        (read eventually consistent, 1 RCU), then the others in their random order. Picking the emptier of
        two random shards keeps the shards filling evenly, so they fill up together and no shard is left
        to take every join of a nearly full room (random choice alone strands a few open shards that take
        them all). A candidate read full is taken for full and skipped: no transaction bills it."""
        if len(order) <= 2:
            return order
        pair = order[:2]
        found = occupancies_of(self._connection, room_id, pair, consistent=False)
        free = {shard: found[shard][1] - found[shard][0] for shard in pair if shard in found}
        for shard in pair:
            if free.get(shard, 0) <= 0:
                self._full.mark_full(room_id, shard, shards)
        ranked = sorted((shard for shard in pair if free.get(shard, 0) > 0), key=lambda shard: -free[shard])
        return ranked + order[2:]

    def _shape(self, room_id: str) -> tuple[int, int]:
        """(write shards joins take, capacity) of a room, read once per instance: neither changes in a room's
        life. The stage, a main room's last shard, is not among them: no join takes a speaker's seat."""
        shape = self._shapes.get(room_id)
        if shape is None:
            try:
                item = RoomItem.get(
                    room_key(room_id),
                    "ROOM",
                    consistent_read=True,
                    attributes_to_get=["shards", "capacity", "stage_seats"],
                )
            except DoesNotExist:
                raise RoomNotFound(room_id) from None
            shape = (int(item.shards or 1) - (1 if item.stage_seats else 0), int(item.capacity))
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
            with_conflict_retries(f"room {room_id}", attempt)
        except TransactWriteError as error:
            codes = cancellation_codes(error)  # [seat put, shard update]
            if len(codes) < 2:
                raise
            if codes[0] == CONDITION_FAILED:
                existing = cancelled_item(error, 0)
                if existing is not None:
                    return seat_from_item(SeatItem.from_raw_data(existing))
                found = self.get_seat(family_id, user_id)
                if found is not None:
                    return found
            if codes[1] == CONDITION_FAILED:
                counter = cancelled_item(error, 1)
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
            with_conflict_retries(f"room {seat.room_id}", attempt)
        except TransactWriteError as error:
            if cancellation_codes(error)[:1] == [CONDITION_FAILED]:  # [seat delete, shard update]
                return False
            raise
        self._full.forget(seat.room_id)
        return True

    def touch(self, family_id: str, user_id: str, now: datetime) -> Seat | None:
        """Extend a user's seat lease from `now`, wherever in the family it sits; None if they hold none.

        One conditional UpdateItem and no read first: the update answers with the seat. A seat held by
        a live connection keeps the longer lease `hold` gave it: the update does not apply, and the seat
        is read back instead (clients that hold a seat do not heartbeat, so this read is rare)."""
        key = seat_key(family_id, user_id)
        item = SeatItem(pk=key, sk="SEAT")
        unheld = SeatItem.pk.exists() & SeatItem.holder.does_not_exist()
        if update_if(item, self._lease_to(key, now + self._lease), unheld):
            return seat_from_item(item)
        return self.get_seat(family_id, user_id)

    def hold(self, room_id: str, user_id: str, connection_id: str, until: datetime) -> Seat | None:
        """Tie the user's seat in `room_id` to a live connection, its lease moved to `until` as a heartbeat
        moves it; None when they hold no seat in that room (SeatHolds)."""
        family_id, _ = family_of(room_id)
        key = seat_key(family_id, user_id)
        item = SeatItem(pk=key, sk="SEAT")
        actions = [*self._lease_to(key, until), SeatItem.holder.set(connection_id)]
        if not update_if(item, actions, SeatItem.room_id == room_id):
            return None
        return seat_from_item(item)

    def let_go(self, room_id: str, user_id: str, connection_id: str, until: datetime) -> bool:
        """The holding connection closed: its seat's lease cut to `until`, the holder removed, only while
        that connection is still the holder (not after a leave, a kick, or a newer connection's hold)."""
        family_id, _ = family_of(room_id)
        key = seat_key(family_id, user_id)
        actions = [*self._lease_to(key, until), SeatItem.holder.remove()]
        return update_if(SeatItem(pk=key, sk="SEAT"), actions, SeatItem.holder == connection_id)

    def _lease_to(self, key: str, expires: datetime) -> list[Action]:
        """A seat's lease end and its place in the expiry index (gsi2), moved together."""
        expiry_pk, expiry_sk = expiry_index(key, expires, self._bucket_seconds)
        return [SeatItem.expires_at.set(expires), SeatItem.gsi2pk.set(expiry_pk), SeatItem.gsi2sk.set(expiry_sk)]

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

    def evict_all(self, room_id: str, deadline: float, on_freed: Callable[[list[Seat]], None] | None = None) -> bool:
        """Free every seat of a closed room, 99 per transaction so I1 holds after each step; `on_freed`
        is told each step's seats once they are freed (their users are told the room closed).

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
                with contextlib.suppress(Contention):  # leaves racing the eviction: query again
                    freed = free_seats(
                        self._connection,
                        room_id,
                        shard,
                        batch,
                        key_of=_pk,
                        condition_of=lambda _: SeatItem.room_id == room_id,
                    )
                    if on_freed is not None and freed:
                        on_freed([seat_from_item(item) for item in freed])
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

    # --------------------------------------------------------------- overflow
    def seat_batch(
        self, room: Room, requests: Sequence[OverflowRequest], now: datetime, *, whole: bool = False
    ) -> BatchOutcome:
        """Seat queued users of one family in `room` with one transaction (I1, I2 held by it), their
        tickets marked seated in the same transaction (only those still queued).

        The seats are spread over the room's emptiest write shards, about 8 a shard, so no shard's count
        or listing key takes a whole batch; if the shards with free seats cannot take them all within the
        transaction's 100 items, the first users are seated and the rest are left for the caller's next round.
        """
        plan = self._shards_for(room, len(requests))
        planned = sum(taken for _, taken, _ in plan)
        if not planned or (whole and planned < len(requests)):
            return BatchOutcome(room_changed=True)  # the room filled since the caller read it
        requests = list(requests[:planned])
        count = len(requests)
        shard_of = [shard for shard, taken, _ in plan for _ in range(taken)]
        seats = [
            self._seat_item(room.room_id, r.family_id, r.user_id, now, ticketed=True, shard=shard, group_id=r.group_id)
            for r, shard in zip(requests, shard_of, strict=True)
        ]
        expires = now + TERMINAL_TICKET_TTL

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
                            *OFF_DUE_INDEX,
                        ],
                        condition=TicketItem.status == TicketStatus.QUEUED.value,
                    )

        outcome = BatchOutcome()
        try:
            with_conflict_retries(f"room {room.room_id}", attempt)
        except TransactWriteError as error:
            codes = cancellation_codes(error)  # [seat puts..., shard updates..., ticket updates...]
            if CONDITION_FAILED not in codes:
                raise
            outcome.room_changed = CONDITION_FAILED in codes[count : count + len(plan)]
            for i, request in enumerate(requests):
                if codes[i] == CONDITION_FAILED:
                    raw = cancelled_item(error, i)
                    existing = seat_from_item(SeatItem.from_raw_data(raw)) if raw else None
                    existing = existing or self.get_seat(request.family_id, request.user_id)
                    if existing is not None:
                        outcome.already_seated[request.user_id] = existing
                elif codes[count + len(plan) + i] == CONDITION_FAILED:
                    outcome.not_waiting.append(request.user_id)
            return outcome
        outcome.seated = [seat_from_item(seat) for seat in seats]
        return outcome

    def admit_group(self, room_id: str, group: Group, now: datetime) -> list[Seat]:
        """One transaction: each write shard used takes its share of the members only while open with the
        seats free, and each member's seat is put only if they hold none in the family (I1, I2)."""
        for tries in range(MAX_CONFLICT_RETRIES):
            room = self.get_room(room_id, consistent=True)
            if room.status is RoomStatus.CLOSED:
                raise RoomClosed(room_id)
            plan = self._shards_for(room, len(group.members))
            if sum(taken for _, taken, _ in plan) < len(group.members):
                raise RoomFull(room_id, room.capacity)
            shard_of = [shard for shard, taken, _ in plan for _ in range(taken)]
            seats = [
                self._seat_item(room_id, group.family_id, user, now, shard=shard, group_id=group.group_id)
                for user, shard in zip(group.members, shard_of, strict=True)
            ]

            def attempt(plan: list[tuple[int, int, int]] = plan, seats: list[SeatItem] = seats) -> None:
                with TransactWrite(connection=self._connection) as tx:
                    for shard, taken, capacity in plan:
                        tx.update(
                            shard_item(room_id, shard),
                            actions=[RoomItem.occupancy.add(taken)],
                            condition=IS_OPEN & (RoomItem.occupancy <= capacity - taken),
                        )
                    for seat in seats:
                        tx.save(seat, condition=SeatItem.pk.does_not_exist(), return_values=ALL_OLD)

            try:
                with_conflict_retries(f"room {room_id}", attempt)
            except TransactWriteError as error:
                codes = cancellation_codes(error)  # [seat puts..., shard updates...]
                if CONDITION_FAILED not in codes:
                    raise
                held = [
                    seat_from_item(SeatItem.from_raw_data(raw))
                    for i in range(len(seats))
                    if codes[i] == CONDITION_FAILED and (raw := cancelled_item(error, i))
                ]
                if held:
                    return _seated_together(group, held, self.get_seat)
                backoff(tries)  # a shard filled or closed since it was read: plan again on a fresh read
                continue
            self._full.seated(room_id)
            return [seat_from_item(seat) for seat in seats]
        raise Contention(f"room {room_id}")

    def _shards_for(self, room: Room, wanted: int) -> list[tuple[int, int, int]]:
        """(shard, seats, shard capacity) for up to `wanted` seats in `room`, spread over its emptiest
        shards within one transaction's 100 items (domain.model.plan_batch)."""
        if room.shards == 1:
            return [(0, min(wanted, room.free_seats), room.capacity)] if room.free_seats else []
        occupancies = shard_occupancies(self._connection, room)[: room.listener_shards]
        free = [capacity - occupancy for occupancy, capacity in occupancies]
        return [(shard, taken, occupancies[shard][1]) for shard, taken in plan_batch(free, wanted, TRANSACTION_ITEMS)]

    def promote(self, ticket: Ticket, main_room_id: str, now: datetime) -> Promotion:
        """Move a user from their parallel room to the main room in one transaction (I1 and I2 hold throughout),
        their ticket moved with them.

        The seat item keeps its key (family, user); its room and write shard change, its parallel room's
        shard goes down by one and a main room shard with a free seat up by one, only while it is open
        with that seat free.
        """
        from_room = ticket.room_id
        seat = self.get_seat(ticket.family_id, ticket.user_id)
        if from_room is None or seat is None or seat.room_id != from_room or seat.speaker:
            return Promotion.GONE  # left, moved, or brought up to speak
        main = self.get_room(main_room_id, consistent=True)
        to_shard = self._free_shard(main)
        if to_shard is None:
            return Promotion.MAIN_FULL
        ticket_actions = [TicketItem.gsi1pk.set(ticket_family_key(ticket.ticket_id, ticket.family_id, promote=False))]
        codes = self._move(seat, ticket.ticket_id, main_room_id, to_shard, now, ticket_actions=ticket_actions)
        return _move_outcome(codes)

    def relocate(self, seat: Seat, to_room: Room, now: datetime, moved_before: datetime) -> Promotion:
        """Move a ticketed seat to another room of its family (rebalancing) in one transaction, as a promotion
        does, stamping the seat and its ticket `moved_at`; only if the seat has not moved since `moved_before`.
        PROMOTED when it moved, MAIN_FULL when `to_room` had no free seat (or closed), GONE when the seat left
        or moved meanwhile."""
        to_shard = self._free_shard(to_room)
        if to_shard is None:
            return Promotion.MAIN_FULL
        recently = SeatItem.moved_at.does_not_exist() | (SeatItem.moved_at < moved_before)
        codes = self._move(
            seat,
            ticket_id_for(seat.family_id, seat.user_id),
            to_room.room_id,
            to_shard,
            now,
            seat_condition=recently,
            seat_actions=[SeatItem.moved_at.set(now)],
            ticket_actions=[TicketItem.moved_at.set(now)],
        )
        return _move_outcome(codes)

    def bring_up(self, seat: Seat, main: Room, now: datetime) -> Promotion:
        """Move a seat of the family to the main room's stage in one transaction (I1 and I2 hold throughout),
        its ticket, if it came through one, with it. PROMOTED when it moved, MAIN_FULL when the stage had
        no free seat (or the room has none, or closed), GONE when the seat left or moved meanwhile."""
        if main.stage_shard is None:
            return Promotion.MAIN_FULL
        ticket_id = ticket_id_for(seat.family_id, seat.user_id) if seat.ticketed else None
        # a speaker waits for no promotion: the ticket leaves the promotion index as a promoted one does
        unlisted = [TicketItem.gsi1pk.set(ticket_family_key(ticket_id or "", seat.family_id, promote=False))]
        codes = self._move(
            seat,
            ticket_id,
            main.room_id,
            main.stage_shard,
            now,
            seat_actions=[SeatItem.speaker.set(True)],
            ticket_actions=unlisted,
        )
        return _move_outcome(codes)

    def set_moderator(self, family_id: str, user_id: str, named: bool) -> None:
        """Name (or un-name) a moderator of the family, on its metadata item: every room read carries them."""
        moderators = FamilyMetadataItem.moderators
        FamilyMetadataItem(pk=room_key(family_id), sk=FAMILY_METADATA_SK).update(
            actions=[moderators.add({user_id}) if named else moderators.delete({user_id})]
        )

    def _free_shard(self, room: Room) -> int | None:
        """One of the room's write shards with a free seat (read consistently), at random; None if none or closed."""
        if room.status is not RoomStatus.OPEN:
            return None
        occupancies = shard_occupancies(self._connection, room)[: room.listener_shards]
        free = [k for k, (occupancy, capacity) in enumerate(occupancies) if occupancy < capacity]
        return random.choice(free) if free else None

    def _move(
        self,
        seat: Seat,
        ticket_id: str | None,
        to_room_id: str,
        to_shard: int,
        now: datetime,
        *,
        seat_condition: Condition | None = None,
        seat_actions: Sequence[Action] = (),
        ticket_actions: Sequence[Action] = (),
    ) -> list[str | None] | None:
        """The seat, its old room's shard (- 1), the new room's shard (+ 1, only while open with a free seat)
        and its ticket (seated in the old room; none for a seat taken without one) in one transaction: None
        when it committed, else the cancellation codes of [seat, old shard, new shard, ticket]."""
        from_room = seat.room_id
        condition = (SeatItem.room_id == from_room) & (SeatItem.gsi1pk == seats_key(from_room, seat.shard))
        if seat_condition is not None:
            condition = condition & seat_condition

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    SeatItem(pk=seat_key(seat.family_id, seat.user_id), sk="SEAT"),
                    actions=[
                        SeatItem.room_id.set(to_room_id),
                        SeatItem.shard.set(to_shard),
                        SeatItem.gsi1pk.set(seats_key(to_room_id, to_shard)),
                        *seat_actions,
                    ],
                    condition=condition,
                )
                tx.update(
                    shard_item(from_room, seat.shard),
                    actions=[RoomItem.occupancy.add(-1)],
                    condition=RoomItem.occupancy > 0,
                )
                tx.update(
                    shard_item(to_room_id, to_shard),
                    actions=[RoomItem.occupancy.add(1)],
                    condition=IS_OPEN & HAS_FREE_SEAT,
                )
                if ticket_id is not None:
                    tx.update(
                        TicketItem(pk=ticket_key(ticket_id), sk="TICKET"),
                        actions=[TicketItem.room_id.set(to_room_id), TicketItem.updated_at.set(now), *ticket_actions],
                        condition=(TicketItem.status == TicketStatus.SEATED.value) & (TicketItem.room_id == from_room),
                    )

        try:
            with_conflict_retries(f"room family {seat.family_id}", attempt)
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if len(codes) < 3 or CONDITION_FAILED not in codes:
                raise
            return [*codes, None][:4]
        return None

    # ---------------------------------------------------------------- mapping
    def _seat_item(
        self,
        room_id: str,
        family_id: str,
        user_id: str,
        now: datetime,
        *,
        ticketed: bool = False,
        shard: int = 0,
        group_id: str | None = None,
    ) -> SeatItem:
        seat = Seat(room_id, family_id, user_id, now, now + self._lease, ticketed, shard, group_id=group_id)
        return seat_item(seat, self._bucket_seconds)


def _seated_together(group: Group, held: list[Seat], get_seat: Callable[[str, str], Seat | None]) -> list[Seat]:
    """The group's seats when an earlier take-in of it seated its members (a retry answers with those
    still seated); GroupMemberElsewhere naming the members who hold a seat apart from it."""
    apart = [seat.user_id for seat in held if seat.group_id != group.group_id]
    if apart:
        raise GroupMemberElsewhere(group.group_id, apart)
    seats = [get_seat(group.family_id, user) for user in group.members]
    return [seat for seat in seats if seat is not None and seat.group_id == group.group_id]


def _move_outcome(codes: list[str | None] | None) -> Promotion:
    """A move's outcome from its transaction's cancellation codes [seat, old shard, new shard, ticket]."""
    if codes is None:
        return Promotion.PROMOTED
    if codes[2] == CONDITION_FAILED:
        return Promotion.MAIN_FULL
    if codes[0] == CONDITION_FAILED or codes[3] == CONDITION_FAILED:
        return Promotion.GONE
    raise RuntimeError(f"a move failed on its old room's count: {codes}")  # I1 would not hold: never expected
