"""The throttle mode: per-key token buckets at AWS's limits times the scale, and AWS's throttling answers,
as botocore parses and retries them."""

from __future__ import annotations

import json
from typing import Any

import botocore.parsers
import botocore.session
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from botocore.exceptions import ClientError
from botocore.retries import standard

from rooms.adapters.overload import is_overload
from rooms_local.capacity import dynamodb_errors
from rooms_local.capacity.accounting import Cost
from rooms_local.capacity.schema import TableSchema
from rooms_local.capacity.throttle import Refusal, Throttle

TABLE = "rooms-local-RoomsTable"
ON_DEMAND = TableSchema(TABLE, "arn:aws:dynamodb:us-east-1:123456789012:table/" + TABLE, "pk", "sk")
PROVISIONED = TableSchema(TABLE, ON_DEMAND.arn, "pk", "sk", on_demand=False)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def write(key: str, wcu: float, index: str | None = None) -> list[Cost]:
    return [Cost(TABLE, index, key, wcu=wcu)]


def test_the_scale_sets_the_per_key_limits() -> None:
    assert Throttle(0.05).rates == {"Write": 50.0, "Read": 150.0}
    assert Throttle().rates == {"Write": 1000.0, "Read": 3000.0}
    with pytest.raises(ValueError):
        Throttle(0)


def test_a_key_admits_its_limit_per_second_then_refuses_until_refilled(clock: Clock) -> None:
    throttle = Throttle(0.05, clock=clock)  # 50 WCU/s, a one-second bucket
    assert all(throttle.admit(write("ROOM#r1", 2)) is None for _ in range(25))
    assert throttle.admit(write("ROOM#r1", 2)) == Refusal(TABLE, None, "ROOM#r1", "Write")
    clock.now += 0.1  # 5 WCU back
    assert [throttle.admit(write("ROOM#r1", 2)) is None for _ in range(4)] == [True, True, True, False]


def test_keys_reads_writes_and_indexes_have_buckets_of_their_own(clock: Clock) -> None:
    throttle = Throttle(0.05, clock=clock)
    assert throttle.admit(write("ROOM#r1", 50)) is None
    assert throttle.admit(write("ROOM#r1", 1)) is not None
    assert throttle.admit(write("ROOM#r2", 1)) is None
    assert throttle.admit(write("ROOM#r1", 1, index="gsi1")) is None
    assert throttle.admit([Cost(TABLE, None, "ROOM#r1", rcu=1)]) is None


def test_a_gsi_key_over_its_limit_refuses_the_table_write(clock: Clock) -> None:
    throttle = Throttle(0.05, clock=clock)
    assert throttle.admit(write("EXPIRY#100", 50, index="gsi2")) is None
    seat_write = [Cost(TABLE, None, "SEAT#u2", wcu=2), Cost(TABLE, "gsi2", "EXPIRY#100", wcu=1)]
    assert throttle.admit(seat_write) == Refusal(TABLE, "gsi2", "EXPIRY#100", "Write")
    assert throttle.admit(write("SEAT#u2", 2)) is None  # the refused write took nothing from its table key


def test_a_request_larger_than_the_bucket_is_admitted_into_debt(clock: Clock) -> None:
    throttle = Throttle(0.05, clock=clock)
    assert throttle.admit(write("ROOM#r1", 200)) is None  # 200 WCU: the full bucket (50) and 3 s of debt
    clock.now += 2.9
    assert throttle.admit(write("ROOM#r1", 1)) is not None
    clock.now += 0.2
    assert throttle.admit(write("ROOM#r1", 1)) is None


def test_settle_takes_what_was_used_beyond_the_prediction(clock: Clock) -> None:
    throttle = Throttle(0.05, clock=clock)
    predicted = [Cost(TABLE, None, "ROOM#r1", rcu=0.5)]
    assert throttle.admit(predicted) is None
    throttle.settle(predicted, [Cost(TABLE, None, "ROOM#r1", rcu=150)])  # the query read 150 RCU
    assert throttle.admit(predicted) is not None


def test_the_bucket_never_holds_more_than_its_burst(clock: Clock) -> None:
    throttle = Throttle(0.05, burst_seconds=2.0, clock=clock)
    assert throttle.admit(write("ROOM#r1", 1)) is None
    clock.now += 3600  # an idle hour saves two seconds of capacity, not an hour
    assert all(throttle.admit(write("ROOM#r1", 1)) is None for _ in range(100))
    assert throttle.admit(write("ROOM#r1", 1)) is not None


# ---------------------------------------------------------------------------------------- AWS's answers
def parsed(operation: str, status: int, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The answer as botocore's DynamoDB client parses it, and the operation's model."""
    model = botocore.session.get_session().get_service_model("dynamodb").operation_model(operation)
    response = {"status_code": status, "headers": {}, "body": json.dumps(body).encode()}
    return botocore.parsers.create_parser("json").parse(response, model.output_shape), model


def retried(operation: str, status: int, body: dict[str, Any]) -> bool:
    """Whether botocore's standard retry mode retries this answer."""
    response, model = parsed(operation, status, body)

    class HttpResponse:
        status_code = status
        headers: dict[str, str] = {}

    context = standard.RetryContext(
        attempt_number=1, operation_model=model, parsed_response=response, http_response=HttpResponse()
    )
    return bool(standard.StandardRetryConditions().is_retryable(context))


def test_on_demand_tables_answer_throttling_exception_with_the_key_range_reason() -> None:
    status, body = dynamodb_errors.throttled(ON_DEMAND, None, "Write")
    assert status == 400
    assert parsed("PutItem", status, body)[0]["Error"]["Code"] == "ThrottlingException"
    assert body["message"].startswith("Throughput exceeds the current capacity of your table or index.")
    assert body["throttlingReasons"] == [{"reason": "TableWriteKeyRangeThroughputExceeded", "resource": ON_DEMAND.arn}]
    assert retried("PutItem", status, body)


def test_a_throttled_gsi_is_named_by_its_arn() -> None:
    _, body = dynamodb_errors.throttled(ON_DEMAND, "gsi2", "Write")
    assert body["throttlingReasons"] == [
        {"reason": "IndexWriteKeyRangeThroughputExceeded", "resource": f"{ON_DEMAND.arn}/index/gsi2"}
    ]
    assert body["message"].startswith("Throughput exceeds the current capacity for one or more global secondary")


def test_provisioned_tables_answer_provisioned_throughput_exceeded() -> None:
    status, body = dynamodb_errors.throttled(PROVISIONED, None, "Read")
    assert parsed("GetItem", status, body)[0]["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert body["ThrottlingReasons"][0]["reason"] == "TableReadKeyRangeThroughputExceeded"
    assert retried("GetItem", status, body)


def test_a_throttled_transaction_is_cancelled_with_throttling_error_reasons() -> None:
    reason = dynamodb_errors.throttled_reason(ON_DEMAND, None)
    status, body = dynamodb_errors.cancelled([reason, None])
    response, _ = parsed("TransactWriteItems", status, body)
    assert response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in body["CancellationReasons"]] == ["ThrottlingError", "None"]
    assert body["Message"].endswith("[ThrottlingError, None]")
    assert not retried("TransactWriteItems", status, body)  # as on AWS: the caller decides (the product: 503)


def test_an_internal_error_is_a_500_botocore_retries() -> None:
    status, body = dynamodb_errors.internal_error()
    assert status == 500
    assert parsed("Query", status, body)[0]["Error"]["Code"] == "InternalServerError"
    assert retried("Query", status, body)


def test_a_throttle_the_idempotency_layer_wrapped_is_still_busy() -> None:
    # GIVEN the throttling answer of a write to the idempotency table, as botocore raises it
    response, _ = parsed("PutItem", *dynamodb_errors.throttled(ON_DEMAND, None, "Write"))
    throttled = ClientError(response, "PutItem")
    # WHEN Powertools' persistence layer wraps it (raise ... from the ClientError)
    try:
        try:
            raise throttled
        except ClientError as error:
            raise IdempotencyPersistenceLayerError("Failed to save in progress record", error) from error
    except IdempotencyPersistenceLayerError as wrapped:
        # THEN the product still sees an overload (503 BUSY), not an internal error
        assert is_overload(wrapped)
    assert not is_overload(RuntimeError("a bug"))
