"""Pagination cursors through the API (moto): genuine ones page through, anything else is 400 INVALID_CURSOR.

Before cursors were sealed, each forged cursor here reached DynamoDB as a start key and answered 500.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.test_events import book, shows  # noqa: F401  (the fixture)

CallApi = Callable[..., tuple[int, Any]]


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def seated_room(call_api: CallApi, users: list[str], host: str = "host-bob") -> str:
    status, room = call_api("create_room", sub=host, body={"title": "Paged", "capacity": len(users)})
    assert status == 201, room
    for user in users:
        assert call_api("join_room", path={"room_id": room["room_id"]}, sub=user)[0] == 200
    return str(room["room_id"])


def participants_page(call_api: CallApi, room_id: str, cursor: str | None, limit: int = 2) -> tuple[int, Any]:
    query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
    return call_api("list_participants", path={"room_id": room_id}, query=query)


def assert_invalid_cursor(answer: tuple[int, Any]) -> None:
    status, body = answer
    assert status == 400, body
    assert body["error"]["code"] == "INVALID_CURSOR"


def test_a_genuine_cursor_pages_through_every_participant(call_api: CallApi) -> None:
    users = ["auth0|u1", "u2@example.com", "u 3", "ü4", "u5"]
    room_id = seated_room(call_api, users)
    seen: list[str] = []
    cursor = None
    while True:
        status, page = participants_page(call_api, room_id, cursor)
        assert status == 200, page
        seen += [seat["user_id"] for seat in page["participants"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
        # the cursor is opaque: no key names, no user ids (patterns long enough that random bytes never hold them)
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        assert b"gsi1pk" not in decoded and b"SEAT#" not in decoded and b"auth0|u1" not in decoded
    assert sorted(seen) == sorted(users)


@pytest.mark.parametrize(
    "forged",
    [
        "eyJhIjoxfQ==",  # {"a":1}
        _b64({"pk": {"S": "SEAT#r_x#u1"}}),  # a partial raw key
        _b64({"pk": {"S": "x"}, "sk": {"S": "SEAT"}, "gsi1pk": {"S": "ROOM#r_x"}, "gsi1sk": {"N": "1"}}),
        _b64(["a", "b"]),
        "garbage",
    ],
)
def test_forged_participant_cursors_are_400(call_api: CallApi, forged: str) -> None:
    room_id = seated_room(call_api, ["u1", "u2", "u3"])
    assert_invalid_cursor(participants_page(call_api, room_id, forged))


def test_a_cursor_of_another_room_is_400(call_api: CallApi) -> None:
    # GIVEN a genuine cursor of room A
    room_a = seated_room(call_api, ["a1", "a2", "a3"])
    room_b = seated_room(call_api, ["b1", "b2", "b3"])
    status, page = participants_page(call_api, room_a, None)
    assert status == 200 and page["next_cursor"]
    # WHEN it is used on room B THEN it is refused, and on room A it still works
    assert_invalid_cursor(participants_page(call_api, room_b, page["next_cursor"]))
    status, rest = participants_page(call_api, room_a, page["next_cursor"])
    assert status == 200 and {seat["user_id"] for seat in rest["participants"]} <= {"a1", "a2", "a3"}
    # an edited cursor is refused too
    edited = page["next_cursor"][:-2] + ("AA" if not page["next_cursor"].endswith("AA") else "BB")
    assert_invalid_cursor(participants_page(call_api, room_a, edited))


def test_event_cursors_are_bound_to_their_host(call_api: CallApi, shows: dict[str, str]) -> None:  # noqa: F811
    # GIVEN two shows of bob's, listed one per page
    book(call_api, host="host-bob")
    book(call_api, host="host-bob", starts_at="2030-12-01T20:00:00+01:00", ends_at="2030-12-01T21:00:00+01:00")
    book(call_api, host="host-carol")
    status, page = call_api("list_events", sub="host-bob", query={"limit": "1"})
    assert status == 200 and page["next_cursor"], page
    cursor = page["next_cursor"]
    # WHEN carol sends bob's cursor THEN it is refused; bob's next page works
    assert_invalid_cursor(call_api("list_events", sub="host-carol", query={"limit": "1", "cursor": cursor}))
    status, second = call_api("list_events", sub="host-bob", query={"limit": "1", "cursor": cursor})
    assert status == 200 and len(second["events"]) == 1
    assert second["events"][0]["event_id"] != page["events"][0]["event_id"]
    # a forged one and a participants cursor are refused as well
    assert_invalid_cursor(call_api("list_events", sub="host-bob", query={"cursor": "eyJhIjoxfQ=="}))
    room_id = seated_room(call_api, ["u1", "u2", "u3"])
    seat_cursor = participants_page(call_api, room_id, None)[1]["next_cursor"]
    assert_invalid_cursor(call_api("list_events", sub="host-bob", query={"cursor": seat_cursor}))
