"""A room's items: the room item (write shard 0), its other write shards (RoomShardItem) and its family's
metadata item. Writing a new room and reading rooms back with their counts summed over their shards, for
every store that creates, reads or closes rooms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from rooms.adapters.dynamo import (
    CONDITION_FAILED,
    CONFLICT,
    MAX_CONFLICT_RETRIES,
    backoff,
    batch_get_raw,
    cancellation_codes,
)
from rooms.adapters.mapping import room_from_item, room_item
from rooms.adapters.models import (
    FAMILY_METADATA_SK,
    SHARD_SK,
    FamilyMetadataItem,
    RoomItem,
    RoomShardItem,
    SeatItem,
    room_key,
    shard_key,
)
from rooms.domain.errors import Contention, RoomNotFound
from rooms.domain.model import Room, RoomStatus, family_of, shard_capacities

IS_OPEN = RoomItem.status == RoomStatus.OPEN.value
# Write shards share these attribute names with the room item (shard 0): one expression serves both.
HAS_FREE_SEAT = RoomItem.occupancy < RoomItem.shard_capacity

T = TypeVar("T")


def shard_item(room_id: str, shard: int) -> Model:
    """The item counting write shard `shard` of a room (key only): the room item itself for shard 0."""
    if shard == 0:
        return RoomItem(pk=room_key(room_id), sk="ROOM")
    return RoomShardItem(pk=shard_key(room_id, shard), sk=SHARD_SK)


def save_room(tx: TransactWrite, room: Room, *, holds_quota: bool = False) -> None:
    """In `tx`: put a new room's item and its other write shards, only if the room does not exist."""
    slices = shard_capacities(room.capacity, room.shards, room.stage_seats)
    tx.save(room_item(room, holds_quota=holds_quota), condition=RoomItem.pk.does_not_exist())
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


def get_room(connection: Connection, room_id: str, *, consistent: bool = False) -> Room:
    rooms = read_rooms(connection, [room_id], consistent)
    if not rooms:
        raise RoomNotFound(room_id)
    return rooms[0]


def read_rooms(connection: Connection, room_ids: Sequence[str], consistent: bool) -> list[Room]:
    """Rooms (those that exist, in order) with their family's metadata, read in one BatchGetItem."""
    families = dict.fromkeys(family_of(room_id)[0] for room_id in room_ids)
    keys = [(room_key(room_id), "ROOM") for room_id in dict.fromkeys(room_ids)]
    keys += [(room_key(family_id), FAMILY_METADATA_SK) for family_id in families]
    items: dict[str, RoomItem] = {}
    metadata: dict[str, dict[str, str]] = {}
    moderators: dict[str, tuple[str, ...]] = {}
    for raw in batch_get_raw(connection, keys, consistent):
        if raw["sk"]["S"] == FAMILY_METADATA_SK:
            details = FamilyMetadataItem.from_raw_data(raw)
            # a family whose host named moderators before any metadata has a META item without it
            metadata[details.pk] = details.metadata.as_dict() if details.metadata else {}
            moderators[details.pk] = tuple(sorted(details.moderators or ()))
        else:
            item = RoomItem.from_raw_data(raw)
            items[item.room_id] = item
    rooms = [
        replace(
            room_from_item(items[room_id], metadata.get(room_key(items[room_id].family_id))),
            moderators=moderators.get(room_key(items[room_id].family_id), ()),
        )
        for room_id in room_ids
        if room_id in items
    ]
    return _with_shard_counts(connection, rooms, consistent)


def _with_shard_counts(connection: Connection, rooms: list[Room], consistent: bool) -> list[Room]:
    """Rooms whose occupancy is the sum over their write shards (the room item counts shard 0 only)."""
    keys = [(shard_key(room.room_id, k), SHARD_SK) for room in rooms for k in range(1, room.shards)]
    if not keys:
        return rooms
    counted: dict[str, int] = {}
    for raw in batch_get_raw(connection, keys, consistent):
        shard = RoomShardItem.from_raw_data(raw)
        counted[shard.room_id] = counted.get(shard.room_id, 0) + int(shard.occupancy)
    return [replace(room, occupancy=room.occupancy + counted.get(room.room_id, 0)) for room in rooms]


def shard_occupancies(connection: Connection, room: Room) -> list[tuple[int, int]]:
    """(occupancy, capacity) of each write shard of a room, read consistently, in shard order."""
    found = occupancies_of(connection, room.room_id, range(room.shards), consistent=True)
    return [found.get(k, (0, 0)) for k in range(room.shards)]


def occupancies_of(
    connection: Connection, room_id: str, shards: Iterable[int], *, consistent: bool
) -> dict[int, tuple[int, int]]:
    """(occupancy, capacity) of these write shards of a room (those that exist), in one BatchGetItem."""
    keys = [(shard_key(room_id, k), "ROOM" if k == 0 else SHARD_SK) for k in shards]
    found: dict[int, tuple[int, int]] = {}
    for raw in batch_get_raw(connection, keys, consistent=consistent):
        if raw["sk"]["S"] == SHARD_SK:
            shard = RoomShardItem.from_raw_data(raw)
            found[int(shard.shard)] = (int(shard.occupancy), int(shard.shard_capacity))
        else:
            item = RoomItem.from_raw_data(raw)
            found[0] = (int(item.occupancy), int(item.shard_capacity or item.capacity))
    return found


def shards_full(connection: Connection, room_id: str, shards: Sequence[int]) -> bool:
    """Whether these write shards of a room are all open and full, read consistently in one BatchGetItem."""
    keys = [(shard_key(room_id, k), "ROOM" if k == 0 else SHARD_SK) for k in shards]
    found = batch_get_raw(connection, keys, consistent=True)
    if len(found) < len(keys):
        return False  # a shard is gone: so is its room
    for raw in found:
        capacity = raw.get("shard_capacity", raw.get("capacity", {})).get("N")
        if raw["status"]["S"] != RoomStatus.OPEN.value or int(raw["occupancy"]["N"]) < int(capacity or 0):
            return False
    return True


def free_seats(
    connection: Connection,
    room_id: str,
    shard: int,
    seats: Sequence[T],
    *,
    key_of: Callable[[T], str],
    condition_of: Callable[[T], Condition],
) -> list[T]:
    """Delete these seats of one write shard and take them off its count, in one transaction (at most
    99 seats: with the shard's update, the transaction's 100 items), so I1 holds after it; the seats
    freed. A seat whose condition fails (left, moved or heartbeated meanwhile) is left out and the
    rest tried again; Contention after repeated transaction conflicts."""
    left = list(seats)
    conflicts = 0
    while left:
        try:
            with TransactWrite(connection=connection) as tx:
                tx.update(
                    shard_item(room_id, shard),
                    actions=[RoomItem.occupancy.add(-len(left))],
                    condition=RoomItem.occupancy >= len(left),
                )
                for seat in left:
                    tx.delete(SeatItem(pk=key_of(seat), sk="SEAT"), condition=condition_of(seat))
            return left
        except TransactWriteError as error:
            codes = cancellation_codes(error)  # [seat deletes..., shard update]
            kept = {i for i, code in enumerate(codes[: len(left)]) if code == CONDITION_FAILED}
            if kept:
                left = [seat for i, seat in enumerate(left) if i not in kept]
                continue
            if CONFLICT not in codes:
                raise
            if conflicts == MAX_CONFLICT_RETRIES:
                raise Contention(f"room {room_id}") from error
            conflicts += 1
            backoff(conflicts)
    return []
