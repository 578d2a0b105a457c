"""The every-minute sweep: free ghost seats, promote opted-in users to the main room, close empty parallel rooms.

No scans. Ghost seats are found by their heartbeat-expiry bucket (gsi2 `EXPIRY#<bucket>`), families with
parallel rooms through their main room's gsi2 marker, promotion candidates through their tickets' gsi1
partition (`PROMOTE#<family>`, in arrival order).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from rooms.domain.errors import EventNotFound, RoomNotFound
from rooms.domain.events import EventStatus
from rooms.domain.model import Room, RoomStatus, parallel_room_id
from rooms.ports import EventStore, HousekeepingStore, Promotion, RoomStore
from rooms.service import utcnow

logger = logging.getLogger(__name__)

# With no record of the last sweep, look this many buckets back; never sweep more than the cap in one run.
_FIRST_LOOKBACK_BUCKETS = 10
_MAX_BUCKETS_PER_RUN = 240
# Freeing closed rooms' seats gets this much of each run; the scheduler function has 60 s.
_EVICTION_BUDGET_SECONDS = 30.0


class SweepStore(RoomStore, EventStore, HousekeepingStore, Protocol):
    """DynamoShowStore is all three."""


@dataclass
class SweepReport:
    ghosts_freed: int = 0
    buckets_swept: int = 0
    families: int = 0
    promoted: int = 0
    rooms_closed: int = 0
    rooms_emptied: int = 0


def expiry_bucket(when: datetime, interval_seconds: int) -> int:
    """The gsi2 bucket a seat expiring at `when` is indexed under (see the store's seat items)."""
    return int(when.timestamp()) // interval_seconds


def buckets_to_sweep(last_done: int | None, now_bucket: int) -> range:
    """Buckets from the one after the last fully swept to the current one (partly past).

    At most _MAX_BUCKETS_PER_RUN: after an outage the sweep catches up over a few runs.
    """
    first = now_bucket - _FIRST_LOOKBACK_BUCKETS if last_done is None else last_done + 1
    return range(first, min(now_bucket, first + _MAX_BUCKETS_PER_RUN - 1) + 1)


class Housekeeping:
    def __init__(
        self,
        store: SweepStore,
        heartbeat_interval_seconds: int,
        empty_room_grace_seconds: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._interval = heartbeat_interval_seconds
        self._grace = timedelta(seconds=empty_room_grace_seconds)
        self._clock = clock

    def run(self) -> SweepReport:
        report = SweepReport()
        self.finish_evictions(report)
        self.free_ghosts(report)
        for family_id in self._store.families_with_overflow():
            try:
                self.tidy_family(family_id, report)
            except Exception:  # one family's trouble must not stop the sweep of the others
                logger.exception("housekeeping failed for a family", extra={"family_id": family_id})
        return report

    # -------------------------------------------------------- closed rooms
    def finish_evictions(self, report: SweepReport) -> None:
        """Free the seats still held in closed rooms (a close answers before a huge family is empty)."""
        deadline = time.monotonic() + _EVICTION_BUDGET_SECONDS
        for room_id in self._store.rooms_being_evicted():
            if not self._store.evict_all(room_id, deadline):
                return  # the next sweep goes on
            report.rooms_emptied += 1

    # ------------------------------------------------------------ ghost seats
    def free_ghosts(self, report: SweepReport) -> None:
        """Free every seat whose lease ended, bucket by bucket; a seat heartbeated meanwhile is left alone."""
        now = self._clock()
        now_bucket = expiry_bucket(now, self._interval)
        sweep = buckets_to_sweep(self._store.last_expiry_bucket(), now_bucket)
        for bucket in sweep:
            for seat in self._store.expiring_seats(bucket):
                if seat.expires_at <= now and self._store.release(seat, expired_by=now):
                    report.ghosts_freed += 1
            report.buckets_swept += 1
        # the current bucket still holds seats expiring later this interval: sweep it again next time
        done = min(sweep[-1], now_bucket - 1) if len(sweep) else now_bucket - 1
        self._store.set_last_expiry_bucket(done, now)

    # ---------------------------------------------------------------- families
    def tidy_family(self, family_id: str, report: SweepReport) -> None:
        try:
            main = self._store.get_room(family_id, consistent=True)
        except RoomNotFound:
            main = None
        if main is None or main.status is RoomStatus.CLOSED:
            self._store.retire_family(family_id)
            return
        report.families += 1
        if main.free_seats > 0:
            self.promote(main, report)
        self.close_empty_rooms(main, report)

    def promote(self, main: Room, report: SweepReport) -> None:
        """Move opted-in users up to the main room's free seats, first come first served."""
        now = self._clock()
        for ticket in self._store.promotion_candidates(main.family_id, main.room_id, main.free_seats):
            outcome = self._store.promote(ticket, main.room_id, now)
            if outcome is Promotion.PROMOTED:
                report.promoted += 1
            elif outcome is Promotion.MAIN_FULL:
                return
            else:
                self._store.drop_promotion(ticket)

    def close_empty_rooms(self, main: Room, report: SweepReport) -> None:
        """Close parallel rooms empty for the grace period; a live show keeps the rooms pre-provisioned for it."""
        ids = [parallel_room_id(main.family_id, index) for index in range(1, main.parallel_count + 1)]
        if not ids:
            return
        now = self._clock()
        keep = self._provisioned(main)
        empties = self._store.empty_since(ids)
        for room in self._store.get_rooms(ids):
            if room.status is RoomStatus.CLOSED or room.index <= keep:
                continue
            since = empties.get(room.room_id)
            if room.occupancy > 0:
                if since is not None:
                    self._store.clear_empty(room.room_id)
            elif since is None:
                self._store.mark_empty(room.room_id, now)
            elif now - since >= self._grace and self._store.close_if_empty(room.room_id, since):
                report.rooms_closed += 1

    def _provisioned(self, main: Room) -> int:
        if main.event_id is None:
            return 0
        try:
            event = self._store.get_event(main.event_id)
        except EventNotFound:
            return 0
        live = event.status is EventStatus.LIVE and event.room_id == main.room_id
        return event.provisioned_rooms if live else 0
