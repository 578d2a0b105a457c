"""Reads the overflow dead-letter queue without consuming it.

Housekeeping settles the tickets of dead-lettered requests, but the messages stay: the queue's depth
alarm keeps ringing and operators can still read them or redrive them (a redriven request is harmless:
every overflow write is conditional). A peeked message is hidden only while the sweep reads the queue,
so one run sees distinct messages, then made visible again at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.config import Config

from rooms.adapters import aws_session
from rooms.adapters.overload import overload_is_busy
from rooms.config import settings
from rooms.ports import DeadLetter

_RECEIVE_MAX = 10  # per ReceiveMessage call
_HIDE_WHILE_READING_SECONDS = 30


@overload_is_busy
class SqsDeadLetters:
    def __init__(self, queue_url: str | None = None, client: Any = None) -> None:
        config = settings()
        self._queue_url = queue_url or config.overflow_dlq_url
        self._client = client or aws_session.client(
            "sqs",
            region_name=config.region,
            config=Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=2, read_timeout=5),
        )

    def peek(self, limit: int) -> list[DeadLetter]:
        """Up to `limit` distinct messages, oldest deliveries not guaranteed (SQS standard has no order)."""
        letters: dict[str, DeadLetter] = {}
        while len(letters) < limit:
            messages = self._client.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(_RECEIVE_MAX, limit - len(letters)),
                VisibilityTimeout=_HIDE_WHILE_READING_SECONDS,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                letters[message["MessageId"]] = DeadLetter(
                    message["MessageId"], message["Body"], message["ReceiptHandle"]
                )
        return list(letters.values())

    def put_back(self, letters: Sequence[DeadLetter]) -> None:
        """Make peeked messages visible again now, for the alarm and for operators."""
        for start in range(0, len(letters), _RECEIVE_MAX):
            entries = [
                {"Id": str(number), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                for number, letter in enumerate(letters[start : start + _RECEIVE_MAX])
            ]
            self._client.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)
