"""The API function through moto: every route, its sample event, and every error shape."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

CallApi = Callable[..., tuple[int, Any]]


def create_room(call_api: CallApi, capacity: int = 3, host: str = "host-bob") -> str:
    status, body = call_api("create_room", sub=host, body={"title": "Good Time", "capacity": capacity})
    assert status == 201, body
    return str(body["room_id"])


def test_create_and_read_a_room(call_api: CallApi) -> None:
    # GIVEN the sample create event WHEN it is sent THEN the caller is the host and the room is empty
    status, room = call_api("create_room")
    assert status == 201
    assert room["host_id"] == "host-bob"
    assert room["capacity"] == 5000 and room["occupancy"] == 0 and room["status"] == "open"
    assert room["metadata"] == {"topic": "tech"} and room["index"] == 0
    status, again = call_api("get_room", path={"room_id": room["room_id"]})
    assert status == 200 and again == room


def test_identity_comes_from_the_token_not_the_body(call_api: CallApi) -> None:
    status, body = call_api("create_room", sub="host-bob", body={"title": "x", "capacity": 2, "host_id": "mallory"})
    assert status == 422 and body["error"]["field"] == "host_id"
    status, body = call_api("create_room", sub=None)
    assert status == 401 and body["error"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "x"}, "capacity"),
        ({"title": "x", "capacity": 0}, "capacity"),
        ({"title": "x", "capacity": 8001}, "capacity"),
        ({"title": "", "capacity": 10}, "title"),
        ({"title": "x", "capacity": "many"}, "capacity"),
        ({"title": "x", "capacity": 10, "metadata": {"a": 1}}, "metadata.a"),
    ],
)
def test_bad_room_input_names_the_field(call_api: CallApi, payload: dict[str, Any], field: str) -> None:
    status, body = call_api("create_room", body=payload)
    assert status == 422
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["field"] == field
    assert field.split(".", maxsplit=1)[0] in body["error"]["message"]


def test_malformed_json_is_a_400(call_api: CallApi) -> None:
    status, body = call_api("create_room", raw_body="{not json")
    assert status == 400 and body["error"]["code"] == "INVALID_JSON"


def test_join_is_idempotent_and_capped(call_api: CallApi) -> None:
    room_id = create_room(call_api, capacity=2)
    first = call_api("join_room", path={"room_id": room_id}, sub="u1")
    again = call_api("join_room", path={"room_id": room_id}, sub="u1")
    assert first[0] == again[0] == 200
    assert first[1]["seat"] == again[1]["seat"]
    assert call_api("join_room", path={"room_id": room_id}, sub="u2")[0] == 200
    status, room = call_api("get_room", path={"room_id": room_id})
    assert room["occupancy"] == 2
    # a third user does not get in: the room stays at its cap and the user gets a ticket
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u3")
    assert status == 202 and body["status"] == "queued"
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 2


def test_leave_frees_once(call_api: CallApi) -> None:
    room_id = create_room(call_api, capacity=1)
    call_api("join_room", path={"room_id": room_id}, sub="u1")
    status, body = call_api("leave_room", path={"room_id": room_id}, sub="u1")
    assert status == 200 and body == {"left": True, "room_id": room_id, "ticket_cancelled": False}
    status, body = call_api("leave_room", path={"room_id": room_id}, sub="u1")
    assert status == 200 and body["left"] is False
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 0
    assert call_api("join_room", path={"room_id": room_id}, sub="u2")[0] == 200


def test_heartbeat_extends_the_seat_and_needs_one(call_api: CallApi) -> None:
    room_id = create_room(call_api)
    _, joined = call_api("join_room", path={"room_id": room_id}, sub="u1")
    status, seat = call_api("heartbeat", path={"room_id": room_id}, sub="u1")
    assert status == 200 and seat["expires_at"] >= joined["seat"]["expires_at"]
    status, body = call_api("heartbeat", path={"room_id": room_id}, sub="stranger")
    assert status == 409 and body["error"]["code"] == "NOT_SEATED"


def test_a_heartbeat_is_one_conditional_write_and_never_makes_a_seat(
    call_api: CallApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    import botocore.client

    from rooms.config import settings

    room_id = create_room(call_api)
    call_api("join_room", path={"room_id": room_id}, sub="u1")
    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    caller = threading.get_ident()

    def counted(client: Any, operation: str, params: Any) -> Any:
        if threading.get_ident() == caller:  # a local stack's threads in this process make calls of their own
            calls.append(operation)
        return real(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    # a heartbeat writes the new lease and reads the seat back from that write: no read before it
    assert call_api("heartbeat", path={"room_id": room_id}, sub="u1")[0] == 200
    assert calls == ["UpdateItem"]
    # a user without a seat is refused by the write's condition, which creates nothing
    assert call_api("heartbeat", path={"room_id": room_id}, sub="stranger")[0] == 409
    monkeypatch.undo()
    table = boto3.resource("dynamodb").Table(settings().table_name)
    assert "Item" not in table.get_item(Key={"pk": f"SEAT#{room_id}#stranger", "sk": "SEAT"})
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 1


def test_participants_are_paginated(call_api: CallApi) -> None:
    room_id = create_room(call_api, capacity=5)
    for user in ["u1", "u2", "u3", "u4", "u5"]:
        call_api("join_room", path={"room_id": room_id}, sub=user)
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = call_api("list_participants", path={"room_id": room_id}, query=query)
        assert status == 200 and len(page["participants"]) <= 2
        seen += [seat["user_id"] for seat in page["participants"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["u1", "u2", "u3", "u4", "u5"]
    status, body = call_api("list_participants", path={"room_id": room_id}, query={"cursor": "garbage"})
    assert status == 400 and body["error"]["code"] == "INVALID_CURSOR"
    status, body = call_api("list_participants", path={"room_id": room_id}, query={"limit": "0"})
    assert status == 422 and body["error"]["field"] == "limit"


def test_only_the_host_kicks_and_closes(call_api: CallApi) -> None:
    room_id = create_room(call_api)
    call_api("join_room", path={"room_id": room_id}, sub="user-alice")
    status, body = call_api("kick_participant", path={"room_id": room_id}, sub="user-alice")
    assert status == 403 and body["error"]["code"] == "NOT_MODERATOR"  # nor a moderator
    status, body = call_api("kick_participant", path={"room_id": room_id})
    assert status == 200 and body == {"kicked": True, "user_id": "user-alice"}
    assert call_api("kick_participant", path={"room_id": room_id})[1]["kicked"] is False
    assert call_api("close_room", path={"room_id": room_id}, sub="user-alice")[0] == 403
    call_api("join_room", path={"room_id": room_id}, sub="u9")
    status, room = call_api("close_room", path={"room_id": room_id})
    assert status == 200 and room["status"] == "closed" and room["occupancy"] == 0
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u1")
    assert status == 409 and body["error"]["code"] == "ROOM_CLOSED"


def test_a_ticket_follows_the_seat_it_led_to(call_api: CallApi, aws: dict[str, str]) -> None:
    from tests.integration.test_overflow_worker import run_worker, sqs_event

    # GIVEN three overflow users seated in parallel rooms through their tickets
    room_id = create_room(call_api, capacity=1)
    tickets = {}
    for user in ["u0", "u1", "u2", "u3"]:
        status, body = call_api("join_room", path={"room_id": room_id}, sub=user)
        if status == 202:
            tickets[user] = body["ticket"]["ticket_id"]
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []

    def ticket(user: str) -> dict[str, Any]:
        status, body = call_api("get_ticket", path={"ticket_id": tickets[user]}, sub=user)
        assert status == 200
        return dict(body)

    assert {user: ticket(user)["status"] for user in tickets} == {"u1": "seated", "u2": "seated", "u3": "seated"}
    # WHEN one leaves, one is kicked and the host closes the family on the last
    p1 = ticket("u1")["room_id"]
    assert call_api("leave_room", path={"room_id": room_id}, sub="u1")[1]["left"] is True
    assert call_api("kick_participant", path={"room_id": room_id, "user_id": "u2"})[1]["kicked"] is True
    assert call_api("close_room", path={"room_id": room_id})[0] == 200
    # THEN no ticket still claims a seat, and each says how it ended
    assert (ticket("u1")["status"], ticket("u1")["room_id"], ticket("u1")["reason"]) == ("left", p1, None)
    assert (ticket("u2")["status"], ticket("u2")["reason"]) == ("left", "kicked")
    assert (ticket("u3")["status"], ticket("u3")["reason"]) == ("left", "room_closed")


def test_unknown_things_are_404(call_api: CallApi) -> None:
    for sample in ["get_room", "join_room", "get_family", "list_participants"]:
        status, body = call_api(sample, path={"room_id": "r_doesnotexist"})
        assert status == 404 and body["error"]["code"] == "ROOM_NOT_FOUND", sample
    status, body = call_api("get_ticket")
    assert status == 404 and body["error"]["code"] == "TICKET_NOT_FOUND"


def test_family_lists_main_room(call_api: CallApi) -> None:
    room_id = create_room(call_api, capacity=4)
    call_api("join_room", path={"room_id": room_id}, sub="u1")
    status, family = call_api("get_family", path={"room_id": room_id})
    assert status == 200
    assert family["main_room_id"] == room_id and family["total_occupancy"] == 1 and family["total_capacity"] == 4
    assert [room["index"] for room in family["rooms"]] == [0]


def test_openapi_is_served_without_a_token(call_api: CallApi) -> None:
    status, spec = call_api("openapi", sub=None)
    assert status == 200 and "/rooms/{room_id}/join" in spec["paths"]


def test_an_idempotency_key_makes_create_retries_safe(call_api: CallApi) -> None:
    body = {"title": "Daily show", "capacity": 10}
    first = call_api("create_room", body=body, headers={"Idempotency-Key": "retry-me"})
    again = call_api("create_room", body=body, headers={"Idempotency-Key": "retry-me"})
    assert first[0] == again[0] == 201 and first[1] == again[1]
    other = call_api("create_room", body=body, headers={"Idempotency-Key": "another"})
    assert other[1]["room_id"] != first[1]["room_id"]
    # the same key from another caller is another request
    theirs = call_api("create_room", body=body, sub="someone-else", headers={"Idempotency-Key": "retry-me"})
    assert theirs[1]["room_id"] != first[1]["room_id"]
    status, error = call_api("create_room", body={**body, "capacity": 11}, headers={"Idempotency-Key": "retry-me"})
    assert status == 422 and error["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # without a key, every create is a new room
    assert call_api("create_room", body=body)[1]["room_id"] != call_api("create_room", body=body)[1]["room_id"]


def test_throttling_is_a_503_to_retry_never_a_500(call_api: CallApi, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.client
    from botocore.exceptions import ClientError

    from tests.conftest import LambdaContext, api_event, load_function

    room_id = create_room(call_api)
    real = botocore.client.BaseClient._make_api_call
    answer: dict[str, Exception] = {}

    def refused(client: Any, operation: str, params: Any) -> Any:
        if operation == "TransactWriteItems" and "error" in answer:
            raise answer["error"]
        return real(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refused)
    # GIVEN DynamoDB refusing the admission's transaction as throttled (after botocore's own retries)
    answer["error"] = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "TransactWriteItems"
    )
    # WHEN a user joins THEN the answer says busy, retry: the store's Busy, mapped by the API
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u1")
    assert status == 503 and body["error"]["code"] == "BUSY"
    response = load_function("api").lambda_handler(api_event("join_room", path={"room_id": room_id}), LambdaContext())
    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "1"
    # AND a failure that is no overload stays an internal error
    answer["error"] = RuntimeError("a bug of ours")
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u1")
    assert status == 500 and body["error"]["code"] == "INTERNAL"
