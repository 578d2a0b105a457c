"""Friends together over HTTP on the local stack: 200 groups of 5, made and joined by their members'
own tokens, taken at once into a room with 3 seats left; each group sits together in one room or not at
all, the 3 seats are never split among a group, and I1/I2 hold."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from rooms_local.stack import LocalStack
from tests.e2e.conftest import create_room
from tests.e2e.state import FamilyState

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]
GROUPS, MEMBERS, CAPACITY, LEFT = 200, 5, 50, 3


def test_two_hundred_groups_of_five_into_a_nearly_full_room_sit_together_or_not_at_all(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    # GIVEN a room of 50 with 3 seats left
    room = create_room(http, tokens("grp-host"), capacity=CAPACITY)
    room_id = room["room_id"]

    def join_alone(n: int) -> int:
        return http.post(f"/rooms/{room_id}/join", headers=tokens(f"grp-early-{n}")).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(join_alone, range(CAPACITY - LEFT))) == {200}

    # AND 200 groups, each made by its leader and joined by 4 friends with the invite token
    def make_group(g: int) -> tuple[str, list[str]]:
        leader = f"grp-{g}-0"
        made = http.post(f"/rooms/{room_id}/groups", headers=tokens(leader))
        assert made.status_code == 201, made.text
        group_id, token = made.json()["group_id"], made.json()["invite_token"]
        for m in range(1, MEMBERS):
            joined = http.post(
                f"/rooms/{room_id}/groups/{group_id}/members",
                json={"invite_token": token},
                headers=tokens(f"grp-{g}-{m}"),
            )
            assert joined.status_code == 200, joined.text
        return group_id, [f"grp-{g}-{m}" for m in range(MEMBERS)]

    with ThreadPoolExecutor(16) as pool:
        groups = dict(pool.map(make_group, range(GROUPS)))

    # WHEN every leader takes their group in at once
    def take_in(group_id: str) -> tuple[str, int, Any]:
        leader = groups[group_id][0]
        answer = http.post(f"/rooms/{room_id}/join", json={"group_id": group_id}, headers=tokens(leader))
        return group_id, answer.status_code, answer.json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(take_in, groups))
    assert {status for _, status, _ in answers} <= {200, 202}, [a for a in answers if a[1] not in (200, 202)][:3]
    for group_id, status, body in answers:  # an answer names every member, seated or queued together
        listed = body["group"]["seats"] if status == 200 else body["group"]["tickets"]
        assert sorted(item["user_id"] for item in listed) == sorted(groups[group_id]), body
    stack.wait_idle(timeout=600)

    # THEN the invariants hold, and every group sits in one room, all of it
    state = family_state(room["family_id"])
    state.assert_invariants()
    seats = {seat["user_id"]: seat for seat in state.seats}
    rooms_of: dict[str, set[str]] = defaultdict(set)
    for group_id, members in groups.items():
        seated = [seats[user] for user in members if user in seats]
        assert len(seated) in (0, MEMBERS), f"group {group_id} split: {len(seated)} of {MEMBERS} seated"
        assert len({seat["room_id"] for seat in seated}) <= 1, f"group {group_id} is in several rooms"
        assert all(seat.get("group_id") == group_id for seat in seated)
        for seat in seated:
            rooms_of[seat["room_id"]].add(group_id)
    # nobody of a group took the main room's 3 seats (5 do not fit); every group was seated in parallel rooms
    assert state.seats_in(room_id) == CAPACITY - LEFT
    assert sum(len(ids) for ids in rooms_of.values()) == GROUPS
    assert all(len(ids) * MEMBERS <= CAPACITY for ids in rooms_of.values())
    tickets = {ticket["user_id"]: ticket for ticket in state.tickets}
    assert all(tickets[user]["status"] == "seated" for members in groups.values() for user in members)
