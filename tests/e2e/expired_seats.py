"""Silent seats written straight into a stack's table, as admissions would have left them once their
lease ended: seat items with their index keys (rooms.adapters.mapping.seat_item) and their rooms'
counts raised to match (I1), with BatchWriteItem. For the sweep's end-to-end test and bench/sweep.py."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_BATCH_WRITE_MAX = 25  # items per BatchWriteItem call
_TRIES = 12  # BatchWriteItem calls for the items a call left unprocessed


@dataclass(frozen=True)
class PlantedRoom:
    room_id: str
    family_id: str
    seats: int
    shards: int = 1  # the room's write shards: its seats are spread over them, as admissions spread them


def plant_expired_seats(
    dynamodb: Any,
    table: str,
    rooms: Sequence[PlantedRoom],
    lease_ended_at: datetime,
    interval_seconds: int,
    *,
    spread: timedelta = timedelta(0),
    user_prefix: str = "ghost",
) -> int:
    """Seats of users `<prefix>-<room n>-<n>` whose leases ended at `lease_ended_at` or, with `spread`,
    evenly over the `spread` before it; how many were written."""
    from rooms.adapters.mapping import seat_item
    from rooms.adapters.models import SHARD_SK, shard_key
    from rooms.domain.model import Seat

    lease = timedelta(seconds=2 * interval_seconds)
    users = [(room, n, f"{user_prefix}-{number}-{n}") for number, room in enumerate(rooms) for n in range(room.seats)]
    items = []
    counts: dict[tuple[str, int], int] = {}
    for position, (room, n, user) in enumerate(users):
        ended = lease_ended_at - spread * (position / len(users))
        shard = n % room.shards
        seat = Seat(room.room_id, room.family_id, user, ended - lease, ended, shard=shard)
        items.append(seat_item(seat, interval_seconds).serialize())
        counts[(room.room_id, shard)] = counts.get((room.room_id, shard), 0) + 1
    for start in range(0, len(items), _BATCH_WRITE_MAX):
        _batch_write(dynamodb, table, items[start : start + _BATCH_WRITE_MAX])
    for (room_id, shard), count in counts.items():
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": shard_key(room_id, shard)}, "sk": {"S": "ROOM" if shard == 0 else SHARD_SK}},
            UpdateExpression="ADD occupancy :n",
            ExpressionAttributeValues={":n": {"N": str(count)}},
        )
    return len(items)


def _batch_write(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    request = {table: [{"PutRequest": {"Item": item}} for item in items]}
    for tries in range(_TRIES):
        request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        if not request:
            return
        time.sleep(random.uniform(0, 0.01 * 2**tries))  # the rest was throttled: back off, as the SDKs do
    raise RuntimeError(f"{len(request[table])} seats still unprocessed after {_TRIES} BatchWriteItem calls")
