"""Runs a DynamoDB-stream-triggered function like Lambda's event source mapping does, on DynamoDB Local's
stream of the template's table.

Each shard is read in order (a child after its parent); records matching none of the mapping's filter
patterns are dropped before batching (as on AWS, where they are free); a batch goes out at BatchSize or
when the batching window closes. A failed batch is retried from its first failed record (all of it when
the function raised or answered no ReportBatchItemFailures), up to MaximumRetryAttempts; then a record of
the batch (its shard and sequence numbers, as Lambda writes it) goes to the on-failure queue and the
shard moves on. Bisecting a failed batch and the maximum record age are not emulated.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from .provision import client
from .sqs_source import Invoker
from .template import QueueSpec, StreamEventSpec

log = logging.getLogger(__name__)
_GET_RECORDS_MAX = 1000  # per GetRecords call
_RETRY_BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One `Records` entry of the event Lambda receives, from a GetRecords record (which boto3 parsed:
    its time a datetime, binary values bytes; Lambda's JSON has epoch seconds and base64)."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in stream:
            stream[image] = {name: _json_value(value) for name, value in stream[image].items()}
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": stream,
        "eventSourceARN": stream_arn,
    }


def _json_value(value: Mapping[str, Any]) -> dict[str, Any]:
    (kind, inner), *_ = value.items()
    match kind:
        case "B":
            return {"B": base64.b64encode(inner).decode()}
        case "BS":
            return {"BS": [base64.b64encode(item).decode() for item in inner]}
        case "M":
            return {"M": {name: _json_value(item) for name, item in inner.items()}}
        case "L":
            return {"L": [_json_value(item) for item in inner]}
        case _:
            return {kind: inner}


class RecordFilter:
    """The mapping's FilterCriteria: a record passes when it matches any pattern (or there is none).
    moto's EventBridge pattern matcher: Lambda's filters use EventBridge's pattern syntax."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        from moto.events.models import EventPattern  # imported only where a stream mapping runs

        self._patterns = [EventPattern.load(pattern) for pattern in patterns]

    def passes(self, record: Mapping[str, Any]) -> bool:
        event: Any = record  # moto types it as its own event's TypedDict; the matcher reads any mapping
        return not self._patterns or any(pattern.matches_event(event) for pattern in self._patterns)


def first_failed(response: Any, records: list[dict[str, Any]], reports_items: bool) -> int | None:
    """Index of the record to retry the batch from, by Lambda's rules, or None when it all succeeded:
    the lowest reported sequence number; a malformed or unknown report fails the whole batch."""
    if not reports_items or response is None:
        return None
    if not isinstance(response, dict):
        return 0
    failures = response.get("batchItemFailures")
    if not failures:
        return None
    sequence = [record["dynamodb"]["SequenceNumber"] for record in records]
    if not isinstance(failures, list):
        return 0
    failed = [failure.get("itemIdentifier") if isinstance(failure, dict) else None for failure in failures]
    if not all(item in sequence for item in failed):
        return 0
    return min(sequence.index(item) for item in failed)


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    last_sequence: str | None = None
    done: bool = False


class StreamEventSource:
    """One thread reading every shard of `table`'s stream (DynamoDB Local's) into `invoker`, in order."""

    def __init__(
        self,
        event: StreamEventSpec,
        table: str,
        invoker: Invoker,
        *,
        dynamodb_endpoint: str,
        moto_endpoint: str,
        region: str = "us-east-1",
        on_failure: QueueSpec | None = None,
        poll_interval_s: float = 0.25,
    ):
        self.event = event
        self.table = table
        self.stream_arn = ""  # DynamoDB Local's, known once started
        self.invoker = invoker
        self.region = region
        self.on_failure = on_failure
        self.poll_interval_s = poll_interval_s
        self._filter = RecordFilter(event.filter_patterns)
        self._endpoints = (dynamodb_endpoint, moto_endpoint)
        self._streams: Any = None
        self._sqs: Any = None
        self._shards: dict[str, _Shard] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()  # cuts an idle poller's sleep short: a sync() is waiting, or a stop
        self._round = threading.Condition()
        self._rounds = 0  # completed poll rounds
        self._waiters = 0  # sync() calls waiting for rounds
        self._last_round_failed = False
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.given_up = 0

    def start(self) -> None:
        dynamodb_endpoint, moto_endpoint = self._endpoints
        described = client("dynamodb", dynamodb_endpoint, self.region).describe_table(TableName=self.table)
        self.stream_arn = described["Table"]["LatestStreamArn"]
        self._streams = client("dynamodbstreams", dynamodb_endpoint, self.region)
        self._sqs = client("sqs", moto_endpoint, self.region) if self.on_failure is not None else None
        self._discover(initial=True)
        name = f"stream:{self.event.function_id}.{self.event.event_name}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def sync(self, timeout: float = 10.0) -> bool:
        """Wait for a poll round that started after this call to end; True once it did: every change made
        before the call has been read, and delivered if it passed the filters (writes made since may have
        been read too)."""
        with self._round:
            target = self._rounds + 2  # the round running now may have started before the call
            self._waiters += 1  # an idle poller looks again at once rather than at the end of its sleep
            self._wake.set()
            try:
                ended = self._round.wait_for(lambda: self._rounds >= target or self._stop.is_set(), timeout)
            finally:
                self._waiters -= 1
            return ended and not self._last_round_failed

    def _run(self) -> None:
        while not self._stop.is_set():
            idle, failed = True, False
            try:
                self._discover(initial=False)
                for shard in self._ready_shards():
                    idle = not self._read(shard) and idle
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("%s: reading the stream failed", self.event.function_id)
                failed = True
            with self._round:
                self._rounds += 1
                self._last_round_failed = failed
                self._round.notify_all()
                hurried = self._waiters > 0
            if failed:
                self._stop.wait(1.0)  # DynamoDB Local went away or broke: no tight loop of errors
            elif idle and not hurried:
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()

    def _discover(self, *, initial: bool) -> None:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for found in description["Shards"]:
            if found["ShardId"] in self._shards:
                continue
            shard = _Shard(found["ShardId"], found.get("ParentShardId"))
            # the shards there when the mapping starts begin at its StartingPosition; later ones at their start
            position = self.event.starting_position if initial else "TRIM_HORIZON"
            shard.iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard.shard_id, ShardIteratorType=position
            )["ShardIterator"]
            self._shards[shard.shard_id] = shard

    def _ready_shards(self) -> list[_Shard]:
        def parent_done(shard: _Shard) -> bool:
            parent = self._shards.get(shard.parent_id or "")
            return parent is None or parent.done

        return [shard for shard in self._shards.values() if not shard.done and parent_done(shard)]

    def _read(self, shard: _Shard) -> bool:
        """Read the shard up to where it ends now and deliver what passes the filters; True if it had a full
        page of records (a backlog: the next round comes at once).

        The read ends once a GetRecords answers less than a full page (caught up), so writes that never
        stop (heartbeats) never keep a round from ending; a batch still short of BatchSize waits out its
        window first, as the mapping's does."""
        batch: list[dict[str, Any]] = []
        window_ends = 0.0
        backlog = False
        while not self._stop.is_set() and not shard.done:
            records = self._get_records(shard)
            backlog = backlog or len(records) >= _GET_RECORDS_MAX
            for record in records:
                converted = lambda_record(record, self.event.stream_arn, self.region)
                if self._filter.passes(converted):
                    if not batch:
                        window_ends = time.monotonic() + self.event.batching_window_s
                    batch.append(converted)
                if len(batch) >= self.event.batch_size:
                    self._deliver(shard, batch)
                    batch = []
            if len(records) >= _GET_RECORDS_MAX:
                continue  # more is waiting
            if not batch or time.monotonic() >= window_ends:
                break
            self._stop.wait(min(0.05, max(window_ends - time.monotonic(), 0)))
        if batch:
            self._deliver(shard, batch)
        return backlog

    def _get_records(self, shard: _Shard) -> list[dict[str, Any]]:
        if shard.iterator is None:
            shard.done = True
            return []
        try:
            answer = self._streams.get_records(ShardIterator=shard.iterator, Limit=_GET_RECORDS_MAX)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExpiredIteratorException" or shard.last_sequence is None:
                raise
            shard.iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard.shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=shard.last_sequence,
            )["ShardIterator"]
            return []
        records: list[dict[str, Any]] = answer.get("Records", [])
        shard.iterator = answer.get("NextShardIterator")
        if records:
            shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        if shard.iterator is None:
            shard.done = True  # a closed shard, read to its end: its children go next
        return records

    def _deliver(self, shard: _Shard, batch: list[dict[str, Any]]) -> None:
        pending, retries, invocations = batch, 0, 0
        while pending and not self._stop.is_set():
            self.batches += 1
            invocations += 1
            try:
                response = self.invoker.invoke({"Records": pending})
                failed = first_failed(response, pending, self.event.report_batch_item_failures)
            except Exception as error:
                log.warning("%s: batch of %d failed: %s", self.event.function_id, len(pending), error)
                failed = 0
            if failed is None:
                return
            pending = pending[failed:]
            if 0 <= self.event.maximum_retry_attempts <= retries:
                self._give_up(shard, pending, invocations)
                return
            self._stop.wait(_RETRY_BACKOFF_S[min(retries, len(_RETRY_BACKOFF_S) - 1)])
            retries += 1

    def _give_up(self, shard: _Shard, batch: list[dict[str, Any]], invocations: int) -> None:
        self.given_up += 1
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        log.warning("%s: gave up on %d records of %s", self.event.function_id, len(batch), shard.shard_id)
        if self._sqs is None or self.on_failure is None:
            return
        arrival = [
            datetime.fromtimestamp(item.get("ApproximateCreationDateTime", 0), UTC).isoformat()
            for item in (first, last)
        ]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invocations,
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival[0],
                "approximateArrivalOfLastRecord": arrival[1],
                "batchSize": len(batch),
                "streamArn": self.event.stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self.on_failure.url, MessageBody=json.dumps(message))
