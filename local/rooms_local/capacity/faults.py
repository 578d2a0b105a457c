"""Fault injection for the local stack: the failures AWS has and the emulators do not.

DynamoDB faults are injected by the capacity meter, before a request is forwarded, so an injected fault
never did anything (as on AWS for these answers):
- `internal_error_rate`: HTTP 500 InternalServerError, on any data-plane request (SDKs retry it);
- `throttle_rate`: the throttling answer of that request, as if one of its keys were over its limit
  (see dynamodb_errors.py): ThrottlingException, ProvisionedThroughputExceededException, or a
  TransactionCanceledException with a ThrottlingError reason; billed nothing (recorded as throttled);
- `transaction_conflict_rate`: TransactWriteItems and TransactGetItems cancelled with a
  `TransactionConflict` reason on one of their items, as when a concurrent transaction holds it; billed
  as any cancelled transaction (the prepare phase).
SQS faults are injected in the moto server (`install_sqs_faults`, in its process):
- `sqs_send_failure_rate`: SendMessage answers `RequestThrottled` (HTTP 400, in SendMessage's documented
  errors, retried by botocore); each SendMessageBatch entry fails on its own, listed under `Failed` with
  `SenderFault: false` and code `InternalError`, as SQS reports a server-side failure of one entry.
Draws come from one random generator per process, seeded by `seed` (None: not reproducible).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

DATA_PLANE = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchGetItem",
        "BatchWriteItem",
        "Query",
        "Scan",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
TRANSACTIONS = frozenset({"TransactWriteItems", "TransactGetItems"})
INTERNAL_ERROR = "internal_error"
THROTTLE = "throttle"
CONFLICT = "transaction_conflict"
SQS_THROTTLED_MESSAGE = "Rate exceeded"
SQS_ENTRY_FAILURE = ("InternalError", "We encountered an internal error. Please try again.")


@dataclass(frozen=True)
class FaultConfig:
    transaction_conflict_rate: float = 0.0
    throttle_rate: float = 0.0
    internal_error_rate: float = 0.0
    sqs_send_failure_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("transaction_conflict_rate", "throttle_rate", "internal_error_rate", "sqs_send_failure_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")

    @property
    def dynamodb(self) -> bool:
        return bool(self.transaction_conflict_rate or self.throttle_rate or self.internal_error_rate)


class Draws:
    """A seeded generator shared by threads: `hit(rate)` is True with that probability."""

    def __init__(self, seed: int | None):
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def hit(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._random.random() < rate

    def choice(self, count: int) -> int:
        with self._lock:
            return self._random.randrange(count)


class DynamoDBFaults:
    def __init__(self, config: FaultConfig):
        self.config = config
        self.draws = Draws(config.seed)

    def pick(self, operation: str) -> str | None:
        """The fault to answer this request with, if any (one draw per kind, in a fixed order)."""
        if operation not in DATA_PLANE:
            return None
        if self.draws.hit(self.config.internal_error_rate):
            return INTERNAL_ERROR
        if self.draws.hit(self.config.throttle_rate):
            return THROTTLE
        if operation in TRANSACTIONS and self.draws.hit(self.config.transaction_conflict_rate):
            return CONFLICT
        return None


# ------------------------------------------------------------------------------------------ SQS (moto)
def install_sqs_faults(config: FaultConfig) -> None:
    """Make this process's moto SQS fail sends at `config.sqs_send_failure_rate` (the moto server's child)."""
    if not config.sqs_send_failure_rate:
        return
    from moto.core.exceptions import ServiceException
    from moto.sqs import models, responses

    draws = Draws(config.seed)
    rate = config.sqs_send_failure_rate
    send_message = responses.SQSResponse.send_message
    send_message_batch = models.SQSBackend.send_message_batch

    class RequestThrottled(ServiceException):
        code = "RequestThrottled"
        message = SQS_THROTTLED_MESSAGE

    def failing_send(self: Any) -> Any:
        if draws.hit(rate):
            raise RequestThrottled()
        return send_message(self)

    def failing_batch(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        failed = [index for index in entries if draws.hit(rate)]
        kept = {index: entry for index, entry in entries.items() if index not in failed}
        messages, errors = send_message_batch(self, queue_name, kept) if kept else ([], [])
        code, message = SQS_ENTRY_FAILURE
        errors = list(errors) + [
            {"Id": entries[index]["Id"], "SenderFault": False, "Code": code, "Message": message} for index in failed
        ]
        return messages, errors

    responses.SQSResponse.send_message = failing_send  # type: ignore[method-assign]
    models.SQSBackend.send_message_batch = failing_batch  # type: ignore[method-assign]
