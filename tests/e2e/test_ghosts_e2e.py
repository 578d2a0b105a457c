"""Ghost seats on the local stack with a fast scheduler clock (housekeeping's minute is a second here):
a seat whose app died is never freed before its lease ends, and every one is freed after it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]

INTERVAL = 5  # the template's minimum heartbeat interval: a 10 s lease
GHOSTS = 20


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
