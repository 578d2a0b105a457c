"""Ghost seats on the local stack with a fast scheduler clock (housekeeping's minute is a second here):
a seat whose app died is never freed before its lease ends, and every one is freed after it, by the
sweeper the minute run hands the expiry index's shards to (SweeperFunction, through the sweep queue)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token
from tests.e2e.expired_seats import PlantedRoom, plant_expired_seats

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]

INTERVAL = 5  # the template's minimum heartbeat interval: a 10 s lease
GHOSTS = 20
PLANTED = 300
HOUSEKEEPING = "SchedulerFunctionHousekeeping"


@pytest.fixture(scope="module")
def ghost_stack() -> Iterator[LocalStack]:
    with LocalStack(
        stack_name="ghosts", max_instances=2, clock_speed=60.0, parameters={"HeartbeatIntervalSeconds": INTERVAL}
    ) as stack:
        yield stack


def test_silent_seats_are_freed_after_their_lease_and_never_before(ghost_stack: LocalStack) -> None:
    host = {"Authorization": f"Bearer {mint_token('ghost-host')}"}
    with httpx.Client(base_url=ghost_stack.api_url, timeout=60) as http:
        created = http.post("/rooms", json={"title": "Ghosts", "capacity": GHOSTS}, headers=host)
        assert created.status_code == 201, created.text
        room_id = created.json()["room_id"]
        # GIVEN listeners whose apps die right after joining: they never heartbeat
        leases: dict[str, datetime] = {}
        for n in range(GHOSTS):
            user = f"ghost-{n}"
            joined = http.post(f"/rooms/{room_id}/join", headers={"Authorization": f"Bearer {mint_token(user)}"})
            assert joined.status_code == 200, joined.text
            leases[user] = datetime.fromisoformat(joined.json()["seat"]["expires_at"])
        # WHEN housekeeping runs every scheduler minute THEN each seat goes, but only once its lease ended
        freed_at: dict[str, datetime] = {}
        deadline = time.monotonic() + 600  # a safety net for a hung stack, not a bound on the test
        while len(freed_at) < GHOSTS:
            assert time.monotonic() < deadline, f"still seated: {sorted(set(leases) - set(freed_at))}"
            listed = http.get(f"/rooms/{room_id}/participants", params={"limit": 100}, headers=host)
            assert listed.status_code == 200, listed.text
            seated = {seat["user_id"] for seat in listed.json()["participants"]}
            now = datetime.now(UTC)
            for user in set(leases) - seated - set(freed_at):
                freed_at[user] = now
            time.sleep(0.2)  # polling pace, not synchronisation: the loop waits on the seats themselves
        early = [user for user in leases if freed_at[user] < leases[user]]
        assert early == [], f"freed before their lease ended: {early}"
        room = http.get(f"/rooms/{room_id}", headers=host).json()
        assert room["occupancy"] == 0
    lateness = [(freed_at[user] - leases[user]).total_seconds() for user in leases]
    print(f"\nghosts freed after their lease by (s): p50 {statistics.median(lateness):.1f}, max {max(lateness):.1f}")


def queue_depth(stack: LocalStack, logical_id: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.template.queues[logical_id].url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_a_few_hundred_expired_seats_are_freed_by_the_sweeper_once_each(ghost_stack: LocalStack) -> None:
    host = {"Authorization": f"Bearer {mint_token('sweep-host')}"}
    table = ghost_stack.template.tables["RoomsTable"].name
    (sweeps,) = [source for source in ghost_stack.sources if source.event.function_id == "SweeperFunction"]
    with httpx.Client(base_url=ghost_stack.api_url, timeout=60, headers=host) as http:
        rooms = []
        for title in ("Sweep A", "Sweep B"):
            created = http.post("/rooms", json={"title": title, "capacity": PLANTED})
            assert created.status_code == 201, created.text
            rooms.append(PlantedRoom(created.json()["room_id"], created.json()["family_id"], PLANTED // 2))
        # GIVEN a few hundred seats whose lease just ended, across two rooms (their counts raised to match)
        batches_before = sweeps.batches
        lease_ended = datetime.now(UTC)
        dynamodb = ghost_stack.client("dynamodb")
        assert plant_expired_seats(dynamodb, table, rooms, lease_ended, INTERVAL) == PLANTED
        # WHEN housekeeping runs every scheduler minute THEN the sweeper empties both rooms
        deadline = time.monotonic() + 600  # a safety net for a hung stack, not a bound on the test
        while any(http.get(f"/rooms/{room.room_id}").json()["occupancy"] for room in rooms):
            assert time.monotonic() < deadline, [http.get(f"/rooms/{room.room_id}").json() for room in rooms]
            time.sleep(0.2)  # polling pace, not synchronisation: the loop waits on the rooms themselves
        # AND every seat went with its count, once: no participant is left, no count went below zero
        for room in rooms:
            listed = http.get(f"/rooms/{room.room_id}/participants", params={"limit": 100})
            assert listed.status_code == 200 and listed.json()["participants"] == [], listed.text
            assert http.get(f"/rooms/{room.room_id}").json()["occupancy"] == 0
    # AND the sweeper freed them (the jobs may come from a run that started before they were planted: the
    # current bucket is handed out too), no job dead-lettered, no minute run failed
    assert sweeps.batches > batches_before
    assert queue_depth(ghost_stack, "SweepDeadLetterQueue") == 0
    assert ghost_stack.scheduler.failures == []
