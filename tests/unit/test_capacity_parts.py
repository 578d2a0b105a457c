"""The meter's pure parts: the ledger, the summary line, the update prediction the throttle uses, the copy of
item images (TTL and unknown outcomes), the fault settings and their seeded draws."""

from __future__ import annotations

import random
import threading

import pytest

from rooms_local import cli
from rooms_local.capacity.faults import CONFLICT, INTERNAL_ERROR, THROTTLE, DynamoDBFaults, FaultConfig
from rooms_local.capacity.images import ItemImages
from rooms_local.capacity.ledger import Charge, Ledger, summary_line
from rooms_local.capacity.operations import _query_partition_key, _unnarrowed
from rooms_local.capacity.prediction import predicted_update
from rooms_local.capacity.schema import TableSchema

TABLE = "rooms-local-RoomsTable"
KEY = {"pk": {"S": "SEAT#f1#u1"}, "sk": {"S": "SEAT"}}


def charge(request_id: int, key: str, operation: str = "PutItem", **units: float) -> Charge:
    return Charge(1.0, operation, TABLE, None, key, units.get("wcu", 0.0), units.get("rcu", 0.0), request_id=request_id)


# ------------------------------------------------------------------------------------------------- ledger
def test_the_ledger_counts_each_request_once_and_marks_windows() -> None:
    ledger = Ledger()
    ledger.record([charge(1, "ROOM#r1", "TransactWriteItems", wcu=4), charge(1, "SEAT#u1", "TransactWriteItems")])
    mark = ledger.position()
    ledger.record([charge(2, "ROOM#r1", "GetItem", rcu=1)])
    ledger.record([], operation="DescribeTable")
    assert ledger.requests() == {"TransactWriteItems": 1, "GetItem": 1, "DescribeTable": 1}
    assert [c.request_id for c in ledger.since(mark)] == [2]
    assert len(ledger.charges()) == 3
    ledger.clear()
    assert (ledger.charges(), ledger.requests()) == ([], {})


def test_the_ledger_is_safe_to_record_from_many_threads() -> None:
    ledger = Ledger()

    def record(worker: int) -> None:
        for n in range(500):
            ledger.record([charge(worker * 1000 + n, "ROOM#r1", wcu=1)])

    threads = [threading.Thread(target=record, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.requests() == {"PutItem": 4000}
    assert len(ledger.charges()) == 4000


def test_the_summary_names_the_totals_and_the_hottest_key() -> None:
    charges = [charge(1, "ROOM#r1", wcu=4), charge(2, "SEAT#u1", wcu=2, rcu=1), charge(3, "ROOM#r1", rcu=0.5)]
    throttled = Charge(1.0, "PutItem", TABLE, "gsi2", "EXPIRY#1", 9.0, 0.0, throttled=True, request_id=4)
    line = summary_line([*charges, throttled])
    assert line == f"capacity: 6 WCU, 1.5 RCU; hottest key 'ROOM#r1' on {TABLE} (4.5 units); 1 throttled charges"
    assert summary_line([]) == "capacity: 0 WCU, 0 RCU"


# -------------------------------------------------------------------------------------------- prediction
def test_prediction_follows_plain_sets_and_removes() -> None:
    old = {**KEY, "gsi2pk": {"S": "EXPIRY#100"}, "note": {"S": "n"}}
    request = {
        "UpdateExpression": "SET #b = :bucket, hits = hits + :one REMOVE note",
        "ExpressionAttributeNames": {"#b": "gsi2pk"},
        "ExpressionAttributeValues": {":bucket": {"S": "EXPIRY#130"}, ":one": {"N": "1"}},
    }
    assert predicted_update(old, KEY, request) == {**KEY, "gsi2pk": {"S": "EXPIRY#130"}}


def test_prediction_of_an_upsert_starts_from_the_key_and_honours_if_not_exists() -> None:
    request = {
        "UpdateExpression": "SET created = if_not_exists(created, :now), gsi1pk = :room",
        "ExpressionAttributeValues": {":now": {"N": "5"}, ":room": {"S": "ROOM#r1"}},
    }
    assert predicted_update(None, KEY, request) == {**KEY, "created": {"N": "5"}, "gsi1pk": {"S": "ROOM#r1"}}
    existing = {**KEY, "created": {"N": "1"}}
    assert predicted_update(existing, KEY, request)["created"] == {"N": "1"}


# ------------------------------------------------------------------------------------------------ images
def test_item_images_are_doubted_past_their_ttl_and_after_an_unknown_outcome() -> None:
    now = [1000.0]
    images = ItemImages(clock=lambda: now[0])
    schema = TableSchema(TABLE, "arn", "pk", "sk", ttl_attribute="ttl")
    images.adopt(schema, [])
    key = schema.key(KEY)
    assert images.lookup(TABLE, key) == (True, None)  # a followed table: no image means no item
    item = {**KEY, "ttl": {"N": "1500"}}
    images.store(TABLE, key, item)
    assert images.lookup(TABLE, key) == (True, item)
    now[0] = 1500.0  # expired: DynamoDB Local may have deleted it by now
    assert images.lookup(TABLE, key) == (False, None)
    images.store(TABLE, key, {**KEY})
    images.forget(TABLE, key)
    assert images.lookup(TABLE, key) == (False, None)
    images.store(TABLE, key, None)
    assert images.lookup(TABLE, key) == (True, None)


# ------------------------------------------------------------------------------------------------ faults
def test_fault_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="throttle_rate"):
        FaultConfig(throttle_rate=1.5)
    assert not FaultConfig(sqs_send_failure_rate=0.5).dynamodb
    assert FaultConfig(internal_error_rate=0.1).dynamodb


def test_faults_follow_their_seed_and_only_hit_data_plane_requests() -> None:
    config = FaultConfig(transaction_conflict_rate=0.3, throttle_rate=0.2, internal_error_rate=0.1, seed=42)
    faults = DynamoDBFaults(config)
    operations = ["TransactWriteItems", "GetItem", "UpdateItem", "TransactGetItems"] * 250
    picked = [faults.pick(operation) for operation in operations]
    # the same draws, made by hand: internal error, then throttle, then (transactions only) conflict
    draws = random.Random(42)
    expected: list[str | None] = []
    for operation in operations:
        if draws.random() < 0.1:
            expected.append(INTERNAL_ERROR)
        elif draws.random() < 0.2:
            expected.append(THROTTLE)
        elif operation.startswith("Transact") and draws.random() < 0.3:
            expected.append(CONFLICT)
        else:
            expected.append(None)
    assert picked == expected
    assert 60 < picked.count(INTERNAL_ERROR) < 140  # 10 % of 1000
    assert faults.pick("CreateTable") is None and faults.pick("DescribeTable") is None


# --------------------------------------------------------------------------------------------------- CLI
def test_rooms_local_up_takes_the_capacity_and_fault_options() -> None:
    capacity = ["--capacity-model", "--throughput-scale", "0.05"]
    faults = ["--fault-transaction-conflicts", "0.1", "--fault-sqs-send-failures", "0.2", "--fault-seed", "3"]
    args = cli._parser().parse_args(["up", *capacity, *faults])
    assert (args.capacity_model, args.throughput_scale) == (True, 0.05)
    assert cli._faults(args) == FaultConfig(transaction_conflict_rate=0.1, sqs_send_failure_rate=0.2, seed=3)
    assert cli._faults(cli._parser().parse_args(["up", "--fault-seed", "3"])) is None  # a seed alone injects nothing


@pytest.mark.parametrize("option", [["--throughput-scale", "0"], ["--fault-throttles", "1.5"]])
def test_rooms_local_up_refuses_impossible_capacity_options(option: list[str]) -> None:
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["up", *option])


# ------------------------------------------------------------------------------------------------ queries
def test_a_querys_partition_key_is_read_from_its_key_condition() -> None:
    pynamodb_style = {
        "KeyConditionExpression": "(#0 = :0 AND begins_with (#1, :1))",
        "ExpressionAttributeNames": {"#0": "gsi1pk", "#1": "gsi1sk"},
        "ExpressionAttributeValues": {":0": {"S": "ROOM#r1"}, ":1": {"S": "2026"}},
    }
    assert _query_partition_key(pynamodb_style, "gsi1pk") == "ROOM#r1"
    assert _query_partition_key({"KeyConditions": {"pk": {"AttributeValueList": [{"S": "A"}]}}}, "pk") == "A"
    assert _query_partition_key({"KeyConditionExpression": "pk > :x"}, "pk") is None


def test_the_billing_read_of_a_filtered_query_keeps_its_page_and_drops_the_rest() -> None:
    query = {
        "TableName": TABLE,
        "KeyConditionExpression": "#pk = :family",
        "FilterExpression": "#status = :queued",
        "ProjectionExpression": "#status",
        "Select": "SPECIFIC_ATTRIBUTES",
        "ExpressionAttributeNames": {"#pk": "pk", "#status": "status"},
        "ExpressionAttributeValues": {":family": {"S": "FAMILY#f1"}, ":queued": {"S": "queued"}},
        "Limit": 25,
        "ExclusiveStartKey": {"pk": {"S": "FAMILY#f1"}, "sk": {"S": "T#9"}},
        "ReturnConsumedCapacity": "TOTAL",
    }
    assert _unnarrowed(query) == {
        "TableName": TABLE,
        "KeyConditionExpression": "#pk = :family",
        "ExpressionAttributeNames": {"#pk": "pk"},
        "ExpressionAttributeValues": {":family": {"S": "FAMILY#f1"}},
        "Limit": 25,
        "ExclusiveStartKey": {"pk": {"S": "FAMILY#f1"}, "sk": {"S": "T#9"}},
    }
