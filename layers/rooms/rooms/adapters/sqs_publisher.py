"""Publishes overflow requests to the SQS overflow queue."""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import cached_property
from typing import Any

from botocore.config import Config

from rooms.adapters import aws_session
from rooms.adapters.overload import overload_is_busy
from rooms.config import settings
from rooms.ports import OverflowRequest


@overload_is_busy
class SqsOverflowPublisher:
    def __init__(self, queue_url: str | None = None, client: Any = None) -> None:
        self._queue_url = queue_url or settings().overflow_queue_url
        if client is not None:
            self._client = client

    @cached_property
    def _client(self) -> Any:
        # made on the first publish: only a join that finds its room full publishes, and most requests are not joins
        return aws_session.client(
            "sqs",
            region_name=settings().region,
            config=Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=2, read_timeout=5),
        )

    def publish(self, request: OverflowRequest) -> None:
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(asdict(request)))
