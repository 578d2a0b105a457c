"""Housekeeping on DynamoDB: what the every-minute run (the HousekeepingStore port) and the sweepers
(the ExpiryStore port) read and write.

The minute run's own records (how far the expiry buckets and the due tickets were handed out), the
families with parallel rooms (the main room's gsi2 marker), and the empty-room marks that let it close
an idle parallel room. The sweepers' view: one shard of an expiry bucket (gsi2 `EXPIRY#<bucket>#<shard>`)
and the release of the expired seats in it. That release is a transaction over seats and their write
shards' counts, kept here with the sweep whose rule it holds (only seats whose lease ended are freed,
each once) and written as rooms.adapters.room_items lays the counts out, so I1 holds after each step.
Nothing here scans.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from rooms.adapters.dynamo import (
    CONDITION_FAILED,
    TRANSACTION_ITEMS,
    cancellation_codes,
    new_connection,
    save_if,
    update_if,
    with_conflict_retries,
)
from rooms.adapters.mapping import seat_from_item
from rooms.adapters.models import (
    ACTIVE_FAMILIES,
    SHARD_SK,
    HousekeepingItem,
    RoomItem,
    RoomShardItem,
    SeatItem,
    expired_by_sort_key,
    expiry_key,
    room_key,
    seat_key,
    shard_key,
)
from rooms.adapters.overload import overload_is_busy
from rooms.adapters.room_items import free_seats, get_room
from rooms.domain.expiry import ExpiryProgress
from rooms.domain.model import RoomStatus, Seat

# the last expiry bucket handed out once it ended, and when the minute runs last handed buckets out
_HOUSEKEEPING_KEY = ("HOUSEKEEPING", "EXPIRY")
_DUE_TICKETS_KEY = ("HOUSEKEEPING", "TICKETS_DUE")  # the last due minute whose tickets were all settled
_RELEASE_CHUNK = TRANSACTION_ITEMS - 1  # one shard update + 99 seat deletes per transaction


def _key(seat: Seat) -> str:
    return seat_key(seat.family_id, seat.user_id)


def _expired_in(room_id: str, expired_by: datetime) -> Callable[[Seat], Condition]:
    """A seat is freed only if it is still in that room and its lease still ends by then."""
    return lambda _: (SeatItem.room_id == room_id) & (SeatItem.expires_at <= expired_by)


@overload_is_busy
class DynamoHousekeepingStore:
    def __init__(self, connection: Connection | None = None) -> None:
        self._connection = connection or new_connection()

    # ------------------------------------------------------ the runs' records
    def expiry_progress(self) -> ExpiryProgress | None:
        try:
            item = HousekeepingItem.get(*_HOUSEKEEPING_KEY, consistent_read=True)
        except DoesNotExist:
            return None
        return ExpiryProgress(int(item.last_bucket), item.updated_at)

    def record_expiry_progress(self, done: int, now: datetime) -> None:
        item = HousekeepingItem(*_HOUSEKEEPING_KEY, last_bucket=done, updated_at=now)
        # never move it back: two overlapping runs agree on the furthest point (the same: a fan-out time)
        save_if(item, HousekeepingItem.pk.does_not_exist() | (HousekeepingItem.last_bucket <= done))

    def last_due_bucket(self) -> int | None:
        try:
            return int(HousekeepingItem.get(*_DUE_TICKETS_KEY, consistent_read=True).last_bucket)
        except DoesNotExist:
            return None

    def set_last_due_bucket(self, bucket: int, now: datetime) -> None:
        item = HousekeepingItem(*_DUE_TICKETS_KEY, last_bucket=bucket, updated_at=now)
        # never move it back, as for the expiry buckets
        save_if(item, HousekeepingItem.pk.does_not_exist() | (HousekeepingItem.last_bucket < bucket))

    # ---------------------------------------------------------------- families
    def families_with_overflow(self) -> list[str]:
        prefix = room_key("")
        return [item.pk[len(prefix) :] for item in RoomItem.with_overflow.query(ACTIVE_FAMILIES)]

    def retire_family(self, family_id: str) -> None:
        RoomItem(pk=room_key(family_id), sk="ROOM").update(actions=[RoomItem.gsi2pk.remove(), RoomItem.gsi2sk.remove()])

    def empty_since(self, room_ids: Sequence[str]) -> dict[str, datetime | None]:
        keys = [(room_key(room_id), "ROOM") for room_id in room_ids]
        return {item.room_id: item.empty_since for item in RoomItem.batch_get(keys, consistent_read=True)}

    def mark_empty(self, room_id: str, now: datetime) -> None:
        update_if(
            RoomItem(pk=room_key(room_id), sk="ROOM"),
            [RoomItem.empty_since.set(now)],
            (RoomItem.occupancy == 0)
            & (RoomItem.status == RoomStatus.OPEN.value)
            & RoomItem.empty_since.does_not_exist(),
        )

    def clear_empty(self, room_id: str) -> None:
        room = RoomItem(pk=room_key(room_id), sk="ROOM")
        update_if(room, [RoomItem.empty_since.remove()], RoomItem.empty_since.exists())

    def close_if_empty(self, room_id: str, since: datetime) -> bool:
        """Close a parallel room only if it is still empty and has been since `since` (nobody came back).

        All its write shards close in the same transaction, each only while it counts nobody.
        """
        shards = get_room(self._connection, room_id, consistent=True).shards

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    RoomItem(pk=room_key(room_id), sk="ROOM"),
                    actions=[RoomItem.status.set(RoomStatus.CLOSED.value), RoomItem.empty_since.remove()],
                    condition=(RoomItem.occupancy == 0)
                    & (RoomItem.status == RoomStatus.OPEN.value)
                    & (RoomItem.empty_since == since),
                )
                for shard in range(1, shards):
                    tx.update(
                        RoomShardItem(pk=shard_key(room_id, shard), sk=SHARD_SK),
                        actions=[RoomShardItem.status.set(RoomStatus.CLOSED.value)],
                        condition=RoomShardItem.occupancy == 0,
                    )

        try:
            with_conflict_retries(f"room {room_id}", attempt)
        except TransactWriteError as error:
            if CONDITION_FAILED in cancellation_codes(error):
                return False
            raise
        return True

    # ------------------------------------------------------------------ sweep
    def seats_expiring(self, bucket: int, shard: int, by: datetime) -> Iterator[Seat]:
        """Seats indexed in one shard of an expiry bucket with a lease ending by `by`, read again
        consistently: the index is KEYS_ONLY and lags a heartbeat that has just moved a seat on."""
        entries = SeatItem.by_expiry.query(expiry_key(bucket, shard), SeatItem.gsi2sk <= expired_by_sort_key(by))
        keys = [(entry.pk, entry.sk) for entry in entries]
        for item in SeatItem.batch_get(keys, consistent_read=True):
            yield seat_from_item(item)

    def seat(self, family_id: str, user_id: str) -> Seat | None:
        try:
            return seat_from_item(SeatItem.get(seat_key(family_id, user_id), "SEAT", consistent_read=True))
        except DoesNotExist:
            return None

    def release_expired(self, seats: Sequence[Seat], now: datetime) -> list[Seat]:
        """Free the seats whose lease ended by `now`, a write shard at a time and up to 99 a transaction
        (one shard update, so I1 holds after each); the seats freed.

        Each seat's delete is conditional on its room and its lease, so one heartbeated, left or freed
        since it was read is left out: a seat released twice frees once, and its room counts it once.
        """
        counters: dict[tuple[str, int], list[Seat]] = defaultdict(list)
        for seat in seats:
            counters[(seat.room_id, seat.shard)].append(seat)
        freed: list[Seat] = []
        for (room_id, shard), held in counters.items():
            for start in range(0, len(held), _RELEASE_CHUNK):
                freed += free_seats(
                    self._connection,
                    room_id,
                    shard,
                    held[start : start + _RELEASE_CHUNK],
                    key_of=_key,
                    condition_of=_expired_in(room_id, now),
                )
        return freed
