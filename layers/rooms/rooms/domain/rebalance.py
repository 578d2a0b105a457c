"""Rebalancing a family's parallel rooms: as listeners leave, parallel rooms thin out; once the family's
parallel listeners fit in fewer rooms, the emptiest rooms are drained into the fullest, so the family
sits in the fewest rooms and the emptied ones close (after the empty-room grace, as any empty room).

Pure: which rooms keep their listeners and how many seats move where. Who moves, and when, is the
use case's (rooms.rebalance): only seats that stayed the minimum time, at most one move per user per interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rooms.domain.model import Room, RoomStatus


@dataclass(frozen=True)
class Transfer:
    from_room: str
    to_room: str
    seats: int


def plan_rebalance(parallel: Sequence[Room]) -> list[Transfer]:
    """The moves that put the listeners of these parallel rooms into the fewest of them; none when they
    already are. The fullest rooms are kept (fewest moves; ties go to the older room), the rest drained,
    emptiest first, into the kept rooms' free seats, oldest room first."""
    rooms = [room for room in parallel if room.status is RoomStatus.OPEN and room.index > 0]
    listeners = sum(room.occupancy for room in rooms)
    keep: list[Room] = []
    for room in sorted(rooms, key=lambda r: (-r.occupancy, r.index)):
        if sum(kept.capacity for kept in keep) >= listeners:
            break
        keep.append(room)
    drained = sorted(
        (room for room in rooms if room not in keep and room.occupancy > 0), key=lambda r: (r.occupancy, r.index)
    )
    if not drained:
        return []
    free = {room.room_id: room.free_seats for room in sorted(keep, key=lambda r: r.index)}
    transfers = []
    for source in drained:
        left = source.occupancy
        for target, seats in free.items():
            taken = min(left, seats)
            if taken:
                transfers.append(Transfer(source.room_id, target, taken))
                free[target] -= taken
                left -= taken
            if not left:
                break
    return transfers
