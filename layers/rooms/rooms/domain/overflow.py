"""Overflow planning: which parallel room to fill next and how many to prepare. Pure arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from rooms.domain.model import Room, RoomStatus

T = TypeVar("T")

# TransactWriteItems takes 100 items: a seat and a ticket per user, and an update per write shard the
# seats go to; 45 users leave room for the 6 shards a batch spreads over (model.plan_batch).
MAX_SEATS_PER_TRANSACTION = 45


def parallel_rooms_needed(audience: int, capacity: int, limit: int) -> int:
    """Parallel rooms an audience needs beside the main room: ceil(audience / capacity) - 1, in [0, limit]."""
    if capacity <= 0:
        raise ValueError("capacity must be positive")
    needed = math.ceil(max(0, audience) / capacity) - 1
    return max(0, min(needed, limit))


def room_to_fill(parallel: Sequence[Room], seats: int = 1) -> Room | None:
    """The lowest-index open parallel room with `seats` free (invariant I5; a group takes the lowest one
    with room for all of it), or None: create the next one."""
    for room in sorted(parallel, key=lambda r: r.index):
        if room.status is RoomStatus.OPEN and room.free_seats >= seats:
            return room
    return None


def take_for_room(room: Room, pending: Sequence[T]) -> list[T]:
    """The users seated in `room` by one transaction: as many as fit, in arrival order."""
    return list(pending[: min(room.free_seats, MAX_SEATS_PER_TRANSACTION)])
