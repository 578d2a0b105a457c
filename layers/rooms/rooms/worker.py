"""The overflow worker's batch: parse SQS records, seat each family's users together, settle each record.

Powertools' BatchProcessor settles records one by one; seating them one by one would cost a transaction
per user, so the whole batch is seated first (a transaction per room and up to 49 users) and each
record then succeeds or fails with the outcome of its own request.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from rooms.domain.errors import Contention
from rooms.domain.model import OVERFLOW_FAILED
from rooms.overflow_service import OverflowService
from rooms.ports import OverflowRequest

logger = logging.getLogger(__name__)


class OverflowMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ticket_id: str = Field(min_length=1, max_length=64)
    family_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=128)
    queued_at: AwareDatetime | None = None  # the ticket's queueing (see OverflowRequest)
    group_id: str | None = Field(default=None, min_length=1, max_length=64)

    def request(self) -> OverflowRequest:
        queued_at = self.queued_at.isoformat() if self.queued_at else None
        return OverflowRequest(self.ticket_id, self.family_id, self.user_id, queued_at, self.group_id)


class PoisonMessage(Exception):
    """A record whose body is not an overflow request; it can never succeed."""


class OverflowBatch:
    def __init__(self, service: OverflowService, max_receive_count: int) -> None:
        self._service = service
        self._max_receive_count = max_receive_count
        self._failures: dict[str, Exception] = {}
        self._requests: dict[str, OverflowRequest] = {}
        self.seated = 0

    def run(self, event: dict[str, Any]) -> OverflowBatch:
        families: dict[str, list[tuple[str, OverflowRequest]]] = defaultdict(list)
        for raw in event.get("Records", []):
            record = SQSRecord(raw)
            try:
                request = OverflowMessage.model_validate_json(record.body).request()
            except ValidationError as error:
                self._failures[record.message_id] = PoisonMessage(str(error))
                continue
            self._requests[record.message_id] = request
            families[request.family_id].append((record.message_id, request))
        for family_id, entries in families.items():
            self._seat_family(family_id, entries)
        return self

    def _seat_family(self, family_id: str, entries: list[tuple[str, OverflowRequest]]) -> None:
        try:
            result = self._service.seat_family(family_id, [request for _, request in entries])
        except Exception as error:  # one family's failure must not fail the others' records
            logger.exception("overflow family failed", extra={"family_id": family_id})
            for message_id, _ in entries:
                self._failures[message_id] = error
            return
        self.seated += result.new_seats
        unfinished = {request.user_id for request in result.unfinished}
        groups = {request.group_id for request in result.unfinished if request.group_id}
        for message_id, request in entries:
            if request.user_id in unfinished or request.group_id in groups:
                self._failures[message_id] = Contention(f"room family {family_id}")

    def settle(self, record: SQSRecord) -> None:
        """Record handler for Powertools: raise to leave this record for SQS to redeliver (or dead-letter)."""
        failure = self._failures.get(record.message_id)
        if failure is None:
            return
        request = self._requests.get(record.message_id)
        if request and int(record.attributes.approximate_receive_count) >= self._max_receive_count:
            # last delivery: the message goes to the DLQ, so tell the client instead of leaving it queued.
            # A delivery that dies before this line is caught by housekeeping (rooms.reconciler).
            self._service.fail_ticket(request, OVERFLOW_FAILED)
        raise failure
