"""The capacity meter on DynamoDB Local, with the template's tables: a known sequence of calls sums to the units
worked out by hand from AWS's rules, per partition key of the table and of each GSI; the throttle mode answers
as AWS does, botocore retries it and the product maps it to 503; the stack routes the functions through it.
Needs Java (DynamoDB Local)."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError

from rooms.adapters.overload import is_overload
from rooms_local import LocalStack, mint_token
from rooms_local.capacity.accounting import write_units
from rooms_local.capacity.ledger import Charge
from rooms_local.capacity.meter import CapacityMeter
from rooms_local.capacity.schema import schemas_from_template
from rooms_local.capacity.sizes import item_size
from rooms_local.capacity.throttle import Throttle
from rooms_local.dynamodb_local import REPO_ROOT, DynamoDBLocal
from rooms_local.naming import LocalNaming
from rooms_local.provision import client, provision_tables
from rooms_local.template import Template, load_template

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("capacity_meter")]
KB = 1024
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(REPO_ROOT / "template.yaml", naming=LocalNaming(stack="meter"))


@pytest.fixture(scope="module")
def dynamodb(needs_java: None, template: Template) -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal() as local:
        provision_tables(template, local.endpoint)
        yield local


@pytest.fixture(scope="module")
def table(template: Template) -> str:
    return template.tables["RoomsTable"].name


def totals(charges: list[Charge]) -> dict[tuple[str | None, str], tuple[float, float]]:
    """(index, key) -> (WCU, RCU) over the charges."""
    summed: defaultdict[tuple[str | None, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for charge in charges:
        summed[(charge.index, charge.partition_key)][0] += charge.wcu
        summed[(charge.index, charge.partition_key)][1] += charge.rcu
    return {key: (wcu, rcu) for key, (wcu, rcu) in summed.items()}


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_a_known_sequence_of_calls_sums_to_the_hand_computed_units(
    dynamodb: DynamoDBLocal, template: Template, table: str
) -> None:
    room, seat = key("ROOM#seq", "ROOM"), key("SEAT#fseq#u1", "SEAT")
    seat_item = {**seat, "gsi1pk": {"S": "ROOM#seq"}, "gsi1sk": {"S": "u1"}, "gsi2pk": {"S": "EXPIRY#100"}}
    seat_item["gsi2sk"] = {"S": "SEAT#fseq#u1"}
    with CapacityMeter.for_template(template, dynamodb.endpoint) as meter:
        ddb = client("dynamodb", meter.endpoint)
        # 1. a small room item: 1 WCU
        ddb.put_item(TableName=table, Item={**room, "occupancy": {"N": "0"}})
        # 2. grown past 1 KB (about 1.6 KB): the larger image counts, 2 WCU; the answer has no Attributes
        grown = ddb.update_item(
            TableName=table,
            Key=room,
            UpdateExpression="SET bio = :bio",
            ExpressionAttributeValues={":bio": {"S": "b" * 1600}},
        )
        assert "Attributes" not in grown
        # 3. a failed conditional update: billed by the existing 1.6 KB item, 2 WCU
        with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
            ddb.update_item(
                TableName=table,
                Key=room,
                UpdateExpression="SET occupancy = occupancy + :one",
                ConditionExpression="occupancy >= :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        # 4. a transaction of 2 items: the room (1.6 KB) 2 x 2 WCU, the new seat 2 x 1 WCU, and the seat into
        #    gsi1 (ALL) under its room and gsi2 (KEYS_ONLY) under its expiry bucket, 1 WCU each
        occupy = {
            "Update": {
                "TableName": table,
                "Key": room,
                "UpdateExpression": "SET occupancy = occupancy + :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }
        new_seat = {"Put": {"TableName": table, "Item": seat_item, "ConditionExpression": "attribute_not_exists(pk)"}}
        ddb.transact_write_items(TransactItems=[occupy, new_seat])
        # 5. the same transaction again is cancelled (the seat exists): each item's prepare, 2 + 1 WCU
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(TransactItems=[occupy, new_seat])
        # 6. a heartbeat moves the seat to another expiry bucket: 1 WCU on the seat, gsi1 rewrites its entry
        #    (a projected attribute changed), gsi2 deletes from one bucket and puts into the other
        ddb.update_item(
            TableName=table,
            Key=seat,
            UpdateExpression="SET gsi2pk = :bucket",
            ExpressionAttributeValues={":bucket": {"S": "EXPIRY#130"}},
        )
        # 7. the room's seats, eventually consistent, from gsi1: 0.5 RCU on the room's gsi1 key
        seats = ddb.query(
            TableName=table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :room",
            ExpressionAttributeValues={":room": {"S": "ROOM#seq"}},
        )
        assert seats["Count"] == 1
        # 8. the room, strongly consistent: 1 RCU
        assert ddb.get_item(TableName=table, Key=room, ConsistentRead=True)["Item"]["occupancy"] == {"N": "1"}

        assert totals(meter.ledger.charges()) == {
            (None, "ROOM#seq"): (1 + 2 + 2 + 4 + 2, 1),
            (None, "SEAT#fseq#u1"): (2 + 1 + 1, 0),
            ("gsi1", "ROOM#seq"): (1 + 1, 0.5),
            ("gsi2", "EXPIRY#100"): (1 + 1, 0),
            ("gsi2", "EXPIRY#130"): (1, 0),
        }
        assert meter.ledger.requests() == {
            "PutItem": 1,
            "UpdateItem": 3,
            "TransactWriteItems": 2,
            "Query": 1,
            "GetItem": 1,
        }
        assert {charge.table for charge in meter.ledger.charges()} == {table}


def test_reads_are_billed_by_what_they_evaluated(dynamodb: DynamoDBLocal, template: Template, table: str) -> None:
    with CapacityMeter.for_template(template, dynamodb.endpoint) as meter:
        ddb = client("dynamodb", meter.endpoint)
        for n in range(3):  # three 2 KB tickets of one family, one of them queued
            item = {**key("FAMILY#reads", f"T#{n}"), "status": {"S": "queued" if n == 0 else "seated"}}
            ddb.put_item(TableName=table, Item={**item, "pad": {"S": "p" * (2 * KB - 40)}})
        mark = meter.ledger.position()
        # a filtered query returns one item but read all three (about 6 KB): 2 RCU strongly consistent
        queued = ddb.query(
            TableName=table,
            KeyConditionExpression="pk = :family",
            FilterExpression="#status = :queued",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={":family": {"S": "FAMILY#reads"}, ":queued": {"S": "queued"}},
            ConsistentRead=True,
        )
        assert (queued["Count"], queued["ScannedCount"]) == (1, 3)
        # a projected get is billed by the whole 2 KB item: 0.5 RCU; a missing item the minimum
        ddb.get_item(
            TableName=table,
            Key=key("FAMILY#reads", "T#1"),
            ProjectionExpression="#s",
            ExpressionAttributeNames={"#s": "status"},
        )
        ddb.get_item(TableName=table, Key=key("FAMILY#reads", "missing"))
        # a batch get rounds each item: 3 x 1 RCU, strongly consistent
        keys = [key("FAMILY#reads", f"T#{n}") for n in range(3)]
        ddb.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
        assert totals(meter.ledger.since(mark)) == {(None, "FAMILY#reads"): (0, 2 + 0.5 + 0.5 + 3)}


def test_batches_deletes_and_transactional_reads(dynamodb: DynamoDBLocal, template: Template, table: str) -> None:
    small = {**key("BATCH#a", "X"), "pad": {"S": "p" * 480}}  # about 500 bytes
    large = {**key("BATCH#b", "X"), "pad": {"S": "p" * int(3.5 * KB - 30)}}  # about 3.5 KB
    with CapacityMeter.for_template(template, dynamodb.endpoint) as meter:
        ddb = client("dynamodb", meter.endpoint)
        # each item of a batch rounded on its own: 1 + 4 WCU, and 1 for deleting an item that is not there
        ddb.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": small}},
                    {"PutRequest": {"Item": large}},
                    {"DeleteRequest": {"Key": key("BATCH#c", "X")}},
                ]
            }
        )
        ddb.delete_item(TableName=table, Key=key("BATCH#b", "X"))  # the deleted item's 3.5 KB: 4 WCU
        got = ddb.transact_get_items(  # transactional reads: 2 RCU each, a missing item too
            TransactItems=[
                {"Get": {"TableName": table, "Key": key("BATCH#a", "X")}},
                {"Get": {"TableName": table, "Key": key("BATCH#d", "X")}},
            ]
        )
        assert "Item" in got["Responses"][0]
        assert totals(meter.ledger.charges()) == {
            (None, "BATCH#a"): (1, 2),
            (None, "BATCH#b"): (4 + 4, 0),
            (None, "BATCH#c"): (1, 0),
            (None, "BATCH#d"): (0, 2),
        }


def test_concurrent_writers_of_one_item_are_billed_on_the_images_each_one_saw(
    dynamodb: DynamoDBLocal, template: Template, table: str
) -> None:
    room = key("ROOM#concurrent", "ROOM")
    element = {"S": "e" * 46}  # 47 bytes in a list
    start = {**room, "seats": {"L": []}, "pad": {"S": "p" * 700}}
    with CapacityMeter.for_template(template, dynamodb.endpoint) as meter:
        ddb = client_with(meter.endpoint, Config(max_pool_connections=16, retries={"mode": "standard"}))
        ddb.put_item(TableName=table, Item=start)
        mark = meter.ledger.position()

        def append(_: int) -> None:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": room,
                            "UpdateExpression": "SET seats = list_append(seats, :one)",
                            "ExpressionAttributeValues": {":one": {"L": [element]}},
                        }
                    }
                ]
            )

        # WHEN 40 transactions grow the item concurrently, across its 1 KB boundary
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(append, range(40)))
        # THEN each was billed on the old image the one before it left: the item's sizes, in order
        sizes = [item_size({**start, "seats": {"L": [element] * n}}) for n in range(41)]
        expected = sum(2 * write_units(max(before, after)) for before, after in itertools.pairwise(sizes))
        assert sizes[0] < KB < sizes[-1]
        assert totals(meter.ledger.since(mark)) == {(None, "ROOM#concurrent"): (expected, 0)}
        stored = client("dynamodb", dynamodb.endpoint).get_item(TableName=table, Key=room, ConsistentRead=True)
        assert len(stored["Item"]["seats"]["L"]) == 40


def test_a_transaction_replayed_by_its_token_is_billed_as_reads(
    dynamodb: DynamoDBLocal, template: Template, table: str
) -> None:
    with CapacityMeter.for_template(template, dynamodb.endpoint) as meter:
        ddb = client("dynamodb", meter.endpoint)
        put = [{"Put": {"TableName": table, "Item": key("REPLAY#1", "X")}}]
        ddb.transact_write_items(TransactItems=put, ClientRequestToken="replay-token-1")
        ddb.transact_write_items(TransactItems=put, ClientRequestToken="replay-token-1")  # the SDK's retry
        first, second = (totals([c]) for c in meter.ledger.charges())
        assert (first, second) == ({(None, "REPLAY#1"): (2, 0)}, {(None, "REPLAY#1"): (0, 2)})


def test_requests_the_meter_cannot_read_get_dynamodb_locals_own_answer(
    dynamodb: DynamoDBLocal, template: Template
) -> None:
    with CapacityMeter.for_template(template, dynamodb.endpoint) as meter:
        ddb = client_with(meter.endpoint, NO_RETRIES.merge(Config(parameter_validation=False)))
        with pytest.raises(ddb.exceptions.ResourceNotFoundException):
            ddb.get_item(TableName="no-such-table", Key=key("A", "B"))
        with pytest.raises(ClientError) as malformed:  # a PutItem without its Item: DynamoDB Local's 400
            ddb.put_item(TableName=template.tables["RoomsTable"].name)
        assert malformed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert ddb.list_tables()["TableNames"]  # not billed, passed through
        assert meter.ledger.charges() == []
        assert meter.ledger.requests() == {"GetItem": 1, "PutItem": 1, "ListTables": 1}


class SteppingClock:
    """The throttle's clock: still unless `step` is set, then `step` seconds later at every reading, so
    refills follow the number of requests, not the machine's speed."""

    def __init__(self) -> None:
        self.now = 0.0
        self.step = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_throttle_mode_answers_as_aws_and_botocore_retries(
    dynamodb: DynamoDBLocal, template: Template, table: str
) -> None:
    clock = SteppingClock()
    # 0.002: 2 WCU/s per key, a bucket of one second
    with CapacityMeter(
        dynamodb.endpoint, schemas_from_template(template), throttle=Throttle(0.002, clock=clock)
    ) as meter:
        once = client_with(meter.endpoint, NO_RETRIES)
        hot = key("ROOM#hot", "ROOM")
        once.put_item(TableName=table, Item={**hot, "pad": {"S": "p" * (2 * KB)}})  # 3 WCU: 1 in debt
        # GIVEN a key in debt: the next write is refused, as AWS refuses an on-demand table's
        with pytest.raises(once.exceptions.ThrottlingException) as refused:
            once.put_item(TableName=table, Item={**hot, "refused": {"BOOL": True}})
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Error"]["Message"].startswith("Throughput exceeds the current capacity of your table or index.")
        assert error["throttlingReasons"] == [
            {"reason": "TableWriteKeyRangeThroughputExceeded", "resource": template.tables["RoomsTable"].arn}
        ]
        # AND it was not forwarded: DynamoDB Local never saw it
        raw = client("dynamodb", dynamodb.endpoint)
        assert "refused" not in raw.get_item(TableName=table, Key=hot, ConsistentRead=True)["Item"]
        throttled = [charge for charge in meter.ledger.charges() if charge.throttled]
        assert [(c.operation, c.partition_key, c.wcu) for c in throttled] == [("PutItem", "ROOM#hot", 3)]
        # WHEN botocore's standard retry mode sends it while the key refills (half a WCU per attempt)
        clock.step = 0.25
        patient = client_with(meter.endpoint, Config(retries={"mode": "standard", "total_max_attempts": 10}))
        answer = patient.put_item(TableName=table, Item={**hot, "admitted": {"BOOL": True}})
        # THEN it was throttled, retried, and admitted once the key had units again
        assert answer["ResponseMetadata"]["RetryAttempts"] >= 1
        assert "admitted" in raw.get_item(TableName=table, Key=hot, ConsistentRead=True)["Item"]


def client_with(endpoint: str, config: Config) -> Any:
    factory: Any = boto3.client
    return factory(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=config,
    )


def test_a_hot_gsi_key_throttles_the_table_write_and_transactions_name_the_item(
    dynamodb: DynamoDBLocal, template: Template, table: str
) -> None:
    schemas = schemas_from_template(template)
    with CapacityMeter(dynamodb.endpoint, schemas, throttle=Throttle(0.002, clock=SteppingClock())) as meter:
        ddb = client_with(meter.endpoint, NO_RETRIES)

        def seat(user: str) -> dict[str, Any]:
            return {**key(f"SEAT#fhot#{user}", "SEAT"), "gsi2pk": {"S": "EXPIRY#hot"}, "gsi2sk": {"S": user}}

        ddb.put_item(TableName=table, Item=seat("u1"))
        ddb.put_item(TableName=table, Item=seat("u2"))  # gsi2's EXPIRY#hot has used its 2 WCU
        # GIVEN a third seat of that bucket: its own table key is fresh, the index key is not
        with pytest.raises(ddb.exceptions.ThrottlingException) as refused:
            ddb.put_item(TableName=table, Item=seat("u3"))
        assert refused.value.response["throttlingReasons"] == [
            {
                "reason": "IndexWriteKeyRangeThroughputExceeded",
                "resource": f"{template.tables['RoomsTable'].arn}/index/gsi2",
            }
        ]
        assert refused.value.response["Error"]["Message"].startswith(
            "Throughput exceeds the current capacity for one or more global secondary indexes."
        )
        # WHEN the same seat goes in a transaction with an item of another key, through pynamodb as the product does
        connection = Connection(host=meter.endpoint, region="us-east-1")
        with pytest.raises(TransactWriteError) as cancelled:
            connection.transact_write_items(
                condition_check_items=[],
                delete_items=[],
                put_items=[
                    {"TableName": table, "Item": {**key("ROOM#fhot", "ROOM")}},
                    {"TableName": table, "Item": seat("u3")},
                ],
                update_items=[],
            )
        # THEN the cancellation names the seat as throttled, and the product answers 503 BUSY for it
        reasons = [reason.code if reason else None for reason in cancelled.value.cancellation_reasons]
        assert reasons == [None, "ThrottlingError"]
        assert is_overload(cancelled.value)


# ------------------------------------------------------------------------------------------- in the stack
@pytest.fixture(scope="module")
def metered_stack(needs_java: None, fake_template: Path) -> Iterator[LocalStack]:
    with LocalStack(fake_template, stack_name="metered", capacity_model=True, pollers=False) as running:
        yield running


def test_the_stack_puts_the_meter_between_the_functions_and_dynamodb_local(metered_stack: LocalStack) -> None:
    meter = metered_stack.meter
    assert meter is not None
    assert metered_stack.dynamodb_endpoint == meter.endpoint != metered_stack.dynamodb_local_endpoint
    token = mint_token("host-1")
    with httpx.Client(base_url=metered_stack.api_url, headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        # GIVEN the function that writes an item, with no change to its code
        created = http.post("/items", json={"id": "metered-1"})
        echoed = http.get("/items/metered-1")
    assert created.status_code == 201
    # THEN it used the meter's endpoint, and its PutItem was billed on the item's key
    assert json.loads(echoed.text)["env"]["AWS_ENDPOINT_URL_DYNAMODB"] == meter.endpoint
    charges = [charge for charge in meter.ledger.charges() if charge.operation == "PutItem"]
    assert [(c.table, c.index, c.partition_key, c.wcu) for c in charges] == [
        ("metered-ItemsTable", None, "metered-1", 1)
    ]
