"""Housekeeping through moto with an injected clock: ghost seats handed out by expiry bucket and shard and
freed by the sweeper, opted-in users promoted to the main room first come first served, empty parallel
rooms closed after the grace period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from rooms.housekeeping import SweepReport
from tests.integration.test_events import CallApi, book, family, scheduled, shows
from tests.integration.test_overflow_worker import run_worker, sqs_event
from tests.integration.test_sweeper import drain_sweeps, sweeper_on

__all__ = ["shows"]  # the fixture, shared with test_events
GRACE = 300


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class Swept(SweepReport):
    """A housekeeping run's report, and the seats the sweeper then freed from the shards it handed out."""

    ghosts_freed: int = 0


@pytest.fixture
def sweep(
    shows: dict[str, str], aws: dict[str, str], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], Swept]:
    """One housekeeping run at the clock's time, wired as in production (stale tickets, the overflow DLQ,
    the sweep queue), then every shard message it enqueued delivered to the sweeper function on that clock."""
    from rooms.adapters.dead_letters import SqsDeadLetters
    from rooms.adapters.event_store import DynamoEventStore
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.sweep_queue import SqsSweepQueue
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.config import settings
    from rooms.housekeeping import Housekeeping
    from rooms.reconciler import TicketReconciler

    rooms, tickets, config = DynamoRoomStore(), DynamoTicketStore(), settings()
    budget = timedelta(seconds=config.overflow_delivery_budget_seconds)
    housekeeping = Housekeeping(
        store=DynamoHousekeepingStore(),
        rooms=rooms,
        tickets=tickets,
        events=DynamoEventStore(),
        heartbeat_interval_seconds=config.heartbeat_interval_seconds,
        empty_room_grace_seconds=GRACE,
        sweep_queue=SqsSweepQueue(aws["SweepQueue"]),
        clock=clock,
        reconciler=TicketReconciler(rooms, tickets, SqsOverflowPublisher(), budget, clock),
        dead_letters=SqsDeadLetters(aws["OverflowDeadLetterQueue"]),
    )
    sweeper = sweeper_on(clock, monkeypatch)

    def run() -> Swept:
        report = housekeeping.run()
        freed = sweeper.freed
        drain_sweeps(aws["SweepQueue"])
        return Swept(**asdict(report), ghosts_freed=sweeper.freed - freed)

    return run


def seats_of(call_api: CallApi, room_id: str) -> list[str]:
    status, page = call_api("list_participants", path={"room_id": room_id}, query={"limit": "200"})
    assert status == 200, page
    return sorted(seat["user_id"] for seat in page["participants"])


def assert_i1(call_api: CallApi, room_id: str) -> dict[str, Any]:
    """Occupancy of every room of the family equals its seats and stays within its capacity."""
    body = family(call_api, room_id)
    for room in body["rooms"]:
        assert room["occupancy"] == len(seats_of(call_api, room["room_id"])) <= room["capacity"], room
    return body


def test_ghost_seats_are_freed_once_their_lease_ends(call_api: CallApi, clock: Clock, sweep: Callable[[], Any]) -> None:
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.service import RoomService

    _, room = call_api("create_room", body={"title": "Ghosts", "capacity": 5})
    room_id = room["room_id"]
    for user in ("u1", "u2", "u3"):
        assert call_api("join_room", path={"room_id": room_id}, sub=user)[0] == 200
    # GIVEN u2 heartbeats 100 s later (lease: two 30 s intervals) and the others went silent
    later = RoomService(
        DynamoRoomStore(), DynamoTicketStore(), SqsOverflowPublisher(), clock=lambda: clock.now + timedelta(seconds=100)
    )
    later.heartbeat(room_id, "u2")
    # WHEN housekeeping runs 120 s after the joins THEN the two silent seats are freed, u2 keeps hers
    clock.advance(120)
    assert sweep().ghosts_freed == 2
    assert seats_of(call_api, room_id) == ["u2"]
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 1
    # a run soon after frees nothing more; once u2's lease ends too, hers goes
    clock.advance(5)
    assert sweep().ghosts_freed == 0
    clock.advance(80)
    assert sweep().ghosts_freed == 1
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 0
    # a freed ghost can come back
    assert call_api("join_room", path={"room_id": room_id}, sub="u1")[0] == 200


def test_opted_in_users_move_up_first_come_first_served(
    call_api: CallApi, aws: dict[str, str], clock: Clock, sweep: Callable[[], Any]
) -> None:
    _, room = call_api("create_room", body={"title": "Promote", "capacity": 2})
    main = room["room_id"]
    tickets = {}
    # GIVEN a full main room and four overflow users, three of whom asked to move up
    for user, promote in [("u0", False), ("u1", False), ("u2", True), ("u3", False), ("u4", True), ("u5", True)]:
        status, body = call_api("join_room", path={"room_id": main}, sub=user, body={"promote": promote})
        if status == 202:
            tickets[user] = body["ticket"]["ticket_id"]
    assert list(tickets) == ["u2", "u3", "u4", "u5"]
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    assert family(call_api, main)["total_occupancy"] == 6
    # WHEN two main-room seats free up
    call_api("leave_room", path={"room_id": main}, sub="u0")
    call_api("leave_room", path={"room_id": main}, sub="u1")
    report = sweep()
    # THEN the two earliest opted-in users take them, atomically (I1, I2 hold)
    assert report.promoted == 2
    assert seats_of(call_api, main) == ["u2", "u4"]
    body = assert_i1(call_api, main)
    assert body["total_occupancy"] == 4
    for user in ("u2", "u4"):
        ticket = call_api("get_ticket", path={"ticket_id": tickets[user]}, sub=user)[1]
        assert ticket["status"] == "seated" and ticket["room_id"] == main
        seat = call_api("heartbeat", path={"room_id": main}, sub=user)[1]
        assert seat["room_id"] == main and seat["index"] == 0
    # u3 did not ask: stays; u5 is next when a seat frees
    call_api("leave_room", path={"room_id": main}, sub="u2")
    assert sweep().promoted == 1
    assert seats_of(call_api, main) == ["u4", "u5"]
    assert_i1(call_api, main)
    assert sweep().promoted == 0  # nobody else asked


def test_empty_parallel_rooms_close_after_the_grace_period(
    call_api: CallApi, aws: dict[str, str], clock: Clock, sweep: Callable[[], Any]
) -> None:
    _, room = call_api("create_room", body={"title": "Empty", "capacity": 1})
    main = room["room_id"]
    for user in ("u0", "u1", "u2"):
        call_api("join_room", path={"room_id": main}, sub=user)
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    p1, p2 = (r["room_id"] for r in family(call_api, main)["rooms"][1:])
    call_api("leave_room", path={"room_id": main}, sub="u2")  # u2 sat in p2
    assert sweep().rooms_closed == 0  # first seen empty: the grace period starts
    clock.advance(GRACE - 10)
    early = sweep()
    # (the clock is now far ahead: u0 and u1 went silent, so their seats are freed as ghosts)
    assert early.rooms_closed == 0 and early.ghosts_freed == 2
    clock.advance(20)
    report = sweep()
    assert report.rooms_closed == 1
    statuses = {r["room_id"]: r["status"] for r in family(call_api, main)["rooms"]}
    assert statuses == {main: "open", p1: "open", p2: "closed"}
    # overflow goes on in the lowest open room: nobody is sent to the closed one
    assert call_api("join_room", path={"room_id": main}, sub="u3")[0] == 200
    assert call_api("join_room", path={"room_id": main}, sub="u4")[0] == 202
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    assert seats_of(call_api, p1) == ["u4"] and seats_of(call_api, p2) == []
    assert_i1(call_api, main)


def test_a_live_show_keeps_its_pre_provisioned_rooms_until_it_ends(
    call_api: CallApi, shows: dict[str, str], clock: Clock, sweep: Callable[[], Any]
) -> None:
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore

    event = book(call_api, capacity=2, expected_audience=6)
    scheduled("open", event["event_id"])
    room_id = call_api("get_event", path={"event_id": event["event_id"]})[1]["room_id"]
    assert DynamoHousekeepingStore().families_with_overflow() == [room_id]
    for _ in range(3):
        sweep()
        clock.advance(GRACE)
    assert [r["status"] for r in family(call_api, room_id)["rooms"]] == ["open", "open", "open"]
    # after the show the family leaves housekeeping's list
    scheduled("close", event["event_id"])
    sweep()
    assert DynamoHousekeepingStore().families_with_overflow() == []


def test_a_close_that_runs_out_of_time_is_finished_by_housekeeping(
    call_api: CallApi, sweep: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a room with seats, closed by a host whose request has no time left to free them
    from rooms import service

    status, room = call_api("create_room", body={"title": "Big close", "capacity": 150})
    assert status == 201
    for n in range(120):
        assert call_api("join_room", path={"room_id": room["room_id"]}, sub=f"big-{n}")[0] == 200
    monkeypatch.setattr(service, "CLOSE_BUDGET_SECONDS", 0.0)
    status, closed = call_api("close_room", path={"room_id": room["room_id"]})
    # THEN the room is closed at once (nobody else gets in) and I1 still holds on what is left
    assert status == 200 and closed["status"] == "closed" and closed["occupancy"] == 120
    assert call_api("join_room", path={"room_id": room["room_id"]}, sub="late")[1]["error"]["code"] == "ROOM_CLOSED"
    assert_i1(call_api, room["room_id"])
    # AND housekeeping frees the rest and forgets the room (each run within its time budget: on a slow
    # machine the rest may take more than one)
    emptied = 0
    for _ in range(10):
        emptied += sweep().rooms_emptied
        if emptied:
            break
    assert emptied == 1
    body = assert_i1(call_api, room["room_id"])
    assert body["total_occupancy"] == 0
    assert sweep().rooms_emptied == 0


def where_seated(call_api: CallApi, main: str) -> dict[str, str]:
    """user -> room of every seat of the family, from the participants of each room."""
    return {
        user: room["room_id"]
        for room in family(call_api, main)["rooms"]
        for user in seats_of(call_api, room["room_id"])
    }


def test_a_churn_of_leaves_rejoins_and_expiry_leaves_no_ticket_claiming_a_lost_seat(
    call_api: CallApi, aws: dict[str, str], clock: Clock, sweep: Callable[[], Any]
) -> None:
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.config import settings
    from rooms.service import RoomService

    # GIVEN a family of rooms of 2: two users in the main room, eight seated through tickets
    _, room = call_api("create_room", body={"title": "Churn", "capacity": 2})
    main = room["room_id"]
    users = [f"u{n}" for n in range(10)]
    tickets: dict[str, str] = {}
    for user in users:
        status, body = call_api("join_room", path={"room_id": main}, sub=user)
        if status == 202:
            tickets[user] = body["ticket"]["ticket_id"]
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    # WHEN they churn: leaves, rejoins into the main room and the overflow, a kick, and silent seats expiring
    for user in ("u2", "u3", "u4", "u0"):
        assert call_api("leave_room", path={"room_id": main}, sub=user)[1]["left"] is True
    assert call_api("join_room", path={"room_id": main}, sub="u3")[0] == 200  # into u0's main-room seat
    rejoined = call_api("get_ticket", path={"ticket_id": tickets["u3"]}, sub="u3")[1]
    assert (rejoined["status"], rejoined["room_id"], rejoined["room_index"]) == ("seated", main, 0)
    status, body = call_api("join_room", path={"room_id": main}, sub="u0")  # full again: queued
    assert status == 202
    tickets["u0"] = body["ticket"]["ticket_id"]
    assert call_api("kick_participant", path={"room_id": main, "user_id": "u5"})[1]["kicked"] is True
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    later = RoomService(
        DynamoRoomStore(), DynamoTicketStore(), SqsOverflowPublisher(), clock=lambda: clock.now + timedelta(seconds=100)
    )
    for user in ("u6", "u0"):
        later.heartbeat(main, user)  # the others go silent
    clock.advance(120)
    assert sweep().ghosts_freed == 5  # u1 and u3 in the main room, u7, u8 and u9 in parallel rooms
    # THEN every ticket agrees with the seats the table holds
    seated = where_seated(call_api, main)
    answers = {}
    for user, ticket_id in tickets.items():
        status, ticket = call_api("get_ticket", path={"ticket_id": ticket_id}, sub=user)
        assert status == 200
        answers[user] = (ticket["status"], ticket["reason"])
        if ticket["status"] == "seated":
            assert seated.get(user) == ticket["room_id"], (user, ticket)
        else:
            assert user not in seated, (user, ticket)
    assert answers == {
        "u0": ("seated", None),
        "u2": ("left", None),
        "u3": ("left", None),
        "u4": ("left", None),
        "u5": ("left", "kicked"),
        "u6": ("seated", None),
        "u7": ("expired", None),
        "u8": ("expired", None),
        "u9": ("expired", None),
    }
    # AND the stored tickets too: none says seated where its user has no seat
    for item in boto3.resource("dynamodb").Table(settings().table_name).scan()["Items"]:  # a test-only read
        if str(item["pk"]).startswith("TICKET#") and item["status"] == "seated":
            assert seated.get(str(item["user_id"])) == item["room_id"], item
