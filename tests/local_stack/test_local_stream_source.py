"""A table's DynamoDB stream into a function on the local stack, as Lambda's stream mapping runs it:
DynamoDB Local's stream, the mapping's filters and batches, partial batch failures retried from the
first failed record, and a batch given up on sent to the on-failure queue. Needs Java (DynamoDB Local)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rooms_local import LocalStack
from tests.local_stack.records import written_records

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("local_stream")]
TEMPLATE = Path(__file__).parent / "data" / "stream" / "template.yaml"


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stream") / "batches.jsonl"


@pytest.fixture(scope="module")
def stack(needs_java: None, records: Path) -> Iterator[LocalStack]:
    with LocalStack(TEMPLATE, stack_name="streams", environment={"RECORDS_FILE": str(records)}) as running:
        yield running


def test_the_template_mapping_is_read_with_its_settings(stack: LocalStack) -> None:
    (mapping,) = stack.template.stream_events
    assert (mapping.function_id, mapping.table_id, mapping.batch_size, mapping.maximum_retry_attempts) == (
        "Reader",
        "Items",
        5,
        2,
    )
    assert mapping.on_failure_queue_id == "GivenUp" and mapping.report_batch_item_failures


def test_filtered_changes_arrive_in_order_in_batches_and_a_failing_record_is_retried_then_given_up(
    stack: LocalStack, records: Path
) -> None:
    dynamodb, table = stack.client("dynamodb"), stack.template.tables["Items"].name
    # GIVEN 7 writes the filter keeps (an insert and an update among them) and 3 it drops
    for n in range(6):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"keep-{n}"}})
        if n % 2:
            dynamodb.put_item(TableName=table, Item={"pk": {"S": f"drop-{n}"}})
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": "keep-0"}},
        UpdateExpression="SET note = :n",
        ExpressionAttributeValues={":n": {"S": "x"}},
    )
    stack.wait_idle(timeout=120)
    batches = written_records(records)
    delivered = [key for batch in batches for key in batch["keys"]]
    # THEN they arrived once each, in order, at most 5 a batch, none the filter drops
    assert delivered == [f"keep-{n}" for n in range(6)] + ["keep-0"]
    assert all(len(batch["keys"]) <= 5 for batch in batches)
    assert [name for batch in batches for name in batch["names"]][-1] == "MODIFY"

    # WHEN a record keeps failing THEN it is retried from it (the record before it is not), twice, then its
    # batch's shard and sequence numbers go to the on-failure queue and what follows is delivered
    before = len(batches)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "keep-ok"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "keep-bad"}, "poison": {"S": "yes"}})
    stack.wait_idle(timeout=120)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "keep-after"}})
    stack.wait_idle(timeout=120)
    attempts = [batch["keys"] for batch in written_records(records)[before:]]
    assert sum("keep-ok" in keys for keys in attempts) == 1  # before the failed record: never again
    assert sum("keep-bad" in keys for keys in attempts) == 3  # its first try and 2 retries
    assert attempts[-1] == ["keep-after"]
    sqs = stack.client("sqs")
    (given_up,) = sqs.receive_message(QueueUrl=stack.template.queues["GivenUp"].url)["Messages"]
    info = json.loads(given_up["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["DDBStreamBatchInfo"]["batchSize"] == 1
    assert info["DDBStreamBatchInfo"]["streamArn"] == stack.template.stream_events[0].stream_arn
