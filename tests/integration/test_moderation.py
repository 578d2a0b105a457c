"""Moderation through the API function and moto: the host names moderators, who may kick and ban in
every room of the family; a banned user's join answers 403 BANNED, a queued ticket of theirs fails
`banned` at the overflow worker, and the ban ends with its duration or when it is lifted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rooms.domain.model import TicketStatus, ticket_id_for
from tests.conftest import LambdaContext, load_function
from tests.integration.test_api import create_room

CallApi = Callable[..., tuple[int, Any]]


def ban(call_api: CallApi, room_id: str, user: str, by: str = "host-bob", **body: Any) -> tuple[int, Any]:
    return call_api("ban_user", path={"room_id": room_id}, sub=by, body={"user_id": user, **body})


def test_a_ban_frees_the_seat_and_the_banned_users_join_answers_403_until_it_is_lifted(call_api: CallApi) -> None:
    room_id = create_room(call_api)
    assert call_api("join_room", path={"room_id": room_id}, sub="mallory")[0] == 200
    # WHEN the host bans mallory for the family's life THEN the seat is freed and the ban says so
    status, body = ban(call_api, room_id, "mallory")
    assert status == 201, body
    assert (body["family_id"], body["user_id"], body["until"], body["banned_by"]) == (
        room_id,
        "mallory",
        None,
        "host-bob",
    )
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 0
    # AND mallory's join answers 403 BANNED, in the one error shape
    status, body = call_api("join_room", path={"room_id": room_id}, sub="mallory")
    assert status == 403 and body["error"]["code"] == "BANNED" and "life of the room" in body["error"]["message"]
    # WHEN it is lifted THEN mallory joins again; lifting twice lifts nothing
    status, body = call_api("lift_ban", path={"room_id": room_id, "user_id": "mallory"})
    assert (status, body) == (200, {"user_id": "mallory", "lifted": True})
    assert call_api("lift_ban", path={"room_id": room_id, "user_id": "mallory"})[1]["lifted"] is False
    assert call_api("join_room", path={"room_id": room_id}, sub="mallory")[0] == 200


def test_a_ban_for_a_duration_ends_with_it(call_api: CallApi) -> None:
    from rooms.adapters.ban_store import DynamoBanStore
    from rooms.domain.model import Ban

    room_id = create_room(call_api)
    before = datetime.now(UTC)
    status, body = ban(call_api, room_id, "mallory", duration_seconds=60)
    assert status == 201
    until = datetime.fromisoformat(body["until"])
    assert before + timedelta(seconds=60) <= until <= datetime.now(UTC) + timedelta(seconds=60)
    assert call_api("join_room", path={"room_id": room_id}, sub="mallory")[1]["error"]["code"] == "BANNED"
    # a ban whose time is over keeps nobody out (the item stays until its TTL removes it)
    DynamoBanStore().put_ban(Ban(room_id, "mallory", datetime.now(UTC) - timedelta(seconds=1), "host-bob", before))
    assert call_api("join_room", path={"room_id": room_id}, sub="mallory")[0] == 200
    assert ban(call_api, room_id, "mallory", duration_seconds=59)[1]["error"]["field"] == "duration_seconds"


def test_moderators_kick_and_ban_in_every_room_but_not_the_host_nor_each_other(call_api: CallApi) -> None:
    room_id = create_room(call_api, capacity=1)
    # GIVEN carol and dave named moderators by the host; a non-host cannot name one
    assert call_api("name_moderator", path={"room_id": room_id, "user_id": "x"}, sub="carol")[1]["error"]["code"] == (
        "NOT_HOST"
    )
    for moderator in ("carol", "dave"):
        status, room = call_api("name_moderator", path={"room_id": room_id, "user_id": moderator})
        assert status == 200, room
    assert room["moderators"] == ["carol", "dave"]
    # THEN carol kicks a listener and bans another; neither the host nor dave
    assert call_api("join_room", path={"room_id": room_id}, sub="eve")[0] == 200
    status, body = call_api("kick_participant", path={"room_id": room_id, "user_id": "eve"}, sub="carol")
    assert (status, body) == (200, {"kicked": True, "user_id": "eve"})
    assert ban(call_api, room_id, "mallory", by="carol")[0] == 201
    for target in ("host-bob", "dave"):
        status, body = ban(call_api, room_id, target, by="carol")
        assert status == 403 and body["error"]["code"] == "PROTECTED_USER"
    assert call_api("kick_participant", path={"room_id": room_id, "user_id": "dave"}, sub="carol")[0] == 403
    # AND a listener is neither; un-named, carol is not a moderator any more
    assert ban(call_api, room_id, "zed", by="eve")[1]["error"]["code"] == "NOT_MODERATOR"
    status, room = call_api("unname_moderator", path={"room_id": room_id, "user_id": "carol"})
    assert status == 200 and room["moderators"] == ["dave"]
    assert ban(call_api, room_id, "zed", by="carol")[1]["error"]["code"] == "NOT_MODERATOR"


def test_a_banned_users_queued_ticket_fails_banned_at_the_overflow_worker(
    call_api: CallApi, aws: dict[str, str]
) -> None:
    from tests.integration.test_overflow_worker import sqs_event

    room_id = create_room(call_api, capacity=1)
    assert call_api("join_room", path={"room_id": room_id}, sub="first")[0] == 200
    assert call_api("join_room", path={"room_id": room_id}, sub="mallory")[0] == 202  # queued
    # WHEN mallory is banned while the request is on the queue, then the worker takes it
    from rooms.adapters.ban_store import DynamoBanStore
    from rooms.domain.model import Ban

    now = datetime.now(UTC)
    DynamoBanStore().put_ban(Ban(room_id, "mallory", None, "host-bob", now))
    worker = load_function("overflow_worker")
    event = sqs_event(aws["OverflowQueue"], 10, sample_event="overflow_worker/overflow_batch")
    assert worker.lambda_handler(event, LambdaContext(function_name="worker"))["batchItemFailures"] == []
    # THEN nobody was seated, and the ticket says why
    status, ticket = call_api("get_ticket", path={"ticket_id": ticket_id_for(room_id, "mallory")}, sub="mallory")
    assert status == 200 and ticket["status"] == TicketStatus.FAILED.value and ticket["reason"] == "banned"


def test_the_host_brings_a_listener_up_to_the_stage_and_they_step_down(call_api: CallApi) -> None:
    status, room = call_api("create_room", body={"title": "Stage", "capacity": 4, "speaker_seats": 1})
    assert status == 201 and room["speaker_seats"] == 1, room
    room_id = room["room_id"]
    for user in ("ana", "ben", "cy"):
        assert call_api("join_room", path={"room_id": room_id}, sub=user)[0] == 200
    assert call_api("join_room", path={"room_id": room_id}, sub="dee")[0] == 202  # the stage is not for joins
    status, seat = call_api("bring_up_speaker", path={"room_id": room_id, "user_id": "ana"})
    assert status == 200 and (seat["room_id"], seat["speaker"]) == (room_id, True), seat
    status, body = call_api("bring_up_speaker", path={"room_id": room_id, "user_id": "ben"})
    assert status == 409 and body["error"]["code"] == "STAGE_FULL"
    status, body = call_api("bring_up_speaker", path={"room_id": room_id, "user_id": "ben"}, sub="ben")
    assert status == 403 and body["error"]["code"] == "NOT_HOST"
    status, body = call_api("bring_up_speaker", path={"room_id": room_id, "user_id": "nobody"})
    assert status == 409 and body["error"]["code"] == "NOT_SEATED"
    status, body = call_api("step_down_speaker", path={"room_id": room_id, "user_id": "ana"}, sub="ana")
    assert (status, body["left"]) == (200, True)
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 2
    # a stage as big as the room leaves no listener seat: refused before anything is made
    status, body = call_api("create_room", body={"title": "Stage", "capacity": 4, "speaker_seats": 4})
    assert status == 422 and body["error"]["code"] == "VALIDATION_ERROR" and "speaker_seats" in body["error"]["message"]
