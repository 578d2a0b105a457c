"""Speakers over HTTP on the local stack: a room of 10 keeps 2 seats for speakers; a storm of joins never
takes them, the host brings a parallel-room listener and a main-room listener up to them, a third is
refused STAGE_FULL, a speaker steps down, and I1/I2 hold throughout."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rooms_local.stack import LocalStack
from tests.e2e.state import FamilyState

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]


def test_the_host_brings_listeners_up_to_the_stage_which_no_join_takes(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    made = http.post("/rooms", json={"title": "stage", "capacity": 10, "speaker_seats": 2}, headers=tokens("spk-host"))
    assert made.status_code == 201 and made.json()["speaker_seats"] == 2, made.text
    room_id = made.json()["room_id"]

    def join(n: int) -> int:
        return http.post(f"/rooms/{room_id}/join", headers=tokens(f"spk-{n}")).status_code

    # GIVEN 12 joins at once: 8 listener seats, the rest queued for a parallel room (none on the stage)
    with ThreadPoolExecutor(12) as pool:
        answers = sorted(pool.map(join, range(12)))
    assert answers == [200] * 8 + [202] * 4
    stack.wait_idle(timeout=300)
    state = family_state(room_id)
    state.assert_invariants()
    assert state.seats_in(room_id) == 8 and not any(seat.get("speaker") for seat in state.seats)
    in_parallel = next(seat["user_id"] for seat in state.seats if seat["room_id"] != room_id)
    in_main = next(seat["user_id"] for seat in state.seats if seat["room_id"] == room_id)

    # WHEN the host brings one of each up THEN both sit on the stage of the main room
    for user in (in_parallel, in_main):
        brought = http.put(f"/rooms/{room_id}/speakers/{user}", headers=tokens("spk-host"))
        assert brought.status_code == 200, brought.text
        assert (brought.json()["room_id"], brought.json()["speaker"]) == (room_id, True)
    # AND a third is refused, as is a listener who is not the host
    other = next(seat["user_id"] for seat in state.seats if seat["user_id"] not in (in_parallel, in_main))
    full = http.put(f"/rooms/{room_id}/speakers/{other}", headers=tokens("spk-host"))
    assert full.status_code == 409 and full.json()["error"]["code"] == "STAGE_FULL", full.text
    refused = http.put(f"/rooms/{room_id}/speakers/{other}", headers=tokens(other))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "NOT_HOST"
    stack.wait_idle(timeout=300)
    state = family_state(room_id)
    state.assert_invariants()
    speakers = {seat["user_id"] for seat in state.seats if seat.get("speaker")}
    # (7 listeners: the seat the main-room listener left is free, for a join or a promotion)
    assert speakers == {in_parallel, in_main} and state.seats_in(room_id) == 9
    listed = http.get(f"/rooms/{room_id}/participants", headers=tokens("spk-host")).json()["participants"]
    assert {seat["user_id"] for seat in listed if seat["speaker"]} == speakers

    # WHEN a speaker steps down THEN their stage seat is free, and joins take the listener seat, never it
    stepped = http.delete(f"/rooms/{room_id}/speakers/{in_main}", headers=tokens(in_main))
    assert stepped.status_code == 200 and stepped.json()["left"] is True, stepped.text
    late = [http.post(f"/rooms/{room_id}/join", headers=tokens(f"spk-late-{n}")) for n in range(2)]
    assert [answer.status_code for answer in late] == [200, 202]
    assert late[0].json()["seat"]["speaker"] is False
    stack.wait_idle(timeout=300)
    state = family_state(room_id)
    state.assert_invariants()
    assert state.seats_in(room_id) == 9  # 8 listeners, 1 speaker: the free stage seat stays free
    assert sum(1 for seat in state.seats if seat.get("speaker")) == 1
