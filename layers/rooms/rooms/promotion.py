"""Promotion: opted-in overflow users (`promote: true`) move up to the main room's free seats, first come
first served (their tickets' arrival order), each move one transaction (I1 and I2 hold throughout).

It runs the moment a main-room seat frees. A leave or a kick puts a promote message on the sweep queue
(the freeing write enqueuing the move rather than the table's stream, which the lifecycle relay reads:
only main-room frees produce a message, and no move waits on the stream's batching window); a sweeper
moves the first in line up within a moment. The leave stays one write plus one SQS send, and the
sweepers' concurrency bounds how many promotions race at once in a storm of leaves. A sweeper that frees
an expired lease or a closed socket's seat promotes into it itself. The minute run promotes too, and
catches whatever a lost message or a raced attempt left. A promotion never fails the write that freed
the seat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from rooms.domain.errors import RoomNotFound
from rooms.domain.live import seat_moved
from rooms.domain.model import Room, RoomStatus
from rooms.ports import Notifier, Promotion, RoomStore, Silent, TicketStore

logger = logging.getLogger(__name__)
# candidates read per look: more than the seats to fill, so those raced by concurrent promotions
# (promoted or left meanwhile: each found out by one read) do not leave the seat empty until the minute run
SPARE_CANDIDATES = 8
# reads of the candidates per fill: the index is eventually consistent, so a candidate just dropped may
# come back once; bounded, whatever the index says
MAX_LOOKS = 3


class Promoter:
    def __init__(
        self,
        rooms: RoomStore,
        tickets: TicketStore,
        clock: Callable[[], datetime],
        notifier: Notifier | None = None,
    ) -> None:
        self._rooms = rooms
        self._tickets = tickets
        self._clock = clock
        self._notifier = notifier or Silent()

    def fill(self, main: Room, limit: int | None = None) -> int:
        """Move opted-in users up to `main`'s free seats (at most `limit`), oldest ticket first; how many
        moved up."""
        seats = main.free_seats if limit is None else min(limit, main.free_seats)
        promoted = 0
        for _ in range(MAX_LOOKS if seats > 0 else 0):
            wanted = seats - promoted
            candidates = self._tickets.promotion_candidates(main.family_id, main.room_id, wanted + SPARE_CANDIDATES)
            if not candidates:
                return promoted
            for ticket in candidates:
                outcome = self._rooms.promote(ticket, main.room_id, self._clock())
                if outcome is Promotion.MAIN_FULL:
                    return promoted
                if outcome is Promotion.GONE:
                    self._tickets.drop_promotion(ticket)  # left, or moved up by a concurrent promotion
                    continue
                promoted += 1
                if ticket.room_id is not None:
                    moved = seat_moved(main.family_id, ticket.room_id, main.room_id, self._clock())
                    self._notifier.notify(ticket.user_id, moved)
                if promoted >= seats:
                    return promoted
        return promoted

    def seats_freed(self, family_id: str, seats: int = 1) -> int:
        """`seats` seats of the family's main room were just freed: fill those now (each freeing call fills
        its own, so a storm of leaves does not race every call for every free seat). Never raises (the
        minute run tries again); how many moved up."""
        try:
            main = self._rooms.get_room(family_id, consistent=True)
            # no parallel room, nobody waiting: the candidates' query (one per index shard) is skipped
            if main.status is not RoomStatus.OPEN or main.free_seats <= 0 or main.parallel_count == 0:
                return 0
            return self.fill(main, limit=seats)
        except RoomNotFound:
            return 0
        except Exception:
            logger.exception("promotion left to the minute run", extra={"family_id": family_id})
            return 0
