"""The whole stack: provisioning from the template, HTTP -> Lambda -> DynamoDB/SQS -> worker -> DLQ,
and a clean stop. Needs Java (DynamoDB Local)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rooms_local import LocalStack, mint_token

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("local_stack")]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker") / "records.jsonl"


@pytest.fixture(scope="module")
def stack(needs_java: None, fake_template: Path, records: Path) -> Iterator[LocalStack]:
    # Visibility 2 s: above the 1 s batching window plus the handler's time, or a message would be
    # received again while its first batch is still being gathered (as on AWS).
    with LocalStack(
        fake_template, stack_name="e2e", visibility_timeout=2, environment={"RECORDS_FILE": str(records)}
    ) as running:
        yield running


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_tables_are_created_from_the_template(stack: LocalStack) -> None:
    dynamodb = stack.client("dynamodb")
    table = dynamodb.describe_table(TableName="e2e-ItemsTable")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName="e2e-ItemsTable")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_queues_and_schedule_groups_are_created_from_the_template(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    work = stack.template.queues["WorkQueue"]
    attributes = sqs.get_queue_attributes(QueueUrl=work.url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "2"  # the stack's override, not the template's 30
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": stack.template.queues["WorkDeadLetterQueue"].arn, "maxReceiveCount": 2}
    dlq = sqs.get_queue_attributes(QueueUrl=stack.env["WorkDeadLetterQueue"], AttributeNames=["All"])
    assert dlq["Attributes"]["MessageRetentionPeriod"] == "1209600"
    group = stack.client("scheduler").get_schedule_group(Name="e2e-Shows")
    assert group["Arn"] == stack.template.schedule_groups["Shows"].arn


def test_env_points_sdks_at_the_stack(stack: LocalStack) -> None:
    env = stack.env
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == stack.dynamodb_endpoint
    assert env["AWS_ENDPOINT_URL_SQS"] == env["AWS_ENDPOINT_URL_SCHEDULER"] == stack.moto_endpoint
    assert env["ItemsTable"] == "e2e-ItemsTable"
    assert env["WorkQueue"] == stack.template.queues["WorkQueue"].url
    function_env = stack.function_env("ApiFunction")
    assert function_env["TABLE_NAME"] == "e2e-ItemsTable"
    assert function_env["RECORDS_FILE"]
    for url in (stack.api_url, stack.dynamodb_endpoint, stack.moto_endpoint):
        assert url.startswith("http://127.0.0.1:")


def test_http_to_lambda_to_dynamodb_and_sqs_to_worker_to_dlq(stack: LocalStack, records: Path) -> None:
    token = mint_token("host-1")
    with httpx.Client(base_url=stack.api_url, headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        # GIVEN an item posted through the API, which also queues one good and one poison message
        created = http.post("/items", json={"id": "it-1", "messages": ["ok-1", "poison-1"]})
        assert (created.status_code, created.json()) == (201, {"id": "it-1"})
        # WHEN the echo route and a failing route are called
        echoed = http.get("/items/it-1", params={"q": "1"})
        failed = http.get("/items/it-1/boom")
        public = httpx.get(f"{stack.api_url}/health")
    # THEN the handler ran with the template's environment, in its own process
    body = echoed.json()
    assert body["env"] == {
        "GREETING": "own",
        "TABLE_NAME": "e2e-ItemsTable",
        "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb_endpoint,
    }
    assert body["function_name"] == "e2e-ApiFunction"
    assert body["event"]["pathParameters"] == {"item_id": "it-1"}
    assert body["event"]["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "host-1"
    assert body["pid"] != os.getpid()
    assert (failed.status_code, failed.json()) == (500, {"message": "Internal Server Error"})
    assert public.status_code == 200
    # AND the write reached DynamoDB Local
    item = stack.client("dynamodb").get_item(TableName="e2e-ItemsTable", Key={"pk": {"S": "it-1"}, "sk": {"S": "item"}})
    assert "Item" in item
    # AND once idle, the worker consumed both messages; the poison one twice, then dead-lettered
    stack.wait_idle(timeout=120)
    delivered = [r["body"] for line in records.read_text().splitlines() for r in json.loads(line)["records"]]
    assert sorted(delivered) == ["ok-1", "poison-1", "poison-1"]
    dead = stack.client("sqs").receive_message(QueueUrl=stack.env["WorkDeadLetterQueue"])["Messages"]
    assert [message["Body"] for message in dead] == ["poison-1"]


def test_direct_invoke(stack: LocalStack) -> None:
    result = stack.invoke("ApiFunction", {"rawPath": "/direct"})
    assert json.loads(result["body"])["event"] == {"rawPath": "/direct"}


def test_the_real_template_provisions_and_stops_cleanly(needs_java: None) -> None:
    # Its handlers are not invoked: only tables, queues and the stack's processes are checked.
    with LocalStack(stack_name="real", pollers=False) as stack:
        tables = set(stack.client("dynamodb").list_tables()["TableNames"])
        assert tables == {table.name for table in stack.template.tables.values()}
        urls = set(stack.client("sqs").list_queues(QueueNamePrefix="real-").get("QueueUrls", []))
        assert urls == {queue.url for queue in stack.template.queues.values()}
        pids = stack.process_ids
        assert len(pids) == 2  # java and moto; function instances start on demand
        assert stack.startup_seconds > 0  # measured; how long it takes depends on the machine
    stack.stop()  # again: idempotent
    deadline = time.monotonic() + 60  # a safety net: the loop ends when the processes are gone
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, pids))


def test_a_warm_stack_starts_every_function_instance_as_it_comes_up(needs_java: None) -> None:
    # what `rooms-local up` does, so a first storm does not pay process start-ups under load
    with LocalStack(stack_name="warm", pollers=False, max_instances=1, warm=True) as stack:
        assert stack.pools and all(pool.instances == pool.cold_starts == 1 for pool in stack.pools.values())
        pids = [pid for pool in stack.pools.values() for pid in pool.pids]
        assert all(map(_alive, pids))
    deadline = time.monotonic() + 60  # a safety net: the loop ends when the processes are gone
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, pids))
