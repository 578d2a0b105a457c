"""The SQS event source: batching, partial batch failures and redrive, against a moto server."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from rooms_local.moto_server import MotoServer
from rooms_local.naming import LocalNaming
from rooms_local.provision import client, provision_queues
from rooms_local.sqs_source import SqsEventSource, failed_message_ids
from rooms_local.template import Template, load_template

_stacks = itertools.count()


# ---------------------------------------------------------------------- the response rules (no server)
@pytest.mark.parametrize(
    ("response", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}),  # unknown id: all fail
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b"}),
        ({"batchItemFailures": [{"wrongKey": "a"}]}, {"a", "b"}),
        ({"batchItemFailures": "a"}, {"a", "b"}),
        ("not an object", {"a", "b"}),
    ],
)
def test_batch_item_failures_follow_lambdas_rules(response: Any, failed: set[str]) -> None:
    assert failed_message_ids(response, ["a", "b"]) == failed


# ---------------------------------------------------------------------- against moto


class Recorder:
    def __init__(self, decide: Callable[[dict[str, Any], int], Any]):
        self.decide = decide
        self.batches: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    def invoke(self, event: Mapping[str, Any]) -> Any:
        with self.lock:
            self.batches.append(list(event["Records"]))
            call = len(self.batches)
        return self.decide(dict(event), call)

    def deliveries(self, body: str) -> int:
        return sum(record["body"] == body for batch in self.batches for record in batch)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


def _queues(moto: MotoServer, fake_template: Path, visibility: int = 1, **parameters: Any) -> Template:
    """Fresh queues (a new stack name). A 1 s visibility timeout needs no batching window
    (BatchWindow=0): a message must not come back while its batch is still being gathered."""
    naming = LocalNaming(stack=f"sqs{next(_stacks)}", sqs_endpoint=moto.endpoint)
    template = load_template(fake_template, parameters=parameters, naming=naming)
    provision_queues(template, moto.endpoint, visibility_timeout=visibility)
    return template


def _run(
    moto: MotoServer, template: Template, recorder: Recorder, bodies: list[str], until: Callable[[], bool]
) -> dict[str, int]:
    sqs = client("sqs", moto.endpoint)
    queue = template.queues["WorkQueue"]
    for body in bodies:
        sqs.send_message(
            QueueUrl=queue.url,
            MessageBody=body,
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "test"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x01"},
            },
        )
    (event,) = template.sqs_events
    source = SqsEventSource(event, queue, recorder, moto_endpoint=moto.endpoint, concurrency=1)
    source.start()
    deadline = time.monotonic() + 60  # a safety net: the loop ends when until() holds
    try:
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        source.stop()
    counts = {}
    for logical_id in ("WorkQueue", "WorkDeadLetterQueue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=template.queues[logical_id].url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        counts[logical_id] = sum(int(value) for value in attributes.values())
    return counts


@pytest.mark.stack
def test_failed_items_are_retried_then_dead_lettered_and_the_rest_deleted(
    moto: MotoServer, fake_template: Path
) -> None:
    # GIVEN a queue whose DLQ takes messages after 2 receives, a 1 s visibility timeout
    template = _queues(moto, fake_template, MaxReceives=2, BatchWindow=0)
    dlq_url = template.queues["WorkDeadLetterQueue"].url
    sqs = client("sqs", moto.endpoint)

    def report_poison(event: dict[str, Any], call: int) -> Any:
        failures = [r["messageId"] for r in event["Records"] if r["body"].startswith("poison")]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}

    recorder = Recorder(report_poison)

    def dead_lettered() -> bool:
        count = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        return count["Attributes"]["ApproximateNumberOfMessages"] == "2"

    # WHEN 4 good and 2 poison messages are consumed
    bodies = ["good-1", "good-2", "poison-1", "good-3", "poison-2", "good-4"]
    counts = _run(moto, template, recorder, bodies, dead_lettered)

    # THEN good messages were delivered once and deleted; poison ones twice, then moved to the DLQ
    assert counts == {"WorkQueue": 0, "WorkDeadLetterQueue": 2}
    assert [recorder.deliveries(f"good-{n}") for n in range(1, 5)] == [1, 1, 1, 1]
    assert [recorder.deliveries(f"poison-{n}") for n in (1, 2)] == [2, 2]
    poison_receives = [
        r["attributes"]["ApproximateReceiveCount"] for b in recorder.batches for r in b if "poison" in r["body"]
    ]
    assert sorted(poison_receives) == ["1", "1", "2", "2"]
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["Body"] for message in dead) == ["poison-1", "poison-2"]


@pytest.mark.stack
def test_a_raising_handler_gets_the_whole_batch_again(moto: MotoServer, fake_template: Path) -> None:
    template = _queues(moto, fake_template, MaxReceives=3, BatchWindow=0)

    def fail_first_call(event: dict[str, Any], call: int) -> Any:
        if call == 1:
            raise RuntimeError("transient")
        return None

    recorder = Recorder(fail_first_call)
    counts = _run(moto, template, recorder, ["a", "b", "c"], lambda: len(recorder.batches) >= 2)
    assert [sorted(r["body"] for r in batch) for batch in recorder.batches] == [["a", "b", "c"]] * 2
    assert counts == {"WorkQueue": 0, "WorkDeadLetterQueue": 0}


@pytest.mark.stack
def test_batches_respect_batch_size_and_have_the_sqs_event_shape(moto: MotoServer, fake_template: Path) -> None:
    template = _queues(moto, fake_template, visibility=5)  # BatchWindow 1 s
    recorder = Recorder(lambda event, call: {})
    bodies = [f"m{n}" for n in range(12)]
    _run(moto, template, recorder, bodies, lambda: sum(map(len, recorder.batches)) >= 12)

    assert [len(batch) for batch in recorder.batches] == [5, 5, 2]  # BatchSize 5, window 1 s
    record = recorder.batches[0][0]
    queue = template.queues["WorkQueue"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.arn
    assert record["awsRegion"] == "us-east-1"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
    assert record["messageId"] and record["receiptHandle"]
    attributes = record["attributes"]
    assert attributes["ApproximateReceiveCount"] == "1"
    assert attributes["SentTimestamp"].isdigit()
    assert attributes["ApproximateFirstReceiveTimestamp"].isdigit()
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AQ=="
    assert record["md5OfMessageAttributes"]
