"""Publishes overflow requests to the SQS overflow queue."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import boto3
from botocore.config import Config

from rooms.adapters.overload import overload_is_busy
from rooms.config import settings
from rooms.ports import OverflowRequest


@overload_is_busy
class SqsOverflowPublisher:
    def __init__(self, queue_url: str | None = None, client: Any = None) -> None:
        config = settings()
        self._queue_url = queue_url or config.overflow_queue_url
        self._client = client or boto3.client(
            "sqs",
            region_name=config.region,
            config=Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=2, read_timeout=5),
        )

    def publish(self, request: OverflowRequest) -> None:
        self._client.send_message(QueueUrl=self._queue_url, MessageBody=json.dumps(asdict(request)))
