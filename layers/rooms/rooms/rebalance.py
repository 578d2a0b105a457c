"""Rebalancing: the minute run merges a family's thinned-out parallel rooms (rooms.domain.rebalance says
which and how many), for families whose host asked for it (`rebalance: true` on create).

Each move is one transaction of the seat, both rooms' shards and the ticket, as a promotion is (I1 and I2
hold at every instant), and pushes `seat.moved` to the user. Only seats that stayed `min_stay` are moved,
each at most once per `move_interval` (the seat's `moved_at`, checked in the transaction), never a group's
(it would split it; a room holding one may stay, or be drained of its other listeners), and at most
`max_moves` per family per run, so a run stays short; the next run goes on. The drained rooms close once
empty for the grace period, as any empty parallel room.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rooms.domain.live import seat_moved
from rooms.domain.model import Room, RoomStatus, Seat, parallel_room_id
from rooms.domain.rebalance import plan_rebalance
from rooms.ports import Notifier, Promotion, RoomStore, Silent

MAX_MOVES_PER_RUN = 200  # per family: each a transaction of 4 items, and a read of the target's shards
_PAGE = 100  # seats listed at a time from a room being drained


class Rebalancer:
    def __init__(
        self,
        rooms: RoomStore,
        clock: Callable[[], datetime],
        *,
        min_stay: timedelta,
        move_interval: timedelta,
        notifier: Notifier | None = None,
        max_moves: int = MAX_MOVES_PER_RUN,
    ) -> None:
        self._rooms = rooms
        self._clock = clock
        self._min_stay = min_stay
        self._interval = move_interval
        self._notifier = notifier or Silent()
        self._max_moves = max_moves

    def rebalance(self, main: Room) -> int:
        """Move listeners of `main`'s family so its parallel rooms are the fewest that hold them; how many moved."""
        if not main.rebalance or main.status is not RoomStatus.OPEN or main.parallel_count < 2:
            return 0
        ids = [parallel_room_id(main.family_id, index) for index in range(1, main.parallel_count + 1)]
        rooms = {room.room_id: room for room in self._rooms.get_rooms(ids)}
        moved = 0
        for transfer in plan_rebalance(list(rooms.values())):
            budget = min(transfer.seats, self._max_moves - moved)
            if budget <= 0:
                break
            moved += self._transfer(rooms[transfer.from_room], rooms[transfer.to_room], budget)
        return moved

    def _transfer(self, source: Room, target: Room, seats: int) -> int:
        moved, cursor = 0, None
        while moved < seats:
            now = self._clock()
            page = self._rooms.list_seats(source, _PAGE, cursor)
            for seat in page.items:
                if not self._may_move(seat, now):
                    continue
                outcome = self._rooms.relocate(seat, target, now, moved_before=now - self._interval)
                if outcome is Promotion.MAIN_FULL:
                    return moved  # taken meanwhile (the overflow worker seats there too): the next run sees it
                if outcome is Promotion.PROMOTED:
                    moved += 1
                    self._notifier.notify(seat.user_id, seat_moved(seat.family_id, source.room_id, target.room_id, now))
                    if moved >= seats:
                        return moved
            if page.next_cursor is None:
                return moved
            cursor = page.next_cursor
        return moved

    def _may_move(self, seat: Seat, now: datetime) -> bool:
        stayed = now - seat.joined_at >= self._min_stay
        rested = seat.moved_at is None or now - seat.moved_at >= self._interval
        return seat.ticketed and seat.group_id is None and stayed and rested  # a group is never split
