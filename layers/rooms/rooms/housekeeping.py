"""The every-minute run: hand the expired seats out to the sweepers, settle tickets nobody would seat,
promote opted-in users to the main room, merge thinned-out parallel rooms, close empty parallel rooms.

No scans. Ghost seats are indexed by the bucket and shard of their lease end (gsi2 `EXPIRY#<bucket>#<shard>`,
see rooms.domain.expiry): this run only puts each due bucket's sweep jobs on the sweep queue (8 shards each),
and the sweepers (rooms.sweeper) free them in parallel, so the run stays short however many expire.
Tickets queued past their delivery budget are found by their due minute (gsi2 `TICKETS#DUE#<minute>#<shard>`,
see rooms.reconciler) and in the overflow dead-letter queue, families with parallel rooms through their main
room's gsi2 marker, promotion candidates through their tickets' gsi1 partitions (`PROMOTE#<family>#<shard>`,
merged in arrival order, see rooms.adapters.ticket_index).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from rooms.domain.errors import EventNotFound, RoomNotFound
from rooms.domain.events import EventStatus
from rooms.domain.expiry import buckets_to_fan_out, buckets_to_sweep, expiry_bucket, sweep_jobs
from rooms.domain.live import seat_freed
from rooms.domain.model import ROOM_CLOSED, Room, RoomStatus, Seat, Ticket, TicketStatus, due_bucket, parallel_room_id
from rooms.ports import (
    DeadLetter,
    DeadLetters,
    EventStore,
    HousekeepingStore,
    Notifier,
    RoomStore,
    Silent,
    SweepQueue,
    TicketStore,
)
from rooms.promotion import Promoter
from rooms.rebalance import Rebalancer
from rooms.reconciler import Settled, TicketReconciler
from rooms.service import utcnow
from rooms.worker import OverflowMessage

logger = logging.getLogger(__name__)

# With no record of the last run, look this many buckets back.
_FIRST_LOOKBACK_BUCKETS = 10
# Expiry buckets handed out per run: each is 16 messages (20 buckets: 32 SendMessageBatch calls), so a
# run catching up after an outage stays within seconds.
_MAX_EXPIRY_BUCKETS_PER_RUN = 20
# Freeing closed rooms' seats gets this much of each run; the scheduler function has 60 s.
_EVICTION_BUDGET_SECONDS = 30.0
# Due minutes of queued tickets: each is one query per shard, so a run catching up takes a few at a time.
_MAX_DUE_BUCKETS_PER_RUN = 20
# Dead-lettered requests looked at per run (the due index finds the rest once their budget ends).
_DEAD_LETTERS_PER_RUN = 100


@dataclass
class SweepReport:
    expiry_buckets: int = 0  # expiry buckets handed out to the sweepers (the current one included)
    expiry_jobs_enqueued: int = 0
    families: int = 0
    promoted: int = 0
    rebalanced: int = 0  # users moved to merge thinned-out parallel rooms
    rooms_closed: int = 0
    rooms_emptied: int = 0
    dead_letters: int = 0  # dead-lettered requests looked at (they stay in the queue)
    tickets_seated: int = 0  # stale tickets of users who had a seat: they say so now
    tickets_republished: int = 0
    tickets_failed: int = 0


class Housekeeping:
    def __init__(
        self,
        *,
        store: HousekeepingStore,
        rooms: RoomStore,
        tickets: TicketStore,
        events: EventStore,
        heartbeat_interval_seconds: int,
        empty_room_grace_seconds: int,
        sweep_queue: SweepQueue,
        clock: Callable[[], datetime] = utcnow,
        reconciler: TicketReconciler | None = None,
        dead_letters: DeadLetters | None = None,
        notifier: Notifier | None = None,
        rebalancer: Rebalancer | None = None,
    ) -> None:
        """`store` holds the runs' own records and the family views; `sweep_queue` takes the expiry shards
        for the sweepers; `reconciler` settles stale tickets (production always passes it: rooms.scheduled),
        with `dead_letters`, the overflow dead-letter queue, looked at first; `notifier` tells users
        promoted or moved, or whose closed room's seat it frees, on their live connections; `rebalancer` merges
        the thinned-out parallel rooms of the families that asked for it (none: nobody is moved)."""
        self._store = store
        self._rooms = rooms
        self._tickets = tickets
        self._events = events
        self._interval = heartbeat_interval_seconds
        self._grace = timedelta(seconds=empty_room_grace_seconds)
        self._clock = clock
        self._sweep_queue = sweep_queue
        self._reconciler = reconciler
        self._dead_letters = dead_letters
        self._notifier = notifier or Silent()
        self._promoter = Promoter(rooms, tickets, clock, notifier=self._notifier)
        self._rebalancer = rebalancer

    def run(self) -> SweepReport:
        report = SweepReport()
        self.fan_out_expiry(report)  # first: it is short, and the ghost bound counts on it
        self.finish_evictions(report)
        if self._reconciler is not None:
            try:
                self.settle_stale_tickets(self._reconciler, report)
            except Exception:  # the next run starts again where this one stopped; the families still get swept
                logger.exception("settling stale tickets failed")
        for family_id in self._store.families_with_overflow():
            try:
                self.tidy_family(family_id, report)
            except Exception:  # one family's trouble must not stop the sweep of the others
                logger.exception("housekeeping failed for a family", extra={"family_id": family_id})
        return report

    # ------------------------------------------------------------ ghost seats
    def fan_out_expiry(self, report: SweepReport) -> None:
        """Hand every shard of each due expiry bucket to the sweepers, bucket by bucket, recording a
        bucket as done once its sweep jobs are enqueued and it has ended.

        The current bucket (partly past) is handed out too and stays due: the next run hands out its
        rest. A run that dies half-way is done again from the last bucket recorded; a job handed out
        twice frees nothing twice (the sweepers' releases are conditional).
        """
        now = self._clock()
        now_bucket = expiry_bucket(now, self._interval)
        progress = self._store.expiry_progress()
        for bucket in buckets_to_fan_out(
            progress, now, self._interval, _MAX_EXPIRY_BUCKETS_PER_RUN, _FIRST_LOOKBACK_BUCKETS
        ):
            jobs = sweep_jobs(bucket)
            self._sweep_queue.enqueue(jobs)
            report.expiry_buckets += 1
            report.expiry_jobs_enqueued += len(jobs)
            # the current bucket is not done, but the record says when it was last handed out
            done = bucket if bucket < now_bucket else bucket - 1
            self._store.record_expiry_progress(done, now)

    # -------------------------------------------------------- closed rooms
    def finish_evictions(self, report: SweepReport) -> None:
        """Free the seats still held in closed rooms (a close answers before a huge family is empty)."""
        deadline = time.monotonic() + _EVICTION_BUDGET_SECONDS
        for room_id in self._rooms.rooms_being_evicted():
            if not self._rooms.evict_all(room_id, deadline, self._tell_room_closed):
                return  # the next sweep goes on
            report.rooms_emptied += 1

    def _tell_room_closed(self, seats: list[Seat]) -> None:
        now = self._clock()
        self._notifier.notify_many([(seat.user_id, seat_freed(seat.room_id, ROOM_CLOSED, now)) for seat in seats])

    # ---------------------------------------------------------- stale tickets
    def settle_stale_tickets(self, reconciler: TicketReconciler, report: SweepReport) -> None:
        """Settle every ticket nobody would seat: dead-lettered requests first, then those past their budget.

        Each step is idempotent (conditional writes): a run that dies is simply done again by the next.
        """
        if self._dead_letters is not None:
            try:
                self.settle_dead_letters(reconciler, self._dead_letters, report)
            except Exception:  # the due index still finds these tickets: the sweep goes on
                logger.exception("reading the overflow dead-letter queue failed")
        now = self._clock()
        now_bucket = due_bucket(now)
        sweep = buckets_to_sweep(
            self._store.last_due_bucket(), now_bucket, _MAX_DUE_BUCKETS_PER_RUN, _FIRST_LOOKBACK_BUCKETS
        )
        for bucket in sweep:
            for ticket in self._tickets.due_tickets(bucket):
                # a past minute's tickets are due by definition; the current one's only once their time came
                if ticket.status is TicketStatus.QUEUED and (bucket < now_bucket or reconciler.is_stale(ticket)):
                    self._count(reconciler.settle(ticket, dead_lettered=False), report)
        done = min(sweep[-1], now_bucket - 1) if len(sweep) else now_bucket - 1
        self._store.set_last_due_bucket(done, now)

    def settle_dead_letters(self, reconciler: TicketReconciler, queue: DeadLetters, report: SweepReport) -> None:
        letters = queue.peek(_DEAD_LETTERS_PER_RUN)
        try:
            for letter in letters:
                report.dead_letters += 1
                ticket = self._dead_letter_ticket(letter)
                if ticket is not None:
                    self._count(reconciler.settle(ticket, dead_lettered=True), report)
        finally:
            queue.put_back(letters)

    def _dead_letter_ticket(self, letter: DeadLetter) -> Ticket | None:
        """The ticket still waiting on this dead request, if any (not one queued afresh since)."""
        try:
            request = OverflowMessage.model_validate_json(letter.body).request()
        except ValidationError:
            return None  # not an overflow request: left for operators
        ticket = self._tickets.get_ticket(request.ticket_id)
        if ticket is None or ticket.status is not TicketStatus.QUEUED:
            return None
        if request.queueing is not None and request.queueing != ticket.queued_since:
            return None  # published for an earlier queueing: the ticket waits on a newer message
        return ticket

    @staticmethod
    def _count(outcome: Settled, report: SweepReport) -> None:
        if outcome is Settled.SEATED:
            report.tickets_seated += 1
        elif outcome is Settled.REPUBLISHED:
            report.tickets_republished += 1
        elif outcome is Settled.FAILED:
            report.tickets_failed += 1

    # ---------------------------------------------------------------- families
    def tidy_family(self, family_id: str, report: SweepReport) -> None:
        try:
            main = self._rooms.get_room(family_id, consistent=True)
        except RoomNotFound:
            main = None
        if main is None or main.status is RoomStatus.CLOSED:
            self._store.retire_family(family_id)
            return
        report.families += 1
        if main.free_seats > 0:
            self.promote(main, report)
        if self._rebalancer is not None:
            report.rebalanced += self._rebalancer.rebalance(main)
        self.close_empty_rooms(main, report)

    def promote(self, main: Room, report: SweepReport) -> None:
        """Move opted-in users up to the main room's free seats, first come first served: what the
        promotion at each freed seat (rooms.promotion) missed or could not do."""
        report.promoted += self._promoter.fill(main)

    def close_empty_rooms(self, main: Room, report: SweepReport) -> None:
        """Close parallel rooms empty for the grace period; a live show keeps the rooms pre-provisioned for it."""
        ids = [parallel_room_id(main.family_id, index) for index in range(1, main.parallel_count + 1)]
        if not ids:
            return
        now = self._clock()
        keep = self._provisioned(main)
        empties = self._store.empty_since(ids)
        for room in self._rooms.get_rooms(ids):
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
            event = self._events.get_event(main.event_id)
        except EventNotFound:
            return 0
        live = event.status is EventStatus.LIVE and event.room_id == main.room_id
        return event.provisioned_rooms if live else 0
