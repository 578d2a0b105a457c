"""A sweeper frees the expired seats of one sweep job (a few shards of one expiry bucket), handed out by
the minute run (rooms.housekeeping), and the seat of a closed live connection once its grace is over
(a release message, delayed by the grace: docs/live.md).

SQS delivers a job at least once, and the minute run may hand a job out twice: sweeping is idempotent.
Only seats whose lease ended by the sweeper's now are released, each conditionally (its room, its
lease), so a seat heartbeated meanwhile stays and a seat freed already is not freed again. A freed
main-room seat is refilled at once from the family's opted-in overflow users (rooms.promotion), and so
are the seats a leave or a kick freed (a promote message from the API).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from rooms.domain.expiry import EXPIRY_SHARDS, SHARDS_PER_JOB, SweepJob
from rooms.domain.model import Seat, TicketStatus, family_of
from rooms.ports import ExpiryStore, TicketStore
from rooms.promotion import Promoter
from rooms.service import utcnow


class SweepJobMessage(BaseModel):
    """The sweep queue's message body: some shards of one expiry bucket."""

    model_config = ConfigDict(extra="ignore")
    bucket: int = Field(ge=0)
    shards: list[Annotated[int, Field(ge=0, lt=EXPIRY_SHARDS)]] = Field(min_length=1, max_length=SHARDS_PER_JOB)

    @classmethod
    def of(cls, job: SweepJob) -> SweepJobMessage:
        return cls(bucket=job.bucket, shards=list(job.shards))

    def job(self) -> SweepJob:
        return SweepJob(self.bucket, tuple(self.shards))


class ReleaseTarget(BaseModel):
    model_config = ConfigDict(extra="ignore")
    room_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=128)


class ReleaseMessage(BaseModel):
    """A closed socket's seat, to free if its lease has ended by the time the message is delivered."""

    model_config = ConfigDict(extra="ignore")
    release: ReleaseTarget

    @classmethod
    def of(cls, room_id: str, user_id: str) -> ReleaseMessage:
        return cls(release=ReleaseTarget(room_id=room_id, user_id=user_id))


class PromoteTarget(BaseModel):
    model_config = ConfigDict(extra="ignore")
    family_id: str = Field(min_length=1, max_length=64)
    seats: int = Field(default=1, ge=1, le=100)


class PromoteMessage(BaseModel):
    """Main-room seats just freed by a leave or a kick: move opted-in overflow users up into them."""

    model_config = ConfigDict(extra="ignore")
    promote: PromoteTarget

    @classmethod
    def of(cls, family_id: str, seats: int) -> PromoteMessage:
        return cls(promote=PromoteTarget(family_id=family_id, seats=seats))


_SWEEP_MESSAGE: TypeAdapter[SweepJobMessage | ReleaseMessage | PromoteMessage] = TypeAdapter(
    SweepJobMessage | ReleaseMessage | PromoteMessage
)


class ExpirySweeper:
    def __init__(
        self,
        seats: ExpiryStore,
        tickets: TicketStore,
        clock: Callable[[], datetime] = utcnow,
        promoter: Promoter | None = None,
    ) -> None:
        self._seats = seats
        self._tickets = tickets
        self._clock = clock
        self._promoter = promoter

    def sweep(self, job: SweepJob) -> int:
        """Free the seats of the job's shards whose lease ended; how many this call freed."""
        return sum(self.sweep_shard(job.bucket, shard) for shard in job.shards)

    def sweep_shard(self, bucket: int, shard: int) -> int:
        now = self._clock()
        expired = [seat for seat in self._seats.seats_expiring(bucket, shard, now) if seat.expires_at <= now]
        return len(self._tell(self._seats.release_expired(expired, now) if expired else [], now))

    def release(self, room_id: str, user_id: str) -> int:
        """Free a closed socket's seat if its lease has ended (1), else nothing (0): a reconnect that held
        it again, a heartbeat, a leave, or a seat already freed keep it as it is. The same conditional
        release as the sweep's, so a lease extended between the read and the write still keeps it."""
        now = self._clock()
        family_id, _ = family_of(room_id)
        seat = self._seats.seat(family_id, user_id)
        if seat is None or seat.expires_at > now:
            return 0
        return len(self._tell(self._seats.release_expired([seat], now), now))

    def promote(self, family_id: str, seats: int = 1) -> int:
        """Seats of the family's main room were freed (a leave, a kick): fill them now; how many moved up."""
        return self._promoter.seats_freed(family_id, seats) if self._promoter is not None else 0

    def _tell(self, freed: list[Seat], now: datetime) -> list[Seat]:
        for seat in freed:
            if seat.ticketed:  # a seat taken in the main room has no ticket to tell, as a rule
                self._tickets.end_ticket(seat, TicketStatus.EXPIRED, None, now)
        if self._promoter is not None:
            in_main = Counter(seat.family_id for seat in freed if seat.room_id == seat.family_id)
            for family_id, seats in sorted(in_main.items()):
                self._promoter.seats_freed(family_id, seats)
        return freed


class SweepBatch:
    """One SQS batch of sweep jobs, settled record by record by Powertools' BatchProcessor."""

    def __init__(self, sweeper: ExpirySweeper) -> None:
        self._sweeper = sweeper
        self.freed = 0
        self.promoted = 0

    def settle(self, record: SQSRecord) -> None:
        """Record handler: a bad body or a failed sweep raises, so SQS delivers the message again and,
        after its last receive, moves it to the dead-letter queue (an alarm rings)."""
        message = _SWEEP_MESSAGE.validate_json(record.body)
        if isinstance(message, ReleaseMessage):
            self.freed += self._sweeper.release(message.release.room_id, message.release.user_id)
        elif isinstance(message, PromoteMessage):
            self.promoted += self._sweeper.promote(message.promote.family_id, message.promote.seats)
        else:
            self.freed += self._sweeper.sweep(message.job())
