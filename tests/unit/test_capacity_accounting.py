"""The capacity accounting against the examples AWS publishes (Amazon DynamoDB Developer Guide: item sizes and
formats, read and write capacity consumption, transactions, global secondary indexes), on the template's
own table schema."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest

from rooms_local.capacity.accounting import (
    Cost,
    condition_check,
    failed_condition,
    index_writes,
    item_read,
    item_write,
    merged,
    prepared_only,
    range_read,
    read_units,
    replayed,
    write_units,
)
from rooms_local.capacity.schema import TableSchema, schema_from_description, schemas_from_template
from rooms_local.capacity.sizes import item_size, number_size, value_size
from rooms_local.template import load_template
from tests.conftest import ROOT

KB = 1024


@pytest.fixture(scope="module")
def rooms() -> TableSchema:
    """RoomsTable as template.yaml declares it: pk/sk, gsi1 (ALL), gsi2 (KEYS_ONLY), TTL on `ttl`."""
    template = load_template(ROOT / "template.yaml")
    return schemas_from_template(template)[template.tables["RoomsTable"].name]


def sized(size: int, **attributes: str) -> dict[str, Any]:
    """An item of exactly `size` bytes: the given String attributes, padded with a String `p`."""
    item: dict[str, Any] = {name: {"S": value} for name, value in attributes.items()}
    padding = size - item_size(item) - len("p")
    assert padding >= 0, "the attributes alone are larger than the size asked for"
    item["p"] = {"S": "x" * padding}
    assert item_size(item) == size
    return item


def seat(size: int = 200, *, room: str = "ROOM#r1", bucket: str = "EXPIRY#100", **extra: str) -> dict[str, Any]:
    """A seat: in gsi1 under its room, in gsi2 under its expiry bucket."""
    return sized(
        size, pk="SEAT#f1#u1", sk="SEAT", gsi1pk=room, gsi1sk="u1", gsi2pk=bucket, gsi2sk="SEAT#f1#u1", **extra
    )


SEAT_KEY = {"pk": {"S": "SEAT#f1#u1"}, "sk": {"S": "SEAT"}}
ROOM_KEY = {"pk": {"S": "ROOM#r1"}, "sk": {"S": "ROOM"}}


# ----------------------------------------------------------------------------------------------- item sizes
def test_a_string_is_its_name_plus_its_utf8_bytes() -> None:
    assert item_size({"name": {"S": "abc"}}) == 4 + 3
    assert item_size({"é": {"S": "€"}}) == 2 + 3  # é is 2 UTF-8 bytes, € is 3


def test_a_number_is_one_byte_per_two_significant_digits_plus_one() -> None:
    assert number_size("12345") == 3 + 1  # 5 digits: 3 bytes
    assert number_size("-0.00120") == 1 + 1  # leading and trailing zeros trimmed: "12"
    assert number_size("1000000") == 1 + 1
    assert number_size("123.456") == 3 + 1
    assert item_size({"n": {"N": "12345"}}) == 1 + 4


def test_binary_counts_its_raw_bytes_not_its_base64() -> None:
    raw = bytes(range(10))
    assert item_size({"b": {"B": base64.b64encode(raw).decode()}}) == 1 + 10


def test_null_and_boolean_take_one_byte() -> None:
    assert item_size({"t": {"BOOL": True}, "z": {"NULL": True}}) == (1 + 1) + (1 + 1)


def test_lists_and_maps_take_three_bytes_plus_one_per_element() -> None:
    assert value_size({"M": {}}) == 3
    assert value_size({"L": []}) == 3
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (2 + 1) + (2 + 1)
    assert value_size({"M": {"k": {"S": "v"}}}) == 3 + (1 + 1 + 1)
    assert item_size({"m": {"M": {"l": {"L": [{"BOOL": False}]}}}}) == 1 + 3 + (1 + (3 + 1 + 1) + 1)


def test_sets_are_the_sum_of_their_elements() -> None:
    assert value_size({"SS": ["ab", "cde"]}) == 5
    assert value_size({"NS": ["1", "12345"]}) == 2 + 4
    assert value_size({"BS": [base64.b64encode(b"abc").decode()]}) == 3


# ------------------------------------------------------------------------------------------------- units
def test_reads_round_up_to_4_kb_and_eventually_consistent_is_half() -> None:
    assert read_units(3500, consistent=True) == 1  # "reading a 3,500-byte item consumes the same ... as 4 KB"
    assert read_units(8 * KB, consistent=True) == 2  # an 8 KB item: 2 strongly consistent
    assert read_units(8 * KB, consistent=False) == 1  # ... 1 eventually consistent
    assert read_units(10 * KB, consistent=True) == 3  # 10 KB is rounded to 12 KB
    assert read_units(0, consistent=True) == 1  # a missing item still costs one read
    assert read_units(0, consistent=False) == 0.5


def test_writes_round_up_to_1_kb() -> None:
    assert write_units(500) == 1  # "writing a 500-byte item consumes the same throughput as writing a 1 KB item"
    assert write_units(int(1.6 * KB)) == 2  # "put or delete an item of 1.6 KB ... rounds the item size up to 2 KB"
    assert write_units(KB) == 1
    assert write_units(KB + 1) == 2


def test_a_transactional_read_is_twice_a_strongly_consistent_one(rooms: TableSchema) -> None:
    assert item_read(rooms, ROOM_KEY, 8 * KB, consistent=True, transactional=True).rcu == 4  # AWS: 4 for 8 KB
    three = [item_read(rooms, ROOM_KEY, 500, consistent=True, transactional=True) for _ in range(3)]
    assert sum(cost.rcu for cost in three) == 6  # "reads three 500-byte items ... six RCUs"


def test_batch_get_rounds_each_item_on_its_own(rooms: TableSchema) -> None:
    costs = [item_read(rooms, ROOM_KEY, size, consistent=True) for size in (int(1.5 * KB), int(6.5 * KB))]
    assert sum(cost.rcu for cost in costs) == 3  # "1.5 KB and 6.5 KB ... 12 KB (4 KB + 8 KB), not 8 KB"


def test_query_sums_the_items_then_rounds_once(rooms: TableSchema) -> None:
    ten = [math.ceil(40.8 * KB / 10)] * 10  # "10 items whose combined size is 40.8 KB ... rounds to 44 KB"
    assert range_read(rooms, None, "ROOM#r1", ten, consistent=True).rcu == 11
    assert range_read(rooms, None, "ROOM#r1", [64] * 1500, consistent=True).rcu == 24  # 1500 x 64 B = 96 KB
    assert range_read(rooms, None, "ROOM#r1", [KB] * 80, consistent=False).rcu == 10  # 80 KB eventually consistent
    assert range_read(rooms, None, "ROOM#r1", [], consistent=False).rcu == 0.5  # nothing found: the minimum


def test_a_gsi_query_is_charged_to_the_index_key(rooms: TableSchema) -> None:
    cost = range_read(rooms, "gsi1", "ROOM#r1", [2000] * 8, consistent=False)
    # "8 items ... 2000 bytes x 8 = 16,000 bytes ... rounded up to 16 KB ... 0.5 x (16 KB / 4 KB), or 2 RCU"
    assert cost == Cost(rooms.name, "gsi1", "ROOM#r1", rcu=2)


def test_batch_write_rounds_each_item_on_its_own(rooms: TableSchema) -> None:
    small, large = sized(500, pk="A", sk="A"), sized(int(3.5 * KB), pk="B", sk="B")
    costs = [item_write(rooms, item, None, item, transactional=False) for item in (small, large)]
    assert sum(cost.wcu for group in costs for cost in group) == 5  # "500 byte and 3.5 KB ... 5 KB (1 KB + 4 KB)"


def test_a_write_is_billed_on_the_larger_of_the_old_and_new_images(rooms: TableSchema) -> None:
    small, large = sized(500, pk="ROOM#r1", sk="ROOM"), sized(int(1.5 * KB), pk="ROOM#r1", sk="ROOM")
    assert item_write(rooms, ROOM_KEY, small, large, transactional=False) == [Cost(rooms.name, None, "ROOM#r1", 2)]
    assert item_write(rooms, ROOM_KEY, large, small, transactional=False) == [Cost(rooms.name, None, "ROOM#r1", 2)]
    assert item_write(rooms, ROOM_KEY, large, None, transactional=False) == [Cost(rooms.name, None, "ROOM#r1", 2)]
    assert item_write(rooms, ROOM_KEY, None, None, transactional=False) == [Cost(rooms.name, None, "ROOM#r1", 1)]


def test_a_transaction_costs_twice_the_same_writes(rooms: TableSchema) -> None:
    items = [sized(500, pk=f"ITEM#{n}", sk="X") for n in range(3)]
    costs = [cost for item in items for cost in item_write(rooms, item, None, item, transactional=True)]
    assert sum(cost.wcu for cost in costs) == 6  # "three 500-byte items ... provision six WCUs"


def test_a_condition_check_is_billed_as_a_transactional_write(rooms: TableSchema) -> None:
    assert condition_check(rooms, ROOM_KEY, sized(500, pk="ROOM#r1", sk="ROOM")).wcu == 2
    assert condition_check(rooms, ROOM_KEY, None).wcu == 2


# ------------------------------------------------------------------------------------------ failed writes
def test_a_failed_conditional_write_is_billed_by_the_existing_item(rooms: TableSchema) -> None:
    # "a failed conditional write of a 1 KB item would consume one write capacity unit; if the item were
    # twice that size, ... two"; "If the item does not exist, DynamoDB will consume one write capacity unit"
    assert failed_condition(rooms, ROOM_KEY, sized(KB, pk="ROOM#r1", sk="ROOM")).wcu == 1
    assert failed_condition(rooms, ROOM_KEY, sized(2 * KB, pk="ROOM#r1", sk="ROOM")).wcu == 2
    assert failed_condition(rooms, ROOM_KEY, None) == Cost(rooms.name, None, "ROOM#r1", wcu=1)


def test_a_cancelled_transaction_bills_each_items_prepare_and_nothing_on_the_indexes(rooms: TableSchema) -> None:
    room = sized(int(1.5 * KB), pk="ROOM#r1", sk="ROOM")
    assert prepared_only(rooms, ROOM_KEY, room) == Cost(rooms.name, None, "ROOM#r1", wcu=2)
    assert prepared_only(rooms, SEAT_KEY, None, put=seat(300)) == Cost(rooms.name, None, "SEAT#f1#u1", wcu=1)


def test_a_replayed_transaction_is_billed_as_transactional_reads(rooms: TableSchema) -> None:
    assert replayed(rooms, ROOM_KEY, sized(500, pk="ROOM#r1", sk="ROOM")) == Cost(rooms.name, None, "ROOM#r1", rcu=2)


# ------------------------------------------------------------------------------------------------- GSIs
def test_a_new_indexed_item_is_one_write_on_each_index_key(rooms: TableSchema) -> None:
    new = seat()
    assert index_writes(rooms, None, new) == [
        Cost(rooms.name, "gsi1", "ROOM#r1", wcu=1),
        Cost(rooms.name, "gsi2", "EXPIRY#100", wcu=1),
    ]


def test_an_index_key_change_is_a_delete_on_the_old_key_and_a_put_on_the_new(rooms: TableSchema) -> None:
    old, new = seat(bucket="EXPIRY#100"), seat(bucket="EXPIRY#130")
    gsi2 = [cost for cost in index_writes(rooms, old, new) if cost.index == "gsi2"]
    assert gsi2 == [Cost(rooms.name, "gsi2", "EXPIRY#100", wcu=1), Cost(rooms.name, "gsi2", "EXPIRY#130", wcu=1)]


def test_a_projected_attribute_change_is_one_write_and_a_non_projected_one_none(rooms: TableSchema) -> None:
    old, new = seat(note="before"), seat(note="after!")
    # gsi1 projects ALL: `note` changed, one write on the room's key; gsi2 is KEYS_ONLY: nothing changed there
    assert index_writes(rooms, old, new) == [Cost(rooms.name, "gsi1", "ROOM#r1", wcu=1)]


def test_an_item_leaving_an_index_is_one_delete(rooms: TableSchema) -> None:
    old = seat()
    new = {name: value for name, value in old.items() if name not in ("gsi2pk", "gsi2sk")}
    assert [cost for cost in index_writes(rooms, old, new) if cost.index == "gsi2"] == [
        Cost(rooms.name, "gsi2", "EXPIRY#100", wcu=1)
    ]


def test_an_item_in_no_index_costs_the_indexes_nothing(rooms: TableSchema) -> None:
    room = sized(500, pk="ROOM#r1", sk="ROOM")
    assert index_writes(rooms, room, {**room, "occupancy": {"N": "1"}}) == []
    assert index_writes(rooms, None, None) == []


def test_index_writes_are_sized_by_the_projection(rooms: TableSchema) -> None:
    big = seat(3 * KB)  # gsi1 (ALL) holds the whole 3 KB item, gsi2 (KEYS_ONLY) only its four key attributes
    assert index_writes(rooms, None, big) == [
        Cost(rooms.name, "gsi1", "ROOM#r1", wcu=3),
        Cost(rooms.name, "gsi2", "EXPIRY#100", wcu=1),
    ]


def test_include_projection_keeps_the_listed_attributes_only() -> None:
    table = schema_from_description(
        {
            "TableName": "included",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by_owner",
                    "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]},
                }
            ],
        }
    )
    old = {"pk": {"S": "a"}, "owner": {"S": "o"}, "title": {"S": "t"}, "body": {"S": "x" * 5000}}
    assert index_writes(table, old, {**old, "body": {"S": "y"}}) == []  # not projected
    assert index_writes(table, old, {**old, "title": {"S": "u"}}) == [Cost("included", "by_owner", "o", wcu=1)]


def test_transactional_writes_double_the_table_not_the_index_propagation(rooms: TableSchema) -> None:
    new = seat()
    assert item_write(rooms, SEAT_KEY, None, new, transactional=True) == [
        Cost(rooms.name, None, "SEAT#f1#u1", wcu=2),
        Cost(rooms.name, "gsi1", "ROOM#r1", wcu=1),
        Cost(rooms.name, "gsi2", "EXPIRY#100", wcu=1),
    ]


def test_merged_sums_per_key(rooms: TableSchema) -> None:
    costs = [Cost("t", None, "a", wcu=1), Cost("t", "gsi1", "a", wcu=2), Cost("t", None, "a", wcu=2, rcu=0.5)]
    assert merged(costs) == [Cost("t", None, "a", wcu=3, rcu=0.5), Cost("t", "gsi1", "a", wcu=2)]


def test_the_template_schema_is_read_from_template_yaml(rooms: TableSchema) -> None:
    assert (rooms.hash_key, rooms.range_key, rooms.ttl_attribute, rooms.on_demand) == ("pk", "sk", "ttl", True)
    assert [(index.name, index.hash_key, index.projection) for index in rooms.indexes] == [
        ("gsi1", "gsi1pk", "ALL"),
        ("gsi2", "gsi2pk", "KEYS_ONLY"),
    ]


def test_a_number_rewritten_in_another_form_is_no_index_change(rooms: TableSchema) -> None:
    old, new = seat(score="x"), seat(score="x")
    old["level"], new["level"] = {"N": "1.50"}, {"N": "1.5"}  # as sent, and as DynamoDB returns it
    assert index_writes(rooms, old, new) == []
    new["level"] = {"N": "2"}
    assert index_writes(rooms, old, new) == [Cost(rooms.name, "gsi1", "ROOM#r1", wcu=1)]
