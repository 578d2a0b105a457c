"""Puts sweep jobs on the SQS sweep queue, one message each and ten to a SendMessageBatch call, the
release of a closed socket's seat, delayed by the grace, and the promotion into a freed main-room seat
(the SweepQueue, ReleaseQueue and PromotionQueue ports)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from botocore.config import Config

from rooms.adapters import aws_session
from rooms.adapters.overload import overload_is_busy
from rooms.config import settings
from rooms.domain.expiry import SweepJob
from rooms.sweeper import PromoteMessage, ReleaseMessage, SweepJobMessage

_BATCH_MAX = 10  # entries per SendMessageBatch call
_TRIES = 3  # of the entries SQS answers as failed in a batch (the call itself is retried by botocore)


class SweepQueueError(RuntimeError):
    """SQS kept refusing some sweep jobs: the run fails, and its retry hands the bucket out again."""


@overload_is_busy
class SqsSweepQueue:
    def __init__(self, queue_url: str | None = None, client: Any = None) -> None:
        self._queue_url = queue_url or settings().sweep_queue_url
        if client is not None:
            self._client = client

    @cached_property
    def _client(self) -> Any:
        # made on the first send: the API builds this queue with its room service, and only a leave of a
        # main-room seat sends to it
        return aws_session.client(
            "sqs",
            region_name=settings().region,
            config=Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=2, read_timeout=5),
        )

    def enqueue(self, jobs: Sequence[SweepJob]) -> None:
        for start in range(0, len(jobs), _BATCH_MAX):
            entries = {
                f"{job.bucket}-{job.shards[0]}": SweepJobMessage.of(job).model_dump_json()
                for job in jobs[start : start + _BATCH_MAX]
            }
            self._send(entries)

    def release_later(self, room_id: str, user_id: str, delay_seconds: int) -> None:
        body = ReleaseMessage.of(room_id, user_id).model_dump_json()
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=body, DelaySeconds=delay_seconds)

    def promote_later(self, family_id: str, seats: int = 1) -> None:
        body = PromoteMessage.of(family_id, seats).model_dump_json()
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=body)

    def _send(self, entries: dict[str, str]) -> None:
        for _ in range(_TRIES):
            answer = self._client.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": entry_id, "MessageBody": body} for entry_id, body in entries.items()],
            )
            entries = {failure["Id"]: entries[failure["Id"]] for failure in answer.get("Failed", [])}
            if not entries:
                return
        raise SweepQueueError(f"SQS refused {len(entries)} sweep jobs: {sorted(entries)}")
