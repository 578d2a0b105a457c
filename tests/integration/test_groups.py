"""Friends together through the API function, the overflow worker and moto: a leader makes a group,
friends join it with its invite token, and the leader's join seats all of them in one room or none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rooms.domain.model import parallel_room_id
from tests.integration.test_api import create_room
from tests.integration.test_overflow_worker import run_worker, sqs_event

CallApi = Callable[..., tuple[int, Any]]


def make_group(call_api: CallApi, room_id: str, leader: str, *friends: str) -> tuple[str, str]:
    status, made = call_api("create_group", path={"room_id": room_id}, sub=leader)
    assert status == 201, made
    assert made["members"] == [leader] and made["leader_id"] == leader and made["invite_token"]
    group_id, token = made["group_id"], made["invite_token"]
    for friend in friends:
        path = {"room_id": room_id, "group_id": group_id}
        status, joined = call_api("join_group", path=path, sub=friend, body={"invite_token": token})
        assert status == 200, joined
        assert joined["members"][-1] == friend and joined["invite_token"] is None
    return group_id, token


def take_in(call_api: CallApi, room_id: str, group_id: str, leader: str) -> tuple[int, Any]:
    return call_api("join_room_with_group", path={"room_id": room_id}, sub=leader, body={"group_id": group_id})


def test_a_group_is_seated_together_in_the_main_room(call_api: CallApi) -> None:
    room_id = create_room(call_api, capacity=10)
    group_id, token = make_group(call_api, room_id, "ana", "ben", "cy")
    status, body = take_in(call_api, room_id, group_id, "ana")
    assert status == 200, body
    assert body["status"] == "seated" and body["seat"]["user_id"] == "ana"
    assert sorted(seat["user_id"] for seat in body["group"]["seats"]) == ["ana", "ben", "cy"]
    assert {seat["room_id"] for seat in body["group"]["seats"]} == {room_id}
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 3
    # a member's own join answers their seat; the group now takes nobody more
    status, own = call_api("join_room", path={"room_id": room_id}, sub="ben")
    assert status == 200 and own["seat"]["room_id"] == room_id
    path = {"room_id": room_id, "group_id": group_id}
    status, refused = call_api("join_group", path=path, sub="dee", body={"invite_token": token})
    assert status == 409 and refused["error"]["code"] == "GROUP_CLOSED"
    status, read = call_api("get_group", path=path, sub="cy")
    assert status == 200 and read["taken_in"] is True and read["members"] == ["ana", "ben", "cy"]


def test_a_group_the_main_room_cannot_take_is_queued_and_seated_together_by_the_worker(
    call_api: CallApi, aws: dict[str, str]
) -> None:
    room_id = create_room(call_api, capacity=3)
    for user in ("a", "b"):
        assert call_api("join_room", path={"room_id": room_id}, sub=user)[0] == 200
    group_id, _ = make_group(call_api, room_id, "ana", "ben")
    status, body = take_in(call_api, room_id, group_id, "ana")
    assert status == 202, body
    assert body["status"] == "queued" and body["ticket"]["user_id"] == "ana"
    tickets = {ticket["user_id"]: ticket for ticket in body["group"]["tickets"]}
    assert set(tickets) == {"ana", "ben"} and {t["group_id"] for t in tickets.values()} == {group_id}
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 2  # nobody took the free seat
    event = sqs_event(aws["OverflowQueue"])
    assert len(event["Records"]) == 1  # one message for the whole group
    assert run_worker(event) == []
    for user, ticket in tickets.items():
        status, seen = call_api("get_ticket", path={"ticket_id": ticket["ticket_id"]}, sub=user)
        assert status == 200 and seen["status"] == "seated" and seen["room_id"] == parallel_room_id(room_id, 1)


def test_bad_group_requests_are_4xx_in_the_one_error_shape(call_api: CallApi) -> None:
    room_id = create_room(call_api, capacity=10)
    group_id, _ = make_group(call_api, room_id, "ana")
    path = {"room_id": room_id, "group_id": group_id}
    cases = [
        (call_api("join_group", path=path, sub="eve", body={"invite_token": "wrong"}), 403, "NOT_GROUP_MEMBER"),
        (call_api("get_group", path=path, sub="eve"), 403, "NOT_GROUP_MEMBER"),
        (take_in(call_api, room_id, group_id, "eve"), 403, "NOT_GROUP_MEMBER"),
        (take_in(call_api, room_id, "g_nope", "ana"), 404, "GROUP_NOT_FOUND"),
        (call_api("create_group", path={"room_id": "r_nope"}, sub="ana"), 404, "ROOM_NOT_FOUND"),
        (call_api("join_group", path=path, sub="eve", body={}), 422, "VALIDATION_ERROR"),
        (
            call_api("join_room_with_group", path={"room_id": room_id}, body={"group_id": group_id, "promote": True}),
            422,
            "VALIDATION_ERROR",
        ),
    ]
    for (status, body), expected, code in cases:
        assert (status, body["error"]["code"]) == (expected, code), body
    # a member seated on their own keeps the group out: it would not sit together
    group_id, _ = make_group(call_api, room_id, "lee", "max")
    assert call_api("join_room", path={"room_id": room_id}, sub="max")[0] == 200
    status, body = take_in(call_api, room_id, group_id, "lee")
    assert status == 409 and body["error"]["code"] == "GROUP_MEMBER_ELSEWHERE" and "max" in body["error"]["message"]
