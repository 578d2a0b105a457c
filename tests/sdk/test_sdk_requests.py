"""Every client method sends the request the API documents, and parses its answer (sync and async)."""

from __future__ import annotations

import asyncio
import inspect
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from rooms_client import (
    AsyncRoomsClient,
    Event,
    EventsPage,
    Family,
    JoinOutcome,
    KickResult,
    LeaveResult,
    ParticipantsPage,
    Room,
    RoomsClient,
    RsvpResult,
    Seat,
    Ticket,
)
from tests.sdk.sdk_fakes import room_json, seat_json, ticket_json

EVENT = {
    "event_id": "e_1",
    "title": "Daily",
    "starts_at": "2025-06-01T20:00:00+02:00",
    "ends_at": "2025-06-01T21:00:00+02:00",
    "timezone": "Europe/Paris",
    "capacity": 5000,
    "expected_audience": 12000,
    "recurrence": "daily",
    "status": "scheduled",
    "host_id": "host",
    "room_id": None,
    "occurrence": None,
    "provisioned_rooms": 0,
    "created_at": "2025-05-01T10:00:00+00:00",
    "updated_at": "2025-05-01T10:00:00+00:00",
}
BOOKED = ("event_id", "status", "host_id", "room_id", "occurrence", "provisioned_rooms", "created_at", "updated_at")
FAMILY = {
    "family_id": "r_1",
    "main_room_id": "r_1",
    "rooms": [room_json("r_1", parallel_count=1), room_json("r_1-p1", index=1)],
    "total_occupancy": 0,
    "total_capacity": 4,
}


@dataclass(frozen=True)
class Case:
    call: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    method: str
    path: str
    body: Any
    answer: Any
    parsed: type
    status: int = 200


# fmt: off
CASES = [
    Case("create_room", ("Show", 5), {"metadata": {"k": "v"}}, "POST", "/rooms",
         {"title": "Show", "capacity": 5, "metadata": {"k": "v"}}, room_json(), Room, 201),
    Case("create_room", ("Show", 5), {}, "POST", "/rooms", {"title": "Show", "capacity": 5},
         room_json(), Room, 201),
    Case("get_room", ("r_1",), {}, "GET", "/rooms/r_1", None, room_json(), Room),
    Case("close_room", ("r_1",), {}, "POST", "/rooms/r_1/close", None, room_json(status="closed"), Room),
    Case("get_family", ("r_1",), {}, "GET", "/rooms/r_1/family", None, FAMILY, Family),
    Case("request_join", ("r_1",), {}, "POST", "/rooms/r_1/join", None,
         {"status": "seated", "seat": seat_json()}, JoinOutcome),
    Case("request_join", ("r_1",), {"promote": True}, "POST", "/rooms/r_1/join", {"promote": True},
         {"status": "seated", "seat": seat_json()}, JoinOutcome),
    Case("get_ticket", ("t_1",), {}, "GET", "/tickets/t_1", None, ticket_json(), Ticket),
    Case("leave", ("r_1",), {}, "POST", "/rooms/r_1/leave", None,
         {"left": True, "room_id": "r_1", "ticket_cancelled": False}, LeaveResult),
    Case("heartbeat", ("r_1",), {}, "POST", "/rooms/r_1/heartbeat", None, seat_json(), Seat),
    Case("list_participants", ("r_1",), {"limit": 10, "cursor": "abc"}, "GET",
         "/rooms/r_1/participants?limit=10&cursor=abc", None,
         {"room_id": "r_1", "participants": [seat_json()], "next_cursor": None}, ParticipantsPage),
    Case("list_participants", ("r_1",), {}, "GET", "/rooms/r_1/participants", None,
         {"room_id": "r_1", "participants": [], "next_cursor": None}, ParticipantsPage),
    Case("kick", ("r_1", "u/2"), {}, "DELETE", "/rooms/r_1/participants/u%2F2", None,
         {"kicked": True, "user_id": "u/2"}, KickResult),
    Case("create_event", ("Daily",), {"starts_at": "2025-06-01T20:00:00+02:00",
         "ends_at": "2025-06-01T21:00:00+02:00", "timezone": "Europe/Paris", "capacity": 5000,
         "expected_audience": 12000, "recurrence": "daily"}, "POST", "/events",
         {k: v for k, v in EVENT.items() if k not in BOOKED}, EVENT, Event, 201),
    Case("get_event", ("e_1",), {}, "GET", "/events/e_1", None, EVENT, Event),
    Case("list_events", (), {}, "GET", "/events", None, {"events": [EVENT], "next_cursor": None}, EventsPage),
    Case("list_events", (), {"limit": 5, "cursor": "c"}, "GET", "/events?limit=5&cursor=c", None,
         {"events": [], "next_cursor": None}, EventsPage),
    Case("update_event", ("e_1", {"title": "New", "expected_audience": 900}), {}, "PATCH", "/events/e_1",
         {"title": "New", "expected_audience": 900}, EVENT, Event),
    Case("cancel_event", ("e_1",), {}, "DELETE", "/events/e_1", None, EVENT | {"status": "cancelled"}, Event),
    Case("rsvp", ("e_1",), {}, "POST", "/events/e_1/rsvp", None,
         {"event_id": "e_1", "user_id": "u1", "counted": True, "expected_audience": 12001}, RsvpResult),
    Case("get_openapi", (), {}, "GET", "/openapi.json", None, {"openapi": "3.1.0"}, dict),
]
# fmt: on


def recorder(case: Case, seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(case.status, json=case.answer)

    return httpx.MockTransport(answer)


def check_request(case: Case, request: httpx.Request) -> None:
    assert request.method == case.method
    assert request.url.raw_path.decode() == case.path
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Accept"] == "application/json"
    if case.body is None:
        assert request.content == b""
    else:
        assert request.headers["Content-Type"] == "application/json"
        assert json.loads(request.content) == case.body


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.call}-{case.method}")
def test_sync_request_shape(case: Case) -> None:
    # GIVEN a client over a transport that records the request
    seen: list[httpx.Request] = []
    with RoomsClient("http://api.test", "tok", transport=recorder(case, seen)) as client:
        # WHEN the method is called
        result = getattr(client, case.call)(*case.args, **case.kwargs)
    # THEN exactly the documented request went out, and the answer came back typed
    assert len(seen) == 1
    check_request(case, seen[0])
    assert isinstance(result, case.parsed)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.call}-{case.method}")
def test_async_request_shape(case: Case) -> None:
    seen: list[httpx.Request] = []

    async def call() -> Any:
        async with AsyncRoomsClient("http://api.test", "tok", transport=recorder(case, seen)) as client:
            return await getattr(client, case.call)(*case.args, **case.kwargs)

    result = asyncio.run(call())
    assert len(seen) == 1
    check_request(case, seen[0])
    assert isinstance(result, case.parsed)


def test_both_clients_offer_every_route() -> None:
    routes = {case.call for case in CASES}
    sync_methods = {name for name, _ in inspect.getmembers(RoomsClient, inspect.isfunction) if not name.startswith("_")}
    async_methods = {
        name for name, _ in inspect.getmembers(AsyncRoomsClient, inspect.isfunction) if not name.startswith("_")
    }
    assert routes <= sync_methods
    assert sync_methods - {"close"} == async_methods - {"aclose"}


def test_base_url_keeps_a_stage_path() -> None:
    seen: list[httpx.Request] = []
    case = CASES[2]
    with RoomsClient("https://abc.example.com/prod/", "tok", transport=recorder(case, seen)) as client:
        client.get_room("r_1")
    assert str(seen[0].url) == "https://abc.example.com/prod/rooms/r_1"


def test_parsed_models_carry_the_fields() -> None:
    family = Family.from_json(FAMILY)
    assert family.main.room_id == "r_1"
    assert [room.room_id for room in family.parallel] == ["r_1-p1"]
    event = Event.from_json(EVENT)
    assert event.starts_at is not None and event.starts_at.utcoffset() is not None
    assert (event.status, event.provisioned_rooms, event.raw["timezone"]) == ("scheduled", 0, "Europe/Paris")
    assert EventsPage.from_json([EVENT]).events[0].event_id == "e_1"
    outcome = JoinOutcome.from_json({"status": "queued", "ticket": ticket_json()}, retry_after=2.0)
    assert not outcome.seated and outcome.ticket is not None and outcome.retry_after == 2.0


def test_all_participants_follows_the_cursor(fake_api) -> None:
    # GIVEN a room with 5 participants and pages of 2
    with RoomsClient("http://api.test", transport=httpx.MockTransport(fake_api)) as anonymous:
        host = anonymous.with_token(_token("host"))
        room = host.create_room("Show", 10)
        for n in range(5):
            host.with_token(_token(f"u{n}")).join(room.room_id)
        # WHEN every participant is listed
        seats = host.run(host.operations.all_participants(room.room_id, page_size=2))
    # THEN all five come back, in order, over three pages
    assert [seat.user_id for seat in seats] == [f"u{n}" for n in range(5)]
    pages = [r for r in fake_api.requests if r.url.path.endswith("/participants")]
    assert len(pages) == 3


def _token(user: str) -> str:
    from rooms_client.devtoken import mint_dev_token

    return mint_dev_token(user)
