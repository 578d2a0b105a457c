"""Rooms in the table (moto): bounded metadata kept off the hot room item, and per-host creation quotas.

Before: an empty key, a 70 KB key or a 400 KB value failed the DynamoDB write (500); accepted metadata
was stored on the room item every admission updates, and copied into every parallel room; a host could
create rooms and book shows without limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests.integration.test_events import book, scheduled, shows  # noqa: F401  (the fixture)

CallApi = Callable[..., tuple[int, Any]]
TABLE = "rooms-test-RoomsTable"


def raw_item(pk: str, sk: str) -> dict[str, Any] | None:
    answer = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    item: dict[str, Any] | None = answer.get("Item")
    return item


def create(call_api: CallApi, host: str = "host-bob", **body: Any) -> tuple[int, Any]:
    return call_api("create_room", sub=host, body={"title": "Good Time", "capacity": 3, **body})


# ---------------------------------------------------------------- metadata limits


@pytest.mark.parametrize(
    ("metadata", "why"),
    [
        ({"": "x"}, "1 to 64 characters"),
        ({"k" * 70_000: "v"}, "1 to 64 characters"),
        ({"k" * 65: "v"}, "1 to 64 characters"),
        ({"k": "v" * 400_001}, "1024 bytes"),
        ({"k": "é" * 513}, "1024 bytes"),  # 1,026 bytes in UTF-8
        ({f"k{n}": "v" * 1000 for n in range(5)}, "4096 bytes in all"),
        ({f"k{n}": "v" for n in range(33)}, "32"),
        ({"line\nbreak": "v"}, "control"),
        ({"rtl\u202eoverride": "v"}, "control"),
        ({"zero\u200bwidth": "v"}, "control"),
    ],
)
def test_metadata_beyond_its_limits_is_a_422(call_api: CallApi, metadata: dict[str, str], why: str) -> None:
    status, body = create(call_api, metadata=metadata)
    assert status == 422, body
    assert body["error"]["code"] == "VALIDATION_ERROR" and body["error"]["field"] == "metadata"
    assert why in body["error"]["message"]


def test_metadata_that_is_not_unicode_is_a_422(call_api: CallApi) -> None:
    raw = '{"title": "x", "capacity": 3, "metadata": {"k": "\\ud800"}}'  # a lone surrogate
    status, body = call_api("create_room", sub="host-bob", raw_body=raw)
    assert status == 422 and body["error"]["field"] == "metadata", body


def test_metadata_at_its_limits_is_kept_off_the_room_item(call_api: CallApi) -> None:
    # GIVEN metadata as large as allowed (three 1 KB values, multibyte included)
    metadata = {"a": "v" * 1024, "b": "é" * 512, "clé": "x" * 1000}
    status, room = create(call_api, metadata=metadata)
    assert status == 201, room
    assert room["metadata"] == metadata
    assert call_api("get_room", path={"room_id": room["room_id"]})[1]["metadata"] == metadata
    # THEN the room item every admission updates carries none of it and stays well under 1 KB (1 WCU)
    item = raw_item(f"ROOM#{room['room_id']}", "ROOM")
    assert item is not None and "metadata" not in item
    assert len(json.dumps(item)) < 1024
    # AND the family's metadata item holds it
    details = raw_item(f"ROOM#{room['room_id']}", "META")
    assert details is not None and set(details["metadata"]["M"]) == set(metadata)


def test_a_room_without_metadata_writes_no_metadata_item(call_api: CallApi) -> None:
    status, room = create(call_api)
    assert status == 201 and room["metadata"] == {}
    assert raw_item(f"ROOM#{room['room_id']}", "META") is None
    assert call_api("get_family", path={"room_id": room["room_id"]})[1]["rooms"][0]["metadata"] == {}


def test_parallel_rooms_share_the_family_metadata_without_copying_it(call_api: CallApi) -> None:
    from rooms.adapters.room_store import DynamoRoomStore

    metadata = {"topic": "tech", "lang": "fr"}
    room_id = create(call_api, metadata=metadata)[1]["room_id"]
    store = DynamoRoomStore()
    main = store.get_room(room_id, consistent=True)
    # WHEN two parallel rooms are made
    for index in (1, 2):
        store.create_parallel_room(main if index == 1 else store.get_room(room_id, consistent=True), index, _now())
    # THEN their items carry no metadata, yet every room reads the family's
    for index in (1, 2):
        item = raw_item(f"ROOM#{room_id}-p{index}", "ROOM")
        assert item is not None and "metadata" not in item and len(json.dumps(item)) < 1024
        status, parallel = call_api("get_room", path={"room_id": f"{room_id}-p{index}"})
        assert status == 200 and parallel["metadata"] == metadata and parallel["index"] == index
    status, family = call_api("get_family", path={"room_id": room_id})
    assert status == 200 and [r["metadata"] for r in family["rooms"]] == [metadata] * 3
    assert [r["index"] for r in family["rooms"]] == [0, 1, 2]


def test_rooms_stored_before_the_split_keep_their_metadata(call_api: CallApi) -> None:
    # GIVEN a room item written the old way, with its metadata on it
    room_id = create(call_api)[1]["room_id"]
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": f"ROOM#{room_id}"}, "sk": {"S": "ROOM"}},
        UpdateExpression="SET metadata = :m",
        ExpressionAttributeValues={":m": {"M": {"old": {"S": "yes"}}}},
    )
    # THEN it still reads
    assert call_api("get_room", path={"room_id": room_id})[1]["metadata"] == {"old": "yes"}


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- quotas


@pytest.fixture
def quota(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    from rooms.config import settings

    monkeypatch.setenv("ROOMS_MAX_OPEN_ROOMS_PER_HOST", "2")
    monkeypatch.setenv("ROOMS_MAX_BOOKED_SHOWS_PER_HOST", "2")
    settings.cache_clear()
    yield 2
    settings.cache_clear()


def counted(host: str, counter: str) -> int:
    item = raw_item(f"HOST#{host}", "QUOTA")
    return int(item[counter]["N"]) if item and counter in item else 0


def assert_quota_exceeded(answer: tuple[int, Any]) -> None:
    status, body = answer
    assert status == 409, body
    assert body["error"]["code"] == "QUOTA_EXCEEDED" and "2" in body["error"]["message"]


def test_a_host_may_hold_only_so_many_open_rooms(call_api: CallApi, quota: int) -> None:
    # GIVEN a host at their quota of open rooms
    first = create(call_api)[1]["room_id"]
    assert create(call_api)[0] == 201
    assert counted("host-bob", "open_rooms") == quota
    # WHEN they create one more THEN it is refused and nothing was written; other hosts are not affected
    assert_quota_exceeded(create(call_api, metadata={"k": "v"}))
    assert counted("host-bob", "open_rooms") == quota
    assert create(call_api, host="host-carol")[0] == 201
    # WHEN they close one (twice) THEN exactly one room may be created again
    assert call_api("close_room", path={"room_id": first}, sub="host-bob")[0] == 200
    assert call_api("close_room", path={"room_id": first}, sub="host-bob")[0] == 200
    assert counted("host-bob", "open_rooms") == quota - 1
    assert create(call_api)[0] == 201
    assert_quota_exceeded(create(call_api))


def test_parallel_rooms_and_retried_creates_do_not_count(call_api: CallApi, quota: int) -> None:
    from rooms.adapters.room_store import DynamoRoomStore

    # GIVEN one room created twice with the same Idempotency-Key
    headers = {"Idempotency-Key": "create-once"}
    first = call_api("create_room", sub="host-bob", body={"title": "x", "capacity": 2}, headers=headers)
    again = call_api("create_room", sub="host-bob", body={"title": "x", "capacity": 2}, headers=headers)
    assert first[0] == again[0] == 201 and first[1]["room_id"] == again[1]["room_id"]
    # AND a parallel room of it
    store = DynamoRoomStore()
    store.create_parallel_room(store.get_room(first[1]["room_id"], consistent=True), 1, _now())
    # THEN the host holds one room of their quota, and may create one more
    assert counted("host-bob", "open_rooms") == 1
    assert create(call_api)[0] == 201
    assert_quota_exceeded(create(call_api))


def test_a_host_may_book_only_so_many_shows(call_api: CallApi, shows: dict[str, str], quota: int) -> None:  # noqa: F811
    # GIVEN a host with two booked shows
    first = book(call_api, host="host-bob")
    second = book(call_api, host="host-bob", starts_at="2030-12-01T20:00:00+01:00", ends_at="2030-12-01T21:00:00+01:00")
    # WHEN they book a third THEN it is refused, and no show nor schedule was made
    status, body = call_api("create_event", sub="host-bob", body={"title": "third", **_times("2030-12-02")})
    assert_quota_exceeded((status, body))
    assert counted("host-bob", "booked_shows") == quota
    listed = call_api("list_events", sub="host-bob", query={"limit": "10"})[1]["events"]
    assert {event["event_id"] for event in listed} == {first["event_id"], second["event_id"]}
    # WHEN one is cancelled (twice) THEN one more may be booked
    assert call_api("cancel_event", path={"event_id": first["event_id"]}, sub="host-bob")[0] == 200
    assert call_api("cancel_event", path={"event_id": first["event_id"]}, sub="host-bob")[0] == 200
    assert counted("host-bob", "booked_shows") == quota - 1
    third = book(call_api, host="host-bob", **_times("2030-12-02"))
    assert_quota_exceeded(call_api("create_event", sub="host-bob", body={"title": "4th", **_times("2030-12-03")}))
    # WHEN a one-time show ends THEN it no longer counts either
    scheduled("open", third["event_id"], "2030-12-02T19:00:00Z")
    assert scheduled("close", third["event_id"], "2030-12-02T20:00:00Z")["status"] == "ended"
    assert counted("host-bob", "booked_shows") == quota - 1
    assert book(call_api, host="host-bob", **_times("2030-12-03"))["status"] == "scheduled"


def test_a_booking_the_scheduler_refused_gives_its_quota_back(
    call_api: CallApi,
    shows: dict[str, str],  # noqa: F811
    quota: int,
) -> None:
    # GIVEN a scheduler that refuses every schedule (its group is gone)
    boto3.client("scheduler").delete_schedule_group(Name=shows["ROOMS_SCHEDULE_GROUP"])
    # WHEN the host books THEN nothing is booked and nothing stays counted
    for _ in range(quota + 1):
        status, body = call_api("create_event", sub="host-bob", body={"title": "x", **_times("2030-12-02")})
        assert status == 503 and body["error"]["code"] == "SCHEDULER_UNAVAILABLE", body
    assert counted("host-bob", "booked_shows") == 0


def _times(day: str) -> dict[str, Any]:
    return {
        "starts_at": f"{day}T20:00:00+01:00",
        "ends_at": f"{day}T21:00:00+01:00",
        "timezone": "Europe/Paris",
        "capacity": 10,
        "expected_audience": 0,
    }


@pytest.mark.stack
def test_concurrent_creates_never_pass_the_quota_on_dynamodb_local(needs_java: None) -> None:
    # moto is not atomic under concurrency: the race runs on DynamoDB Local, through the local stack
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from rooms_local.stack import LocalStack
    from rooms_local.tokens import mint_token

    limit, attempts = 3, 16
    headers = {"Authorization": f"Bearer {mint_token('host-racer')}"}
    with LocalStack(pollers=False, max_instances=4, parameters={"MaxOpenRoomsPerHost": limit}) as stack:
        with httpx.Client(base_url=stack.api_url, timeout=60) as http:

            def create_one(n: int) -> httpx.Response:
                for _ in range(50):  # 503 BUSY/CONTENTION did nothing: retry it, as the API contract says
                    response = http.post("/rooms", json={"title": f"race {n}", "capacity": 2}, headers=headers)
                    if response.status_code != 503:
                        break
                return response

            with ThreadPoolExecutor(attempts) as pool:
                answers = list(pool.map(create_one, range(attempts)))
        # THEN exactly `limit` rooms were created, every other create was refused, and the count is exact
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] * limit + [409] * (attempts - limit), [answer.text for answer in answers]
        assert {answer.json()["error"]["code"] for answer in answers if answer.status_code == 409} == {"QUOTA_EXCEEDED"}
        table = stack.template.tables["RoomsTable"].name
        key = {"pk": {"S": "HOST#host-racer"}, "sk": {"S": "QUOTA"}}
        item = stack.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
        assert item["open_rooms"]["N"] == str(limit)
