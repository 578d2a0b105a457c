"""Moderation over HTTP on the local stack: a moderator the host named bans a seated listener and a
queued one; the banned user's joins answer 403 BANNED, a ban racing that user's own storm of joins
leaves them unseated, nobody else is touched, and a lifted ban lets them back in."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rooms_local.stack import LocalStack
from tests.e2e.conftest import create_room
from tests.e2e.state import FamilyState

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]


def test_a_moderator_bans_seated_and_queued_users_and_their_joins_answer_banned(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    # GIVEN a room of 2 with a moderator, a seated listener and a queued one
    room = create_room(http, tokens("mod-host"), capacity=2)
    room_id = room["room_id"]
    named = http.put(f"/rooms/{room_id}/moderators/mod-carol", headers=tokens("mod-host"))
    assert named.status_code == 200 and named.json()["moderators"] == ["mod-carol"], named.text
    for user in ("mod-seated", "mod-other"):
        assert http.post(f"/rooms/{room_id}/join", headers=tokens(user)).status_code == 200
    assert http.post(f"/rooms/{room_id}/join", headers=tokens("mod-queued")).status_code == 202
    # WHEN the moderator bans both, the queued one for an hour
    for user, body in (("mod-seated", {}), ("mod-queued", {"duration_seconds": 3600})):
        answer = http.post(f"/rooms/{room_id}/bans", json={"user_id": user, **body}, headers=tokens("mod-carol"))
        assert answer.status_code == 201, answer.text
    stack.wait_idle(timeout=300)
    # THEN neither holds a seat, the other listener does, and the counts are exact
    state = family_state(room["family_id"])
    state.assert_invariants()
    assert {seat["user_id"] for seat in state.seats} == {"mod-other"}
    # AND their joins answer 403 BANNED in the one error shape, the queued one's ticket failed
    for user in ("mod-seated", "mod-queued"):
        refused = http.post(f"/rooms/{room_id}/join", headers=tokens(user))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "BANNED", refused.text
    tickets = {ticket["user_id"]: ticket for ticket in state.tickets}
    assert tickets["mod-queued"]["status"] == "failed" and tickets["mod-queued"]["reason"] in ("kicked", "banned")
    # AND a listener may not ban, nor the moderator ban the host
    assert (
        http.post(f"/rooms/{room_id}/bans", json={"user_id": "x"}, headers=tokens("mod-other")).json()["error"]["code"]
        == "NOT_MODERATOR"
    )
    assert (
        http.post(f"/rooms/{room_id}/bans", json={"user_id": "mod-host"}, headers=tokens("mod-carol")).json()["error"][
            "code"
        ]
        == "PROTECTED_USER"
    )
    # WHEN the ban is lifted THEN the user joins again (the room has a seat)
    lifted = http.delete(f"/rooms/{room_id}/bans/mod-seated", headers=tokens("mod-carol"))
    assert lifted.json() == {"user_id": "mod-seated", "lifted": True}
    assert http.post(f"/rooms/{room_id}/join", headers=tokens("mod-seated")).status_code == 200


def test_a_ban_racing_the_users_own_storm_of_joins_leaves_them_unseated(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    room = create_room(http, tokens("race-host"), capacity=50)
    room_id = room["room_id"]

    def join(_: int) -> int:
        return http.post(f"/rooms/{room_id}/join", headers=tokens("race-mallory")).status_code

    # WHEN 16 threads join as the same user 64 times while the host bans them midway
    with ThreadPoolExecutor(16) as pool:
        answers = pool.map(join, range(64))
        banned = http.post(f"/rooms/{room_id}/bans", json={"user_id": "race-mallory"}, headers=tokens("race-host"))
        statuses = list(answers)
    assert banned.status_code == 201
    assert set(statuses) <= {200, 403}
    stack.wait_idle(timeout=300)
    # THEN whatever the order, they hold no seat once it is over, and every later join is refused
    state = family_state(room["family_id"])
    state.assert_invariants()
    assert state.seats == []
    assert http.post(f"/rooms/{room_id}/join", headers=tokens("race-mallory")).status_code == 403
