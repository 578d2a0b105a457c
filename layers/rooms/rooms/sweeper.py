"""A sweeper frees the expired seats of one sweep job (a few shards of one expiry bucket), handed out by
the minute run (rooms.housekeeping).

SQS delivers a job at least once, and the minute run may hand a job out twice: sweeping is idempotent.
Only seats whose lease ended by the sweeper's now are released, each conditionally (its room, its
lease), so a seat heartbeated meanwhile stays and a seat freed already is not freed again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field

from rooms.domain.expiry import EXPIRY_SHARDS, SHARDS_PER_JOB, SweepJob
from rooms.domain.model import TicketStatus
from rooms.ports import ExpiryStore, TicketStore
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


class ExpirySweeper:
    def __init__(self, seats: ExpiryStore, tickets: TicketStore, clock: Callable[[], datetime] = utcnow) -> None:
        self._seats = seats
        self._tickets = tickets
        self._clock = clock

    def sweep(self, job: SweepJob) -> int:
        """Free the seats of the job's shards whose lease ended; how many this call freed."""
        return sum(self.sweep_shard(job.bucket, shard) for shard in job.shards)

    def sweep_shard(self, bucket: int, shard: int) -> int:
        now = self._clock()
        expired = [seat for seat in self._seats.seats_expiring(bucket, shard, now) if seat.expires_at <= now]
        freed = self._seats.release_expired(expired, now) if expired else []
        for seat in freed:
            if seat.ticketed:  # a seat taken in the main room has no ticket to tell, as a rule
                self._tickets.end_ticket(seat, TicketStatus.EXPIRED, None, now)
        return len(freed)


class SweepBatch:
    """One SQS batch of sweep jobs, settled record by record by Powertools' BatchProcessor."""

    def __init__(self, sweeper: ExpirySweeper) -> None:
        self._sweeper = sweeper
        self.freed = 0

    def settle(self, record: SQSRecord) -> None:
        """Record handler: a bad body or a failed sweep raises, so SQS delivers the message again and,
        after its last receive, moves it to the dead-letter queue (an alarm rings)."""
        self.freed += self._sweeper.sweep(SweepJobMessage.model_validate_json(record.body).job())
