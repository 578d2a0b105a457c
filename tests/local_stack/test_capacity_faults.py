"""Fault injection: DynamoDB faults in the capacity meter, SQS send failures in the moto server, at the
configured rates and reproducible from their seed. Needs Java (DynamoDB Local) for the DynamoDB part."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from rooms_local.capacity.faults import FaultConfig
from rooms_local.capacity.meter import CapacityMeter
from rooms_local.dynamodb_local import REPO_ROOT, DynamoDBLocal
from rooms_local.moto_server import MotoServer
from rooms_local.naming import LocalNaming
from rooms_local.provision import client, provision_tables
from rooms_local.template import Template, load_template

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("capacity_faults")]
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def configured(service: str, endpoint: str, config: Config) -> Any:
    factory: Any = boto3.client
    return factory(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=config,
    )


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(REPO_ROOT / "template.yaml", naming=LocalNaming(stack="faults"))


@pytest.fixture(scope="module")
def dynamodb(needs_java: None, template: Template) -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal() as local:
        provision_tables(template, local.endpoint)
        yield local


@pytest.fixture(scope="module")
def table(template: Template) -> str:
    return template.tables["RoomsTable"].name


def item(name: str) -> dict[str, Any]:
    return {"pk": {"S": name}, "sk": {"S": "X"}}


def test_transaction_conflicts_come_at_their_rate_from_their_seed(
    dynamodb: DynamoDBLocal, template: Template, table: str
) -> None:
    faults = FaultConfig(transaction_conflict_rate=0.5, seed=11)
    with CapacityMeter.for_template(template, dynamodb.endpoint, faults=faults) as meter:
        ddb = configured("dynamodb", meter.endpoint, NO_RETRIES)
        outcomes: list[int | None] = []  # per transaction: the position of the conflicting item, None if it passed
        for n in range(40):
            puts = [{"Put": {"TableName": table, "Item": item(f"CONFLICT#{n}#{side}")}} for side in ("a", "b")]
            try:
                ddb.transact_write_items(TransactItems=puts)
                outcomes.append(None)
            except ddb.exceptions.TransactionCanceledException as error:
                reasons = error.response["CancellationReasons"]
                assert {reason["Code"] for reason in reasons} == {"TransactionConflict", "None"}
                outcomes.append(next(p for p, reason in enumerate(reasons) if reason["Code"] == "TransactionConflict"))
        # THEN the cancellations are the seed's draws, made again by hand (a hit, then the item it names)
        draws = random.Random(11)
        expected = [draws.randrange(2) if draws.random() < 0.5 else None for _ in range(40)]
        assert outcomes == expected
        assert 10 < sum(outcome is not None for outcome in outcomes) < 30
        # AND a cancelled transaction wrote nothing and was billed its prepare phase, 1 WCU per item
        raw = client("dynamodb", dynamodb.endpoint)
        for n, outcome in enumerate(outcomes):
            found = raw.get_item(TableName=table, Key=item(f"CONFLICT#{n}#a"), ConsistentRead=True)
            assert ("Item" in found) == (outcome is None)
        cancelled = [charges for charges in by_request(meter).values() if sum(c.wcu for c in charges) == 2]
        assert len(cancelled) == sum(outcome is not None for outcome in outcomes)
        assert not any(charge.throttled for charge in meter.ledger.charges())


def by_request(meter: CapacityMeter) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for charge in meter.ledger.charges():
        grouped.setdefault(charge.request_id, []).append(charge)
    return grouped


def test_internal_errors_are_500s_that_did_nothing(dynamodb: DynamoDBLocal, template: Template, table: str) -> None:
    with CapacityMeter.for_template(template, dynamodb.endpoint, faults=FaultConfig(internal_error_rate=1.0)) as meter:
        retrying = configured("dynamodb", meter.endpoint, Config(retries={"mode": "standard", "total_max_attempts": 3}))
        with pytest.raises(ClientError) as failed:
            retrying.put_item(TableName=table, Item=item("INTERNAL#1"))
        response = failed.value.response
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "InternalServerError",
            500,
        )
        assert response["ResponseMetadata"]["RetryAttempts"] == 2  # botocore retried them
        assert meter.ledger.requests() == {"PutItem": 3}
        assert meter.ledger.charges() == []
        raw = client("dynamodb", dynamodb.endpoint)
        assert "Item" not in raw.get_item(TableName=table, Key=item("INTERNAL#1"), ConsistentRead=True)


def test_injected_throttles_answer_as_aws_and_are_recorded_as_throttled(
    dynamodb: DynamoDBLocal, template: Template, table: str
) -> None:
    with CapacityMeter.for_template(template, dynamodb.endpoint, faults=FaultConfig(throttle_rate=1.0)) as meter:
        ddb = configured("dynamodb", meter.endpoint, NO_RETRIES)
        with pytest.raises(ddb.exceptions.ThrottlingException):
            ddb.get_item(TableName=table, Key=item("THROTTLED#1"))
        puts = [{"Put": {"TableName": table, "Item": item(f"THROTTLED#{side}")}} for side in ("a", "b")]
        with pytest.raises(ddb.exceptions.TransactionCanceledException) as cancelled:
            ddb.transact_write_items(TransactItems=puts)
        codes = sorted(reason["Code"] for reason in cancelled.value.response["CancellationReasons"])
        assert codes == ["None", "ThrottlingError"]
        assert meter.ledger.charges() and all(charge.throttled for charge in meter.ledger.charges())


# ----------------------------------------------------------------------------------------------- SQS
@pytest.fixture(scope="module")
def failing_moto() -> Iterator[MotoServer]:
    with MotoServer(faults=FaultConfig(sqs_send_failure_rate=0.5, seed=3)) as server:
        yield server


def test_sqs_sends_fail_at_their_rate_from_their_seed(failing_moto: MotoServer) -> None:
    sqs = configured("sqs", failing_moto.endpoint, NO_RETRIES)
    url = sqs.create_queue(QueueName="faults")["QueueUrl"]
    sent: list[bool] = []
    for n in range(20):
        try:
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
            sent.append(True)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "RequestThrottled"
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            sent.append(False)
    batch = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"b{n}", "MessageBody": f"b{n}"} for n in range(10)])
    # THEN single sends and batch entries failed as the seed's draws say, made again by hand
    draws = random.Random(3)
    assert sent == [draws.random() >= 0.5 for _ in range(20)]
    expected_failed = [f"b{n}" for n in range(10) if draws.random() < 0.5]
    assert [entry["Id"] for entry in batch.get("Failed", [])] == expected_failed
    assert all(not entry["SenderFault"] and entry["Code"] == "InternalError" for entry in batch.get("Failed", []))
    assert sorted(entry["Id"] for entry in batch["Successful"]) == sorted(
        f"b{n}" for n in range(10) if f"b{n}" not in expected_failed
    )
    queued = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(queued["Attributes"]["ApproximateNumberOfMessages"]) == sum(sent) + 10 - len(expected_failed)
