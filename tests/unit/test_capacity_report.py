"""The hot-key report over hand-built charges: per second, per key, per operation, and the ceilings."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from rooms_local.capacity.ledger import Charge
from rooms_local.capacity.report import (
    KeyRef,
    family_joins_ceiling,
    format_report,
    key_usage,
    operation_cost,
    per_second,
    platform_listeners_ceiling,
    report_document,
)

TABLE = "rooms-local-RoomsTable"
T0 = 1_800_000_000.0  # a whole second: charge times below are offsets from it
_request_ids = itertools.count(1)


def charge(
    at: float,
    key: str,
    *,
    wcu: float = 0.0,
    rcu: float = 0.0,
    index: str | None = None,
    operation: str = "UpdateItem",
    throttled: bool = False,
    request_id: int | None = None,
) -> Charge:
    return Charge(
        at=T0 + at,
        operation=operation,
        table=TABLE,
        index=index,
        partition_key=key,
        wcu=wcu,
        rcu=rcu,
        throttled=throttled,
        request_id=next(_request_ids) if request_id is None else request_id,
    )


def join(at: float, room: str, user: str) -> list[Charge]:
    """An admitted join as the first design makes it: one 2-item transaction, the seat on two GSIs."""
    request = next(_request_ids)
    return [
        charge(at, f"ROOM#{room}", wcu=2, operation="TransactWriteItems", request_id=request),
        charge(at, f"SEAT#{room}#{user}", wcu=2, operation="TransactWriteItems", request_id=request),
        charge(at, f"ROOM#{room}", wcu=1, index="gsi1", operation="TransactWriteItems", request_id=request),
        charge(at, "EXPIRY#1", wcu=1, index="gsi2", operation="TransactWriteItems", request_id=request),
    ]


def heartbeat(at: float, user: str, interval: int) -> list[Charge]:
    """A heartbeat: read the seat, then move it from one expiry bucket of gsi2 to the next."""
    get, update = next(_request_ids), next(_request_ids)
    bucket = int(T0 + at) // interval + 2
    return [
        charge(at, f"SEAT#f#{user}", rcu=1, operation="GetItem", request_id=get),
        charge(at, f"SEAT#f#{user}", wcu=1, request_id=update),
        charge(at, f"EXPIRY#{bucket - 1}", wcu=1, index="gsi2", request_id=update),
        charge(at, f"EXPIRY#{bucket}", wcu=1, index="gsi2", request_id=update),
    ]


def heartbeat_window(listeners: int, interval: int, rounds: int, per_second: int) -> tuple[list[Charge], list[float]]:
    """`rounds` heartbeats from each listener, `per_second` of them every second (AWS's pace or slower):
    the charges, and each heartbeat's answer time."""
    charges: list[Charge] = []
    answered: list[float] = []
    beats = [user for _ in range(rounds) for user in range(listeners)]
    for n, user in enumerate(beats):
        at = n // per_second + (n % per_second + 0.5) / per_second
        charges += heartbeat(at, f"u{user}", interval)
        answered.append(T0 + at)
    return charges, answered


# ---------------------------------------------------------------------- per second, per key
def test_units_are_counted_per_second_and_key_and_throttled_units_apart() -> None:
    # GIVEN writes on one key in two seconds, one of them refused by the throttle, and a read on a GSI
    charges = [
        charge(0.1, "ROOM#a", wcu=2),
        charge(0.9, "ROOM#a", wcu=2),
        charge(0.5, "ROOM#a", wcu=2, throttled=True),
        charge(1.2, "ROOM#a", wcu=1),
        charge(1.3, "ROOM#a", rcu=0.5, index="gsi1", operation="Query"),
    ]
    # WHEN they are binned per second
    seconds = per_second(charges)
    # THEN each second holds what it consumed; the refused write is apart, not consumed
    base, gsi = KeyRef(TABLE, None, "ROOM#a"), KeyRef(TABLE, "gsi1", "ROOM#a")
    first, second = seconds[int(T0)], seconds[int(T0) + 1]
    assert (first[base].wcu, first[base].throttled_wcu) == (4, 2)
    assert (second[base].wcu, second[gsi].rcu) == (1, 0.5)
    assert gsi not in first


def test_hot_keys_come_hottest_first_with_their_peak_totals_and_operations() -> None:
    # GIVEN a room key taking 6 WCU in one second and 2 in the next, and a per-user key taking 2
    charges = [
        *join(0.1, "a", "u1"),
        *join(0.2, "a", "u2"),
        *join(0.3, "a", "u3"),
        *join(1.5, "a", "u4"),
        charge(1.6, "ROOM#a", rcu=1, operation="GetItem"),
    ]
    # WHEN the keys are ranked
    usage = key_usage(charges)
    # THEN the room's base key leads: peak second 6 WCU, 8 WCU and 1 RCU in all, from two operations
    room = usage[0]
    assert room.key == KeyRef(TABLE, None, "ROOM#a")
    assert (room.peak_wcu_per_s, room.total.wcu, room.peak_rcu_per_s, room.total.rcu) == (6, 8, 1, 1)
    assert room.requests == {"TransactWriteItems": 4, "GetItem": 1}
    assert room.by_operation["TransactWriteItems"].wcu == 8
    # AND the GSI keys follow (3 WCU in their peak second), every seat key last (2 WCU once)
    assert [entry.peak_wcu_per_s for entry in usage[1:3]] == [3, 3]
    assert {entry.key.index for entry in usage[1:3]} == {"gsi1", "gsi2"}
    assert all(entry.key.partition_key.startswith("SEAT#") for entry in usage[3:])


# ---------------------------------------------------------------------- per operation
def test_an_operation_costs_its_units_per_call_and_its_hottest_key_per_call() -> None:
    # GIVEN a window of 4 admitted joins into one room
    charges = [c for n in range(4) for c in join(n * 0.2, "a", f"u{n}")]
    # WHEN it is read as 4 calls of admitted_join
    cost = operation_cost("admitted_join", charges, calls=4)
    # THEN each join costs 6 WCU, 2 of them on the room item: the hottest key
    assert (cost.wcu_total, cost.rcu_total) == (6, 0)
    assert cost.wcu_hottest_key == 2 and cost.wcu_hottest.key == KeyRef(TABLE, None, "ROOM#a")
    assert cost.rcu_hottest_key == 0 and cost.rcu_hottest.key is None
    assert cost.wcu_hottest_paced == cost.wcu_hottest
    assert cost.requests_per_call == {"TransactWriteItems": 1}


def test_throttled_units_are_reported_per_call_but_never_as_consumed() -> None:
    charges = [charge(0, "ROOM#a", wcu=2), charge(0.5, "ROOM#a", wcu=2, throttled=True)]
    cost = operation_cost("admitted_join", charges, calls=1)
    assert (cost.wcu_total, cost.throttled_wcu, cost.wcu_hottest_key) == (2, 2, 2)


def test_a_window_with_no_call_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        operation_cost("leave", [], calls=0)


def test_a_time_bucketed_key_is_paced_over_a_stretch_of_calls_inside_its_bucket() -> None:
    # GIVEN 1,200 listeners heartbeating every 30 s, twice, at a quarter of AWS's pace (10/s, not 40/s):
    # each heartbeat moves its seat from one gsi2 expiry bucket to the next
    slow, answered = heartbeat_window(listeners=1200, interval=30, rounds=2, per_second=10)
    # WHEN the window is read as its 2,400 heartbeats, with their answer times
    cost = operation_cost("heartbeat", slow, calls=2400, call_times=answered)
    # THEN paced, a bucket takes 1 WCU per heartbeat while it is current, as at AWS's pace; over the whole
    # window it looks four times cooler (it spans 8 buckets, where AWS's pace spans 2)
    paced = cost.wcu_hottest_paced
    assert paced.key is not None and paced.key.partition_key.startswith("EXPIRY#")
    assert paced.per_call == pytest.approx(1.0)
    assert cost.wcu_hottest_key == pytest.approx(0.25)
    # AND a per-user key is nowhere near: one seat read per round
    assert cost.rcu_hottest_paced.per_call == pytest.approx(1 / 120)  # in a stretch of 120 heartbeats


def test_a_storms_phases_are_paced_apart() -> None:
    # GIVEN 500 admissions at 2 WCU on the room item, then 1,500 queued joins at 1 WCU on it, 20 a second
    charges, answered = [], []
    for n in range(2000):
        charges.append(charge(n / 20, "ROOM#a", wcu=2 if n < 500 else 1, operation="TransactWriteItems"))
        answered.append(T0 + n / 20 + 0.01)
    cost = operation_cost("storm", charges, calls=2000, call_times=answered)
    # THEN the admission phase sets the pace: 2 WCU per join (1.25 over the whole storm)
    assert cost.wcu_hottest_paced.per_call == pytest.approx(2.0)
    assert cost.wcu_hottest_key == pytest.approx(1.25)
    assert family_joins_ceiling(cost).value == pytest.approx(500)


def test_a_workers_bursts_are_shared_by_the_calls_around_them() -> None:
    # GIVEN 2,000 queued joins, 20 a second, and the worker seating the last 5 s of them in one batch every
    # 5 s: 100 seats written at once on a parallel room's gsi1 key
    charges, answered = [], []
    for n in range(2000):
        charges.append(charge(n / 20, "ROOM#a", wcu=0.5, operation="TransactWriteItems"))
        answered.append(T0 + n / 20 + 0.01)
    for batch in range(20):
        charges.append(charge(5 * batch + 2.25, "ROOM#a-p1", wcu=100, index="gsi1", operation="TransactWriteItems"))
    cost = operation_cost("storm", charges, calls=2000, call_times=answered)
    # THEN paced, the key takes 1 WCU per join, as a worker keeping pace would give it (per second: 5)
    paced = cost.wcu_hottest_paced
    assert paced.key == KeyRef(TABLE, "gsi1", "ROOM#a-p1")
    assert paced.per_call == pytest.approx(1.0)


def test_call_times_must_be_one_per_call() -> None:
    with pytest.raises(ValueError, match="call times"):
        operation_cost("storm", [charge(0, "ROOM#a", wcu=1)], calls=2, call_times=[T0])


def test_a_key_charged_all_through_the_window_gets_the_whole_window_quotient() -> None:
    # GIVEN joins at 3 a second for 5 s on one room
    charges = [c for n in range(15) for c in join(n / 3, "a", f"u{n}")]
    cost = operation_cost("storm", charges, calls=15)
    assert cost.wcu_hottest_key == pytest.approx(2.0) == cost.wcu_hottest_paced.per_call


# ---------------------------------------------------------------------- ceilings
def test_family_joins_are_1000_wcu_over_the_hottest_keys_units_per_join() -> None:
    # GIVEN a storm whose hottest key takes 2 WCU per join
    storm = operation_cost("storm", [c for n in range(10) for c in join(n * 0.1, "a", f"u{n}")], calls=10)
    # THEN one family takes 1,000 / 2 = 500 joins a second, bound by WCU on the room item
    ceiling = family_joins_ceiling(storm)
    assert ceiling.value == pytest.approx(500)
    assert (ceiling.unit, ceiling.key) == ("wcu", KeyRef(TABLE, None, "ROOM#a"))


def test_family_joins_take_the_lower_of_the_write_and_read_bounds() -> None:
    # GIVEN joins that each also read 8 RCU from one key (3,000 / 8 = 375 < 1,000 / 2 = 500)
    charges = []
    for n in range(10):
        charges += join(n * 0.1, "a", f"u{n}")
        charges.append(charge(n * 0.1, "FAMILY#a", rcu=8, operation="Query", index="gsi1"))
    ceiling = family_joins_ceiling(operation_cost("storm", charges, calls=10))
    assert ceiling.value == pytest.approx(375)
    assert (ceiling.unit, ceiling.key, ceiling.per_call) == ("rcu", KeyRef(TABLE, "gsi1", "FAMILY#a"), 8)


def test_the_hottest_key_over_all_keys_sets_the_family_ceiling_even_on_a_gsi() -> None:
    # GIVEN a storm where every join also writes 4 WCU onto one GSI key, more than the room item's 2
    charges = []
    for n in range(10):
        charges += join(n * 0.1, "a", f"u{n}")
        charges.append(charge(n * 0.1, "TICKETS#a", wcu=4, index="gsi1"))
    ceiling = family_joins_ceiling(operation_cost("storm", charges, calls=10))
    assert ceiling.value == pytest.approx(250) and ceiling.key == KeyRef(TABLE, "gsi1", "TICKETS#a")


def test_a_sharded_gsi_key_binds_by_its_own_units_not_its_familys_sum() -> None:
    # GIVEN a storm whose joins each write 4 WCU of ticket index, spread over 4 shards of the family's key
    charges = []
    for n in range(40):
        charges += join(n * 0.1, "a", f"u{n}")
        charges.append(charge(n * 0.1, f"TICKETS#a#{n % 4}", wcu=4, index="gsi1"))
    ceiling = family_joins_ceiling(operation_cost("storm", charges, calls=40))
    # THEN each shard takes 1 WCU per join: the room item's 2 binds (500/s), not the family's 4 (250/s)
    assert ceiling.value == pytest.approx(500) and ceiling.key == KeyRef(TABLE, None, "ROOM#a")
    # and the report names a shard by its full key, family and shard both
    hot = {entry.key.partition_key for entry in key_usage(charges) if entry.key.index == "gsi1"}
    assert {"TICKETS#a#0", "TICKETS#a#3"} <= hot


def test_platform_listeners_are_1000_times_the_interval_over_a_shared_keys_units_per_heartbeat() -> None:
    # GIVEN 3,000 listeners heartbeating every 30 s at AWS's pace (100/s) and at a quarter of it
    interval = 30
    for pace in (100, 25):
        window, answered = heartbeat_window(listeners=3000, interval=interval, rounds=2, per_second=pace)
        cost = operation_cost("heartbeat", window, calls=6000, call_times=answered)
        ceiling = platform_listeners_ceiling(cost, interval)
        # THEN each expiry bucket takes 1 WCU per heartbeat: 1,000 x 30 / 1 = 30,000 listeners, at either pace
        assert ceiling.value == pytest.approx(30_000)
        assert ceiling.unit == "wcu" and ceiling.key is not None and ceiling.key.index == "gsi2"


def test_per_user_keys_alone_divide_by_the_listeners() -> None:
    # GIVEN heartbeats that touch only each listener's own seat: 50 listeners, all in the same second
    charges = [c for user in range(50) for c in heartbeat(0.5, f"u{user}", 30)[:2]]
    ceiling = platform_listeners_ceiling(operation_cost("heartbeat", charges, calls=50), 30)
    # THEN each seat takes 1/50 WCU per heartbeat of the platform: 1,000 x 30 x 50 listeners
    assert ceiling.value == pytest.approx(1_500_000)


def test_no_units_is_no_bound_and_a_bad_interval_is_refused() -> None:
    cost = operation_cost("heartbeat", [charge(0, "SEAT#x")], calls=1)
    assert math.isinf(family_joins_ceiling(cost).value)
    with pytest.raises(ValueError, match="interval"):
        platform_listeners_ceiling(cost, 0)


# ---------------------------------------------------------------------- the document
def test_the_document_has_the_ceilings_every_operation_and_the_hot_keys() -> None:
    # GIVEN a storm, a heartbeat window and two measured operations
    storm_charges = [c for n in range(10) for c in join(n * 0.1, "a", f"u{n}")]
    beats, answered = heartbeat_window(listeners=20, interval=30, rounds=2, per_second=1)
    joins = operation_cost("storm", storm_charges, calls=10)
    heartbeats = operation_cost("heartbeat", beats, calls=40, call_times=answered)
    operations = {"admitted_join": joins, "heartbeat": heartbeats}
    # WHEN the document is made
    document = report_document(
        operations=operations,
        storm=joins,
        storm_charges=storm_charges,
        heartbeats=heartbeats,
        heartbeat_charges=beats,
        heartbeat_interval_seconds=30,
        parameters={"users": 10},
    )
    # THEN it is JSON with the figures the issue names
    document = json.loads(json.dumps(document))
    assert document["ceilings"]["family_joins_per_s"] == 500
    assert document["ceilings"]["platform_listeners"] == 30_000
    assert document["per_operation"]["admitted_join"]["wcu_total"] == 6
    assert document["per_operation"]["admitted_join"]["wcu_hottest_key"] == 2
    assert document["per_operation"]["heartbeat"]["paced"]["wcu_hottest_key"]["per_call"] == pytest.approx(1)
    assert document["parameters"] == {"users": 10}
    assert len(document["hot_keys"]) == 10
    top = document["storm"]["hot_keys"][0]
    assert (top["partition_key"], top["index"], top["peak_wcu_per_s"]) == ("ROOM#a", None, 20)
    assert top["operations"] == {"TransactWriteItems": {"requests": 10, "wcu": 20, "rcu": 0}}
    # AND the text table says the same
    text = format_report(document)
    assert "joins/s into one room family" in text and "500" in text
    assert "30,000" in text and "ROOM#a" in text and "EXPIRY#" in text
