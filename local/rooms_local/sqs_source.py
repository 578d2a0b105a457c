"""Runs an SQS-triggered function like Lambda's event source mapping does.

Long-poll the queue, gather up to BatchSize messages or until the batching window closes, invoke,
then delete what succeeded. Failed messages are left alone: they come back after the visibility
timeout, and after maxReceiveCount receives the queue's redrive policy moves them to the DLQ.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from .provision import client
from .template import QueueSpec, SqsEventSpec

log = logging.getLogger(__name__)
_SQS_MAX_RECEIVE = 10  # per ReceiveMessage call


class Invoker(Protocol):
    def invoke(self, event: Mapping[str, Any]) -> Any: ...


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One `Records` entry of the SQS event Lambda receives, from a ReceiveMessage message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: str(value) for name, value in (message.get("Attributes") or {}).items()},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return converted


def failed_message_ids(response: Any, message_ids: list[str]) -> set[str]:
    """Which messages failed, read from a ReportBatchItemFailures response by Lambda's rules:
    no or empty `batchItemFailures` is a full success; a malformed one fails the whole batch."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return set(message_ids)
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed = {failure.get("itemIdentifier") if isinstance(failure, dict) else None for failure in failures}
    if not failed <= set(message_ids):  # empty, null or unknown identifiers
        return set(message_ids)
    return {str(item) for item in failed}


class SqsEventSource:
    """Up to `concurrency` batches of `queue` in flight to `invoker` at once."""

    def __init__(
        self,
        event: SqsEventSpec,
        queue: QueueSpec,
        invoker: Invoker,
        *,
        moto_endpoint: str,
        region: str = "us-east-1",
        concurrency: int | None = None,
        poll_wait_s: int = 1,
    ):
        self.event = event
        self.queue = queue
        self.invoker = invoker
        self.region = region
        self.concurrency = max(1, concurrency or event.maximum_concurrency or 1)
        self.poll_wait_s = poll_wait_s  # short long-polls, so stop() is quick
        self._endpoint = moto_endpoint
        self._stop = threading.Event()
        self._holding: list[bool] = []  # per poller: has received messages it has not finished
        self._threads: list[threading.Thread] = []
        self.batches = 0

    @property
    def in_flight(self) -> int:
        """Batches received and not yet finished."""
        return sum(self._holding)

    def start(self) -> None:
        for number in range(self.concurrency):
            # Clients are made here, in one thread: creating them is not thread-safe.
            sqs = client("sqs", self._endpoint, self.region)
            name = f"sqs:{self.event.function_id}.{self.event.event_name}#{number}"
            self._holding.append(False)
            thread = threading.Thread(target=self._run, args=(sqs, number), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 10.0) -> None:
        """Wait for batches being processed; idle pollers end their long poll (1 s) by themselves."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        self.join(timeout)

    def _run(self, sqs: Any, number: int) -> None:
        while not self._stop.is_set():
            try:
                messages = self._gather(sqs, number)
                if messages and not self._stop.is_set():  # when stopping, they come back later
                    self._process(sqs, messages)
            except Exception:
                if self._stop.is_set():
                    return  # the server went away under us while stopping
                log.exception("%s: polling %s failed", self.event.function_id, self.queue.name)
                time.sleep(1)
            finally:
                self._holding[number] = False

    def _gather(self, sqs: Any, number: int) -> list[dict[str, Any]]:
        """Receive until BatchSize messages or the batching window closes after the first one."""
        messages: list[dict[str, Any]] = []
        deadline = 0.0
        while not self._stop.is_set() and len(messages) < self.event.batch_size:
            remaining = deadline - time.monotonic()
            if messages and remaining <= 0:
                break
            wait = self.poll_wait_s if not messages else int(min(remaining, self.poll_wait_s))
            received = sqs.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=min(_SQS_MAX_RECEIVE, self.event.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if received and not messages:
                deadline = time.monotonic() + self.event.batching_window_s
                self._holding[number] = True
            messages.extend(received)
            if messages and self.event.batching_window_s <= 0:
                break
            if messages and not received and wait == 0:
                time.sleep(min(0.05, max(remaining, 0)))  # short polls within the last second of the window
        return messages

    def _process(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(message, self.queue.arn, self.region) for message in messages]}
        self.batches += 1
        try:
            response = self.invoker.invoke(event)
        except Exception as error:
            # The whole batch failed: delete nothing, every message comes back after the timeout.
            log.warning("%s: batch of %d failed: %s", self.event.function_id, len(messages), error)
            return
        failed: set[str] = set()
        if self.event.report_batch_item_failures:
            failed = failed_message_ids(response, [message["MessageId"] for message in messages])
        done = [message for message in messages if message["MessageId"] not in failed]
        for start in range(0, len(done), _SQS_MAX_RECEIVE):
            entries = [
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(done[start : start + _SQS_MAX_RECEIVE])
            ]
            sqs.delete_message_batch(QueueUrl=self.queue.url, Entries=entries)
