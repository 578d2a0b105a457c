"""A booked show end to end on a fast scheduler clock: booked over HTTP, opened by its own schedule with
its parallel rooms ready, a 12,000-listener storm seated with no room created on the hot path, and the
end of the show closing every room of the family.

The stack is this module's own: its scheduler clock runs 60 times faster than real time, and its
listeners, who never heartbeat, hold one-hour seat leases, so housekeeping (every scheduler minute,
about once a second here) runs all through the storm without freeing their seats as ghosts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token
from tests.e2e import clients
from tests.e2e.state import FamilyState, read_family
from tests.e2e.test_concurrency import PROCESSES, THREADS, spawn_pool, split

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.xdist_group("stack")]

CLOCK_SPEED = 60.0
CAPACITY = 5000
AUDIENCE = 12_000
SCHEDULED_TIME = "%Y-%m-%dT%H:%M:%SZ"


@pytest.fixture(scope="module")
def show_stack() -> Iterator[LocalStack]:
    with LocalStack(
        stack_name="show",
        visibility_timeout=20,
        max_instances=4,
        clock_speed=CLOCK_SPEED,
        parameters={"HeartbeatIntervalSeconds": 3600},
    ) as stack:
        yield stack


def queue_depth(stack: LocalStack, logical_id: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.template.queues[logical_id].url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def schedule_names(stack: LocalStack) -> set[str]:
    group = stack.template.schedule_groups["ShowScheduleGroup"].name
    return {s["Name"] for s in stack.client("scheduler").list_schedules(GroupName=group)["Schedules"]}


class Show:
    """One booked show, driven over HTTP, checked against the store."""

    def __init__(self, stack: LocalStack, http: httpx.Client) -> None:
        self.stack = stack
        self.http = http
        self.host = {"Authorization": f"Bearer {mint_token('good-time-host', ttl_seconds=7200)}"}
        self.dynamodb = stack.client("dynamodb")
        self.table = stack.template.tables["RoomsTable"].name
        self.timings: dict[str, float] = {}
        # starting within two minutes (real time: the API refuses the past), ending long after the
        # storm even at 60x (the test ends it by jumping the clock)
        self.starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=2)
        self.ends = self.starts + timedelta(hours=23)
        self.event_id = ""
        self.room_id = ""

    @property
    def opening(self) -> str:
        return f"show-{self.event_id}-open"

    @property
    def closing(self) -> str:
        return f"show-{self.event_id}-close"

    def event(self) -> dict[str, Any]:
        response = self.http.get(f"/events/{self.event_id}", headers=self.host)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def family(self) -> FamilyState:
        return read_family(self.dynamodb, self.table, self.room_id)

    def book(self) -> None:
        booking = {
            "title": "Ballmer on the Good Time Show",
            "starts_at": self.starts.isoformat(),
            "ends_at": self.ends.isoformat(),
            "timezone": "Europe/Paris",
            "capacity": CAPACITY,
            "expected_audience": AUDIENCE,
        }
        booked = self.http.post("/events", json=booking, headers=self.host)
        assert booked.status_code == 201, booked.text
        self.event_id = booked.json()["event_id"]
        assert booked.json()["status"] == "scheduled" and booked.json()["room_id"] is None
        assert {self.opening, self.closing} <= schedule_names(self.stack)

    def wait_deleted(self, schedule: str, timeout: float = 600) -> None:
        """A one-time schedule deletes itself once its invocation returned, a moment after its effect shows."""
        deadline = time.monotonic() + timeout
        while schedule in schedule_names(self.stack):
            assert time.monotonic() < deadline, f"{schedule} was not deleted after it fired"
            time.sleep(0.2)

    def wait_invocations(self, schedule: str, timeout: float = 600) -> list[Any]:
        """The scheduler's record of a schedule's invocations, once it has recorded a successful one."""
        deadline = time.monotonic() + timeout
        while not any(invocation.ok for invocation in self.stack.scheduler.invocations_of(schedule)):
            assert time.monotonic() < deadline, f"no successful invocation of {schedule} was recorded"
            time.sleep(0.2)
        return self.stack.scheduler.invocations_of(schedule)

    def wait_until(self, status: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (event := self.event())["status"] != status:
            assert time.monotonic() < deadline, f"still {event['status']} after {timeout} s"
            time.sleep(0.2)
        return event

    def check_opened(self) -> dict[str, str]:
        """The show went live from its own schedule with two parallel rooms ready; their store items."""
        clock = time.monotonic()
        event = self.wait_until("live", timeout=600)
        self.timings["open"] = time.monotonic() - clock
        # its one-time schedule opened it, once, for the start, then deleted itself. The show turns live
        # during the open invocation, before the scheduler records that invocation: wait for the record.
        [opening] = self.wait_invocations(self.opening)
        assert opening.ok and opening.scheduled_time == self.starts
        assert opening.event == {
            "action": "open",
            "event_id": self.event_id,
            "scheduled_time": f"{self.starts:{SCHEDULED_TIME}}",
        }
        self.wait_deleted(self.opening)
        assert self.closing in schedule_names(self.stack)
        # exactly two parallel rooms beside the main room, open and empty
        self.room_id = event["room_id"]
        assert event["provisioned_rooms"] == math.ceil(AUDIENCE / CAPACITY) - 1 == 2
        listed = self.http.get(f"/rooms/{self.room_id}/family", headers=self.host)
        assert listed.status_code == 200, listed.text
        rooms = sorted(listed.json()["rooms"], key=lambda room: room["index"])
        assert [(r["index"], r["status"], r["occupancy"], r["capacity"]) for r in rooms] == [
            (0, "open", 0, CAPACITY),
            (1, "open", 0, CAPACITY),
            (2, "open", 0, CAPACITY),
        ]
        assert rooms[0]["parallel_count"] == 2 and {r["event_id"] for r in rooms} == {self.event_id}
        ready = {item["room_id"]: item["created_at"] for item in self.family().rooms.values()}
        assert len(ready) == 3
        return ready

    def storm(self, users: list[tuple[str, str]]) -> list[tuple[str, int, Any]]:
        """Every user joins the main room once, from 2 processes x 16 threads; then the stack drains."""
        clock = time.monotonic()
        with spawn_pool() as pool:
            futures = [
                pool.submit(clients.join_over_http, self.stack.api_url, self.room_id, part, THREADS)
                for part in split(users, PROCESSES)
            ]
            results = [result for future in futures for result in future.result()]
        self.timings["joins"] = time.monotonic() - clock
        self.stack.wait_idle(timeout=1200)
        self.timings["storm"] = time.monotonic() - clock
        return results

    def check_seated(
        self, users: list[tuple[str, str]], results: list[tuple[str, int, Any]], ready: dict[str, str]
    ) -> None:
        # every join was answered with a seat or a ticket as stored, no error; 5,000 / 5,000 / 2,000
        # seats (counted in the table) in the rooms made at the open: the same three items, the counter
        # still at 2, so no room was created on the hot path
        state = self.family()
        state.assert_invariants()
        state.assert_answers_match(results)
        by_index = state.by_index()
        assert {index: room["occupancy"] for index, room in by_index.items()} == {0: 5000, 1: 5000, 2: 2000}
        assert by_index[0]["parallel_count"] == 2
        assert {item["room_id"]: item["created_at"] for item in state.rooms.values()} == ready
        # every listener holds exactly one seat, every ticket was seated, nothing was dead-lettered
        assert len(state.seats) == AUDIENCE
        assert {seat["user_id"] for seat in state.seats} == {user for user, _ in users}
        assert len(state.tickets) == AUDIENCE - CAPACITY and all(t["status"] == "seated" for t in state.tickets)
        for queue in ("OverflowQueue", "OverflowDeadLetterQueue", "SchedulerDeadLetterQueue"):
            assert queue_depth(self.stack, queue) == 0, queue
        # a listener following its ticket learns where it sits
        user, _, body = next(result for result in results if result[1] == 202)
        headers = {"Authorization": f"Bearer {dict(users)[user]}"}
        ticket = self.http.get(f"/tickets/{body['ticket']['ticket_id']}", headers=headers).json()
        assert ticket["status"] == "seated" and ticket["room_index"] in (1, 2)

    def wait_emptied(self, timeout: float = 1200) -> None:
        """Until every room of the family reads empty (the API sums the stored occupancies)."""
        deadline = time.monotonic() + timeout
        while (listed := self.http.get(f"/rooms/{self.room_id}/family", headers=self.host).json())[
            "total_occupancy"
        ] > 0:
            assert time.monotonic() < deadline, f"{listed['total_occupancy']} seats still held"
            time.sleep(0.5)

    def end_and_check_closed(self) -> None:
        clock = time.monotonic()
        self.stack.advance_clock((self.ends - self.stack.scheduler_now()).total_seconds() + 60, timeout=1200)
        self.wait_until("ended", timeout=600)
        self.timings["close"] = time.monotonic() - clock
        # its close schedule fired for the end (retried if need be, never for another occurrence)
        closings = self.wait_invocations(self.closing)
        assert closings and closings[-1].ok and {c.scheduled_time for c in closings} == {self.ends}
        assert closings[-1].event["scheduled_time"] == f"{self.ends:{SCHEDULED_TIME}}"
        self.wait_deleted(self.closing)
        # the close frees seats for 5 s and housekeeping frees the rest (a slow machine needs it): a read
        # of the table while seats are still being freed sees rooms and seats at different moments
        self.wait_emptied()
        # every room of the family is closed, empty, with no seat left
        state = self.family()
        state.assert_invariants()
        assert sorted((room["index"], room["status"], room["occupancy"]) for room in state.rooms.values()) == [
            (0, "closed", 0),
            (1, "closed", 0),
            (2, "closed", 0),
        ]
        assert state.seats == []


def test_a_booked_show_opens_ready_seats_the_storm_in_its_rooms_and_closes_them(show_stack: LocalStack) -> None:
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    with httpx.Client(base_url=show_stack.api_url, timeout=60, limits=limits) as http:
        show = Show(show_stack, http)
        # GIVEN a show booked over HTTP for 12,000 listeners at 5,000 a room, starting within two minutes
        show.book()
        # WHEN the 60x scheduler clock reaches its start THEN it goes live within seconds of real time,
        # from its own schedule, with exactly two parallel rooms ready
        ready = show.check_opened()
        # WHEN 12,000 listeners join its main room at once
        users = [(f"listener-{n}", mint_token(f"listener-{n}", ttl_seconds=7200)) for n in range(AUDIENCE)]
        sweeps_before = len(show_stack.scheduler.invocations_of("SchedulerFunctionHousekeeping"))
        results = show.storm(users)
        # THEN all are seated, once each, in the three rooms made at the open: none on the hot path
        show.check_seated(users, results, ready)
        # AND housekeeping ran during the storm (every scheduler minute) and never failed
        sweeps = show_stack.scheduler.invocations_of("SchedulerFunctionHousekeeping")[sweeps_before:]
        assert len(sweeps) >= 2 and all(sweep.ok for sweep in sweeps)
        # WHEN the scheduler clock jumps past its end THEN every room of the family closes, emptied
        show.end_and_check_closed()
        assert show_stack.scheduler.failures == []
        assert len(show_stack.scheduler.invocations_of(show.opening)) == 1  # never opened twice
    print(f"\nshow e2e timings (s): {', '.join(f'{k} {v:.1f}' for k, v in show.timings.items())}")
