"""The lifecycle relay through moto: stream records (as Lambda's mapping delivers them, through the
template's filters) into the function, and its events onto an EventBridge bus whose rule feeds a queue.
The table's own stream is read end to end on the local stack (DynamoDB Local's): moto's drops records."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from rooms_local.naming import LocalNaming
from rooms_local.stream_source import RecordFilter
from rooms_local.template import load_template
from tests.conftest import ROOT, LambdaContext, load_event, load_function
from tests.integration.test_api import create_room

CallApi = Callable[..., tuple[int, Any]]
BUS = "rooms-test-LifecycleEventBus"  # the template's bus, as the tests' environment names it
_serialize = TypeSerializer().serialize


def stream_record(kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None, sequence: int) -> dict[str, Any]:
    """A DynamoDB stream record as Lambda delivers it (NEW_AND_OLD_IMAGES)."""
    item = new or old or {}
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": 1796306400,
        "Keys": {"pk": _serialize(item["pk"]), "sk": _serialize(item["sk"])},
        "SequenceNumber": str(sequence),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    for name, image in (("OldImage", old), ("NewImage", new)):
        if image is not None:
            change[name] = {key: _serialize(value) for key, value in image.items() if value is not None}
    return {"eventID": f"change-{sequence}", "eventName": kind, "eventSource": "aws:dynamodb", "dynamodb": change}


class Tap:
    """A rule taking every lifecycle event of the bus into a queue."""

    def __init__(self) -> None:
        events, self.sqs = boto3.client("events"), boto3.client("sqs")
        events.create_event_bus(Name=BUS)
        self.queue = self.sqs.create_queue(QueueName="lifecycle-tap")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="everything", EventBusName=BUS, EventPattern=json.dumps({"source": ["rooms"]}))
        events.put_targets(Rule="everything", EventBusName=BUS, Targets=[{"Id": "tap", "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        found = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages"):
            found += [json.loads(message["Body"]) for message in messages]
            entries = [{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages]
            self.sqs.delete_message_batch(QueueUrl=self.queue, Entries=entries)
        return found


@pytest.fixture
def tap(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Tap]:
    from rooms.adapters.event_bus import EventBridgeBus
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.lifecycle import LifecycleRelay

    monkeypatch.setattr(load_function("lifecycle"), "relay", LifecycleRelay(DynamoRoomStore(), EventBridgeBus(BUS)))
    yield Tap()


def relay(event: dict[str, Any]) -> list[str]:
    response = load_function("lifecycle").lambda_handler(event, LambdaContext(function_name="lifecycle"))
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def template_filter() -> RecordFilter:
    (mapping,) = load_template(ROOT / "template.yaml", naming=LocalNaming(stack="rooms-test")).stream_events
    return RecordFilter(mapping.filter_patterns)


ROOM = {"pk": "ROOM#r1", "sk": "ROOM", "room_id": "r1", "occupancy": 1, "status": "open"}
SHARD = {"pk": "ROOM#r1#3", "sk": "SHARD", "room_id": "r1", "occupancy": 1, "status": "open"}
SEAT = {"pk": "SEAT#r1#u1", "sk": "SEAT", "room_id": "r1", "expires_at": "a"}
SHOW = {"pk": "EVENT#e1", "sk": "EVENT", "status": "scheduled"}
TICKET = {"pk": "TICKET#t1", "sk": "TICKET", "status": "seated", "room_id": "r1-p1", "gsi1pk": "PROMOTE#r1#5"}


@pytest.mark.parametrize(
    ("kind", "old", "new", "passes"),
    [
        ("INSERT", None, ROOM, True),
        ("MODIFY", ROOM, {**ROOM, "occupancy": 2}, True),  # a join: the room may fill
        ("MODIFY", SHARD, {**SHARD, "occupancy": 2}, True),
        ("REMOVE", ROOM, None, False),
        ("INSERT", None, SEAT, False),
        ("MODIFY", SEAT, {**SEAT, "expires_at": "b"}, False),  # a heartbeat
        ("MODIFY", SHOW, {**SHOW, "status": "live"}, True),
        ("MODIFY", {**SHOW, "status": "live"}, {**SHOW, "status": "ended"}, True),
        ("MODIFY", SHOW, {**SHOW, "status": "cancelled"}, False),
        ("MODIFY", TICKET, {**TICKET, "room_id": "r1", "gsi1pk": "TICKETS#r1#5"}, True),  # a promotion
        ("MODIFY", {**TICKET, "status": "queued"}, TICKET, False),  # seated in a parallel room
        ("INSERT", None, {"pk": "CONN#u1", "sk": "abc="}, False),
        ("MODIFY", {"pk": "HOST#h", "sk": "QUOTA"}, {"pk": "HOST#h", "sk": "QUOTA", "open_rooms": 1}, False),
    ],
)
def test_the_templates_filters_let_through_only_what_can_tell_something(
    kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None, passes: bool
) -> None:
    assert template_filter().passes(stream_record(kind, old, new, 1)) is passes


def test_the_sample_stream_event_publishes_its_room_opened_on_the_bus(tap: Tap) -> None:
    assert relay(load_event("lifecycle/table_changes")) == []
    (told,) = tap.received()
    assert (told["source"], told["detail-type"]) == ("rooms", "room.opened")
    assert told["detail"] == {
        "type": "room.opened",
        "version": 1,
        "id": "c8b0f7f4c1a94e3d9a1b2c3d4e5f6a7b:room.opened",
        "at": "2026-12-03T14:00:00.000Z",
        "data": {
            "room_id": "r_sample",
            "family_id": "r_sample",
            "index": 0,
            "host_id": "host-bob",
            "title": "Good Time",
            "capacity": 5000,
        },
    }
    # a redelivery tells it again, with the same id: consumers deduplicate on it
    assert relay(load_event("lifecycle/table_changes")) == []
    assert [event["detail"]["id"] for event in tap.received()] == [told["detail"]["id"]]


def test_a_shard_filling_tells_room_full_once_the_stored_room_is_full(call_api: CallApi, tap: Tap) -> None:
    # GIVEN a room of 3 in the table, with 2 then 3 listeners
    room_id = create_room(call_api, capacity=3)
    item = {"pk": f"ROOM#{room_id}", "sk": "ROOM", "room_id": room_id, "index": 0, "capacity": 3, "status": "open"}
    filled = [stream_record("MODIFY", {**item, "occupancy": 2}, {**item, "occupancy": 3}, 7)]
    for user in ("u1", "u2"):
        assert call_api("join_room", path={"room_id": room_id}, sub=user)[0] == 200
    # WHEN the change that filled its shard is relayed before the table says full THEN nothing is told
    assert relay({"Records": filled}) == [] and tap.received() == []
    assert call_api("join_room", path={"room_id": room_id}, sub="u3")[0] == 200
    assert relay({"Records": filled}) == []
    (full,) = tap.received()
    assert full["detail-type"] == "room.full"
    assert full["detail"]["data"] == {"room_id": room_id, "family_id": room_id, "index": 0, "capacity": 3}


class RefusingEvents:
    """An EventBridge client whose every entry fails inside EventBridge, as PutEvents reports it."""

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        failed = {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}
        return {"FailedEntryCount": len(Entries), "Entries": [failed for _ in Entries]}


def test_a_record_the_bus_refuses_is_reported_failed_for_lambda_to_retry(
    tap: Tap, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rooms.adapters.event_bus import EventBridgeBus
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.lifecycle import LifecycleRelay

    # GIVEN a bus whose PutEvents fails every entry
    refusing = EventBridgeBus(BUS, client=RefusingEvents())
    monkeypatch.setattr(load_function("lifecycle"), "relay", LifecycleRelay(DynamoRoomStore(), refusing))
    event = load_event("lifecycle/table_changes")
    # THEN its record is reported failed by sequence number (Lambda retries from it), and nothing was told
    assert relay(event) == [event["Records"][0]["dynamodb"]["SequenceNumber"]]
    assert tap.received() == []
