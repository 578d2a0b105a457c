"""Scheduled shows through moto: booking makes schedules, moving moves them, cancelling deletes them;
the Scheduler's open pre-provisions the family, its close cleans it up, a recurring show gets a new family.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import (
    ROOT,
    LambdaContext,
    fresh_api_services,
    fresh_scheduler_services,
    load_event,
    load_function,
)
from tests.integration.test_overflow_worker import run_worker, sqs_event

CallApi = Callable[..., tuple[int, Any]]
SAMPLE_EVENT_ID = "e_0123456789abcdef"
SHOW = {
    "title": "Good Time Show",
    "starts_at": "2030-11-26T20:00:00+01:00",
    "ends_at": "2030-11-26T22:00:00+01:00",
    "timezone": "Europe/Paris",
    "capacity": 5000,
    "expected_audience": 12000,
}


@pytest.fixture
def shows(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The schedule group and the API function's scheduler settings, both as template.yaml declares them."""
    from rooms.config import settings
    from rooms_local.naming import LocalNaming
    from rooms_local.template import load_template

    template = load_template(ROOT / "template.yaml", naming=LocalNaming(stack="rooms-test"))
    for group in template.schedule_groups.values():
        boto3.client("scheduler").create_schedule_group(Name=group.name)
    environment = template.functions["ApiFunction"].environment
    for name, value in environment.items():
        if name.startswith("ROOMS_SCHEDULE"):
            monkeypatch.setenv(name, value)
    # the fixed dates of these tests (2030) lie beyond the default booking horizon of a year
    monkeypatch.setenv("ROOMS_MAX_BOOKING_DAYS_AHEAD", str(10 * 366))
    settings.cache_clear()
    fresh_api_services()
    fresh_scheduler_services(monkeypatch)
    yield environment
    settings.cache_clear()


def book(call_api: CallApi, host: str = "host-bob", **changes: Any) -> dict[str, Any]:
    status, body = call_api("create_event", sub=host, body={**SHOW, **changes})
    assert status == 201, body
    return body


def schedule(name: str, group: str) -> dict[str, Any]:
    return boto3.client("scheduler").get_schedule(Name=name, GroupName=group)


def schedule_names(group: str) -> set[str]:
    return {s["Name"] for s in boto3.client("scheduler").list_schedules(GroupName=group)["Schedules"]}


def run_scheduled(payload: dict[str, Any]) -> dict[str, Any]:
    function = load_function("scheduler")
    result: dict[str, Any] = function.lambda_handler(payload, LambdaContext(function_name="scheduler"))
    return result


def scheduled(action: str, event_id: str, when: str | None = None) -> dict[str, Any]:
    """The sample Scheduler payload of `action`, for this event (and this occurrence's scheduled time)."""
    payload = {**load_event(f"scheduler/{action}"), "event_id": event_id}
    if when is not None:
        payload["scheduled_time"] = when
    return run_scheduled(payload)


def family(call_api: CallApi, room_id: str) -> dict[str, Any]:
    status, body = call_api("get_family", path={"room_id": room_id})
    assert status == 200, body
    return body


# ---------------------------------------------------------------- booking


def test_booking_a_show_creates_its_open_and_close_schedules(call_api: CallApi, shows: dict[str, str]) -> None:
    # GIVEN the sample booking WHEN it is sent THEN the caller hosts a scheduled show
    event = book(call_api)
    assert event["host_id"] == "host-bob" and event["status"] == "scheduled" and event["room_id"] is None
    assert event["starts_at"].startswith("2030-11-26T19:00:00") and event["expected_audience"] == 12000
    group = shows["ROOMS_SCHEDULE_GROUP"]
    # THEN two one-time schedules target the scheduler function, in UTC, deleting themselves once fired
    opening = schedule(f"show-{event['event_id']}-open", group)
    closing = schedule(f"show-{event['event_id']}-close", group)
    assert opening["ScheduleExpression"] == "at(2030-11-26T19:00:00)"
    assert closing["ScheduleExpression"] == "at(2030-11-26T21:00:00)"
    for found in (opening, closing):
        assert found["ScheduleExpressionTimezone"] == "UTC"
        assert found["ActionAfterCompletion"] == "DELETE"
        assert found["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert found["Target"]["Arn"] == shows["ROOMS_SCHEDULER_TARGET_ARN"]
        assert found["Target"]["RoleArn"] == shows["ROOMS_SCHEDULER_ROLE_ARN"]
        assert found["Target"]["DeadLetterConfig"] == {"Arn": shows["ROOMS_SCHEDULER_DLQ_ARN"]}
    assert json.loads(opening["Target"]["Input"])["action"] == "open"
    assert json.loads(closing["Target"]["Input"]) == {
        "action": "close",
        "event_id": event["event_id"],
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    status, again = call_api("get_event", path={"event_id": event["event_id"]})
    assert status == 200 and again == event


def test_moving_a_show_moves_its_schedules(call_api: CallApi, shows: dict[str, str]) -> None:
    event = book(call_api)
    status, moved = call_api("update_event", path={"event_id": event["event_id"]})
    assert status == 200, moved
    assert moved["starts_at"].startswith("2030-11-26T20:00:00") and moved["expected_audience"] == 15000
    group = shows["ROOMS_SCHEDULE_GROUP"]
    assert schedule(f"show-{event['event_id']}-open", group)["ScheduleExpression"] == "at(2030-11-26T20:00:00)"
    assert schedule(f"show-{event['event_id']}-close", group)["ScheduleExpression"] == "at(2030-11-26T22:00:00)"
    # a title change leaves the schedules alone and keeps the rest
    status, renamed = call_api("update_event", path={"event_id": event["event_id"]}, body={"title": "Late Show"})
    assert status == 200 and renamed["title"] == "Late Show" and renamed["starts_at"] == moved["starts_at"]


def test_cancelling_a_show_deletes_its_schedules(call_api: CallApi, shows: dict[str, str]) -> None:
    event = book(call_api)
    other = book(call_api)
    group = shows["ROOMS_SCHEDULE_GROUP"]
    assert len(schedule_names(group)) == 4
    status, cancelled = call_api("cancel_event", path={"event_id": event["event_id"]})
    assert status == 200 and cancelled["status"] == "cancelled"
    assert schedule_names(group) == {f"show-{other['event_id']}-open", f"show-{other['event_id']}-close"}
    # cancelling again is a no-op; a cancelled show can no longer move or be attended
    assert call_api("cancel_event", path={"event_id": event["event_id"]})[1]["status"] == "cancelled"
    status, body = call_api("update_event", path={"event_id": event["event_id"]})
    assert status == 409 and body["error"]["code"] == "EVENT_NOT_EDITABLE"
    status, body = call_api("rsvp_event", path={"event_id": event["event_id"]})
    assert status == 409 and body["error"]["code"] == "EVENT_NOT_EDITABLE"


def test_only_the_host_moves_or_cancels(call_api: CallApi, shows: dict[str, str]) -> None:
    event = book(call_api)
    for sample in ("update_event", "cancel_event"):
        status, body = call_api(sample, path={"event_id": event["event_id"]}, sub="user-alice")
        assert status == 403 and body["error"]["code"] == "NOT_HOST", sample


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"ends_at": "2030-11-26T19:00:00+01:00"}, "INVALID_SCHEDULE", "ends_at"),
        (
            {"starts_at": "2020-01-01T20:00:00+00:00", "ends_at": "2020-01-01T21:00:00+00:00"},
            "INVALID_SCHEDULE",
            "starts_at",
        ),
        ({"ends_at": "2030-11-28T20:00:00+01:00"}, "INVALID_SCHEDULE", "ends_at"),
        ({"timezone": "Mars/Olympus_Mons"}, "VALIDATION_ERROR", "timezone"),
        ({"starts_at": "2030-11-26T20:00:00"}, "VALIDATION_ERROR", "starts_at"),
        ({"capacity": 8001}, "VALIDATION_ERROR", "capacity"),
        ({"recurrence": "hourly"}, "VALIDATION_ERROR", "recurrence"),
        ({"expected_audience": -1}, "VALIDATION_ERROR", "expected_audience"),
    ],
)
def test_bad_bookings_are_422_naming_the_field(
    call_api: CallApi, shows: dict[str, str], changes: dict[str, Any], code: str, field: str
) -> None:
    status, body = call_api("create_event", body={**SHOW, **changes})
    assert status == 422, body
    assert body["error"]["code"] == code and body["error"]["field"] == field
    assert schedule_names(shows["ROOMS_SCHEDULE_GROUP"]) == set()


def test_unknown_events_are_404(call_api: CallApi, shows: dict[str, str]) -> None:
    for sample in ("get_event", "update_event", "cancel_event", "rsvp_event"):
        status, body = call_api(sample)
        assert status == 404 and body["error"]["code"] == "EVENT_NOT_FOUND", sample


def test_a_host_lists_their_upcoming_shows_by_start(call_api: CallApi, shows: dict[str, str]) -> None:
    later = book(call_api, starts_at="2030-12-01T20:00:00+01:00", ends_at="2030-12-01T21:00:00+01:00")
    sooner = book(call_api)
    cancelled = book(call_api, starts_at="2030-11-27T20:00:00+01:00", ends_at="2030-11-27T21:00:00+01:00")
    call_api("cancel_event", path={"event_id": cancelled["event_id"]})
    book(call_api, host="host-carol")
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        status, page = call_api("list_events", query=query)
        assert status == 200, page
        seen += [event["event_id"] for event in page["events"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [sooner["event_id"], later["event_id"]]


def test_rsvp_counts_each_user_once(call_api: CallApi, shows: dict[str, str]) -> None:
    event = book(call_api, expected_audience=10)
    path = {"event_id": event["event_id"]}
    status, first = call_api("rsvp_event", path=path)
    assert status == 200 and first == {
        "event_id": event["event_id"],
        "user_id": "user-alice",
        "counted": True,
        "expected_audience": 11,
    }
    assert call_api("rsvp_event", path=path)[1]["counted"] is False
    assert call_api("rsvp_event", path=path, sub="user-dave")[1]["expected_audience"] == 12
    assert call_api("get_event", path=path)[1]["expected_audience"] == 12


# ------------------------------------------------------------ running shows


def test_open_makes_the_main_room_and_the_parallel_rooms_the_audience_needs(
    call_api: CallApi, shows: dict[str, str]
) -> None:
    # GIVEN 12,000 expected at 5,000 a room WHEN the show opens THEN main + 2 parallel rooms are ready
    event = book(call_api)
    result = scheduled("open", event["event_id"], "2030-11-26T19:00:00Z")
    assert result["status"] == "live" and result["provisioned_rooms"] == 2
    _, live = call_api("get_event", path={"event_id": event["event_id"]})
    assert live["status"] == "live" and live["room_id"] == f"{event['event_id']}_20301126"
    rooms = family(call_api, live["room_id"])["rooms"]
    assert [(room["index"], room["capacity"], room["status"]) for room in rooms] == [
        (0, 5000, "open"),
        (1, 5000, "open"),
        (2, 5000, "open"),
    ]
    assert {room["event_id"] for room in rooms} == {event["event_id"]}
    assert rooms[0]["host_id"] == "host-bob" and rooms[0]["title"] == "Good Time Show"
    # a retried invocation (the Scheduler retries) makes nothing more
    scheduled("open", event["event_id"], "2030-11-26T19:00:00Z")
    assert len(family(call_api, live["room_id"])["rooms"]) == 3


def test_close_ends_the_show_frees_every_seat_and_fails_waiting_tickets(
    call_api: CallApi, shows: dict[str, str], aws: dict[str, str]
) -> None:
    event = book(call_api, capacity=2, expected_audience=4)
    scheduled("open", event["event_id"])
    room_id = call_api("get_event", path={"event_id": event["event_id"]})[1]["room_id"]
    tickets = {}
    for n in range(7):  # 2 in the main room, 4 more seated by the worker, 1 still queued at the end
        status, body = call_api("join_room", path={"room_id": room_id}, sub=f"u{n}")
        if status == 202:
            tickets[f"u{n}"] = body["ticket"]["ticket_id"]
    assert run_worker(sqs_event(aws["OverflowQueue"], max_messages=4)) == []
    assert family(call_api, room_id)["total_occupancy"] == 6
    # WHEN the show's end fires
    result = scheduled("close", event["event_id"])
    assert result["status"] == "ended"
    # THEN every room is closed and empty, and the one still waiting learns why
    after = family(call_api, room_id)
    assert {room["status"] for room in after["rooms"]} == {"closed"} and after["total_occupancy"] == 0
    assert all(
        call_api("list_participants", path={"room_id": r["room_id"]})[1]["participants"] == [] for r in after["rooms"]
    )
    outcomes = {user: call_api("get_ticket", path={"ticket_id": t}, sub=user)[1] for user, t in tickets.items()}
    waiting = [user for user, ticket in outcomes.items() if ticket["status"] == "failed"]
    assert len(waiting) == 1 and outcomes[waiting[0]]["reason"] == "event_ended"
    # the worker reaching the message later leaves it failed the same way
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    ticket = call_api("get_ticket", path={"ticket_id": tickets[waiting[0]]}, sub=waiting[0])[1]
    assert ticket["status"] == "failed" and ticket["reason"] == "event_ended"
    status, body = call_api("join_room", path={"room_id": room_id}, sub="late")
    assert status == 409 and body["error"]["code"] == "ROOM_CLOSED"
    # a repeated close changes nothing
    assert scheduled("close", event["event_id"])["status"] == "ended"


def test_the_worker_fails_tickets_of_an_ended_show_with_event_ended(
    call_api: CallApi, shows: dict[str, str], aws: dict[str, str]
) -> None:
    event = book(call_api, capacity=1, expected_audience=0)
    scheduled("open", event["event_id"])
    room_id = call_api("get_event", path={"event_id": event["event_id"]})[1]["room_id"]
    call_api("join_room", path={"room_id": room_id}, sub="u0")
    _, queued = call_api("join_room", path={"room_id": room_id}, sub="u1")
    # the host ends the show early by closing the main room; the ticket is still in the queue
    assert call_api("close_room", path={"room_id": room_id})[0] == 200
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    _, ticket = call_api("get_ticket", path={"ticket_id": queued["ticket"]["ticket_id"]}, sub="u1")
    assert ticket["status"] == "failed" and ticket["reason"] == "event_ended"


def test_cancelling_a_live_show_closes_its_rooms(call_api: CallApi, shows: dict[str, str]) -> None:
    event = book(call_api, capacity=3, expected_audience=6)
    scheduled("open", event["event_id"])
    room_id = call_api("get_event", path={"event_id": event["event_id"]})[1]["room_id"]
    call_api("join_room", path={"room_id": room_id}, sub="u1")
    status, body = call_api("cancel_event", path={"event_id": event["event_id"]})
    assert status == 200 and body["status"] == "cancelled"
    after = family(call_api, room_id)
    assert {room["status"] for room in after["rooms"]} == {"closed"} and after["total_occupancy"] == 0
    # the schedules are gone and a late fire of them does nothing
    assert scheduled("close", event["event_id"])["status"] == "cancelled"


def test_a_daily_show_gets_a_fresh_family_every_day(call_api: CallApi, shows: dict[str, str]) -> None:
    event = book(call_api, recurrence="daily", capacity=10, expected_audience=15)
    group = shows["ROOMS_SCHEDULE_GROUP"]
    opening = schedule(f"show-{event['event_id']}-open", group)
    # 20:00 in Paris every day, whatever the offset: the cron runs in the show's zone
    assert opening["ScheduleExpression"] == "cron(0 20 * * ? *)"
    assert opening["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert opening["ActionAfterCompletion"] == "NONE"
    assert schedule(f"show-{event['event_id']}-close", group)["ScheduleExpression"] == "cron(0 22 * * ? *)"
    # day one opens, closes and re-arms for the next day
    scheduled("open", event["event_id"], "2030-11-26T19:00:00Z")
    day_one = call_api("get_event", path={"event_id": event["event_id"]})[1]["room_id"]
    scheduled("close", event["event_id"], "2030-11-26T21:00:00Z")
    _, rearmed = call_api("get_event", path={"event_id": event["event_id"]})
    assert rearmed["status"] == "scheduled" and rearmed["starts_at"].startswith("2030-11-27T19:00:00")
    # day two is a new family; day one's stays closed
    scheduled("open", event["event_id"], "2030-11-27T19:00:00Z")
    day_two = call_api("get_event", path={"event_id": event["event_id"]})[1]["room_id"]
    assert (day_one, day_two) == (f"{event['event_id']}_20301126", f"{event['event_id']}_20301127")
    assert {room["status"] for room in family(call_api, day_one)["rooms"]} == {"closed"}
    assert [room["status"] for room in family(call_api, day_two)["rooms"]] == ["open", "open"]


def test_the_scheduler_samples_are_handled(shows: dict[str, str]) -> None:
    # the samples name an event that does not exist: nothing to open or close, no failure to retry
    assert run_scheduled(load_event("scheduler/open")) == {"action": "open", "event": None}
    assert run_scheduled(load_event("scheduler/close")) == {"action": "close", "event": None}
    result = run_scheduled(load_event("scheduler/housekeeping"))
    assert result["action"] == "housekeeping" and result["expiry_jobs_enqueued"] > 0  # a first run looks back
    with pytest.raises(ValueError):
        run_scheduled({"action": "open"})


def utc(seconds: float = 0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_retried_booking_with_an_idempotency_key_books_one_show(call_api: CallApi, shows: dict[str, str]) -> None:
    first = call_api("create_event", sub="host-bob", body=SHOW, headers={"Idempotency-Key": "book-once"})
    again = call_api("create_event", sub="host-bob", body=SHOW, headers={"Idempotency-Key": "book-once"})
    assert first[0] == again[0] == 201 and first[1]["event_id"] == again[1]["event_id"]
    status, listed = call_api("list_events", sub="host-bob")
    assert status == 200
    assert [e["event_id"] for e in listed["events"]].count(first[1]["event_id"]) == 1
    assert len(listed["events"]) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"starts_at": "9999-12-31T22:00:00-05:00", "ends_at": "9999-12-31T23:00:00-05:00"}, "starts_at"),
        ({"ends_at": "9999-12-31T23:30:00-05:00"}, "ends_at"),
        ({"starts_at": "0001-01-01T00:30:00+01:00"}, "starts_at"),
    ],
)
def test_times_outside_the_utc_calendar_are_422_not_500(
    call_api: CallApi, shows: dict[str, str], changes: dict[str, str], field: str
) -> None:
    # GIVEN times that exist with their offset but fall outside the years 1-9999 in UTC
    # WHEN a show is booked with them, or moved to them
    status, body = call_api("create_event", body={**SHOW, **changes})
    # THEN the answer names the field, and nothing was booked
    assert status == 422 and body["error"]["code"] == "VALIDATION_ERROR", body
    assert body["error"]["field"] == field and "UTC" in body["error"]["message"]
    event = book(call_api)
    status, body = call_api("update_event", path={"event_id": event["event_id"]}, body=changes)
    assert status == 422 and body["error"]["field"] == field, body
    assert call_api("get_event", path={"event_id": event["event_id"]})[1]["starts_at"] == event["starts_at"]


def test_a_show_is_booked_at_most_the_booking_horizon_ahead(
    call_api: CallApi, shows: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rooms.config import settings

    # GIVEN the default horizon (a year), not this module's ten years
    monkeypatch.delenv("ROOMS_MAX_BOOKING_DAYS_AHEAD")
    settings.cache_clear()
    fresh_api_services()

    def at(days: int, hours: int = 0) -> str:
        return (utc() + timedelta(days=days, hours=hours)).isoformat()

    # WHEN shows are booked for the year 9998, in 400 days and in 30 days
    for starts, ends in (("9998-11-26T20:00:00+01:00", "9998-11-26T21:00:00+01:00"), (at(400), at(400, 1))):
        status, body = call_api("create_event", body={**SHOW, "starts_at": starts, "ends_at": ends})
        # THEN only the last one is booked
        assert status == 422 and body["error"]["code"] == "INVALID_SCHEDULE", body
        assert body["error"]["field"] == "starts_at" and "366 days" in body["error"]["message"]
    event = book(call_api, starts_at=at(30), ends_at=at(30, 1))
    # AND a booked show cannot be moved past the horizon either
    status, body = call_api(
        "update_event", path={"event_id": event["event_id"]}, body={"starts_at": at(400), "ends_at": at(400, 1)}
    )
    assert status == 422 and body["error"]["field"] == "starts_at", body
    assert schedule_names(shows["ROOMS_SCHEDULE_GROUP"]) == {
        f"show-{event['event_id']}-open",
        f"show-{event['event_id']}-close",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"starts_at": 1924714800, "ends_at": 1924718400}, "starts_at"),  # epoch seconds
        ({"starts_at": "1924714800"}, "starts_at"),
        ({"capacity": "5000"}, "capacity"),
        ({"capacity": 5000.0}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"expected_audience": "12000"}, "expected_audience"),
        ({"title": "Good\u202eTime"}, "title"),
        ({"title": " \u200b "}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "Good\x00Time"}, "title"),
    ],
)
def test_show_bodies_are_strict(call_api: CallApi, shows: dict[str, str], changes: dict[str, Any], field: str) -> None:
    # GIVEN a value that lax parsing would coerce (a number for a time, text for a count) or a spoofing title
    status, body = call_api("create_event", body={**SHOW, **changes})
    # THEN booking and moving refuse it, naming the field
    assert status == 422 and body["error"]["code"] == "VALIDATION_ERROR", body
    assert body["error"]["field"] == field
    event = book(call_api)
    status, body = call_api("update_event", path={"event_id": event["event_id"]}, body=changes)
    assert status == 422 and body["error"]["field"] == field, body


def test_show_titles_are_stored_trimmed_and_in_nfc(call_api: CallApi, shows: dict[str, str]) -> None:
    event = book(call_api, title="  Cafe\u0301 Show  ")
    assert event["title"] == "Caf\u00e9 Show"
    status, moved = call_api("update_event", path={"event_id": event["event_id"]}, body={"title": " Re\u0301union "})
    assert status == 200 and moved["title"] == "R\u00e9union"
