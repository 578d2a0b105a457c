"""Promotion over HTTP on the local stack, the moment a main-room seat frees: a storm of leaves from 16
threads keeps every room within its capacity at every read (and I1/I2 once it is over), and moves the
opted-in overflow users up in arrival order (each leave asks a sweeper for its seat's promotion)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rooms_local.stack import LocalStack
from tests.e2e.conftest import create_room
from tests.e2e.state import FamilyState

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]
CAPACITY = 40
PROMOTING = 30  # queued with promote: true, in this order
LEAVING = 20


def test_a_storm_of_leaves_promotes_in_arrival_order_at_once_and_holds_the_invariants(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    # GIVEN a full room of 40, and 30 users queued after it with promote: true, one after the other
    room = create_room(http, tokens("host-promo"), capacity=CAPACITY)
    room_id = room["room_id"]
    listeners = [f"promo-main-{n}" for n in range(CAPACITY)]
    for user in listeners:
        assert http.post(f"/rooms/{room_id}/join", headers=tokens(user)).status_code == 200
    waiting = [f"promo-wait-{n:02d}" for n in range(PROMOTING)]
    for user in waiting:
        answer = http.post(f"/rooms/{room_id}/join", json={"promote": True}, headers=tokens(user))
        assert answer.status_code == 202, answer.text
    stack.wait_idle(timeout=600)  # the overflow worker has seated them all in parallel room 1
    before = family_state(room["family_id"])
    assert {seat["user_id"] for seat in before.seats if seat["room_id"] != room_id} == set(waiting)

    # WHEN 20 main-room listeners leave at once
    def leave(user: str) -> int:
        return http.post(f"/rooms/{room_id}/leave", headers=tokens(user)).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(leave, listeners[:LEAVING])) == {200}
        # no room is over its capacity while the promotions run (I2 holds by key: one seat item per user)
        family_state(room["family_id"]).assert_within_capacity()
    stack.wait_idle(timeout=600)  # the sweepers took the leaves' promote messages

    # THEN the 20 first in line sit in the main room, the other 10 where they were
    after = family_state(room["family_id"])
    after.assert_invariants()
    in_main = {seat["user_id"] for seat in after.seats if seat["room_id"] == room_id}
    assert in_main == set(listeners[LEAVING:]) | set(waiting[:LEAVING])
    assert after.occupancy(room_id) == CAPACITY
    promoted = {ticket["user_id"]: ticket for ticket in after.tickets if ticket["user_id"] in waiting}
    assert all(promoted[user]["room_id"] == room_id for user in waiting[:LEAVING])
    assert all(promoted[user]["room_id"] != room_id for user in waiting[LEAVING:])
