"""Hammer the cap on DynamoDB Local with many threads in several processes: I1 and I2 must hold exactly."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import httpx
import pytest

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token
from tests.e2e import clients
from tests.e2e.conftest import create_room
from tests.e2e.state import FamilyState

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]
PROCESSES = 2
THREADS = 16  # per process: 32 concurrent clients in all


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


def child_env(stack: LocalStack) -> dict[str, str]:
    return {key: value for key, value in stack.function_env("ApiFunction").items() if not key.startswith("_")}


def spawn_pool(processes: int = PROCESSES) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))


def test_store_admits_exactly_capacity_under_32_concurrent_writers(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    # GIVEN a room of 500 and 2,000 distinct users spread over 2 processes x 16 threads
    room = create_room(http, tokens("host-c1"), capacity=500)
    users = [f"store-user-{n}" for n in range(2000)]
    # WHEN they all join at once through the store layer, each user twice
    with spawn_pool() as pool:
        futures = [
            pool.submit(clients.admit_in_store, child_env(stack), room["room_id"], part + part[:50], THREADS)
            for part in split(users, PROCESSES)
        ]
        outcomes = [outcome for future in futures for outcome in future.result()]
    # THEN exactly 500 users hold seats, the counter agrees with the seats, nobody twice
    seated_users = {user for user, outcome in outcomes if outcome == "seated"}
    assert len(seated_users) == 500
    state = family_state(room["family_id"])
    state.assert_invariants()
    assert state.occupancy(room["room_id"]) == state.seats_in(room["room_id"]) == 500
    assert {seat["user_id"] for seat in state.seats} == seated_users


def test_http_joins_hold_the_cap_and_overflow_the_rest(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    # GIVEN a room of 500 and 2,000 users joining over HTTP from 2 processes x 16 threads
    room = create_room(http, tokens("host-c2"), capacity=500)
    users = [(f"http-user-{n}", mint_token(f"http-user-{n}", ttl_seconds=7200)) for n in range(2000)]
    with spawn_pool() as pool:
        futures = [
            pool.submit(clients.join_over_http, stack.api_url, room["room_id"], part, THREADS)
            for part in split(users, PROCESSES)
        ]
        results = [result for future in futures for result in future.result()]
    stack.wait_idle(timeout=1200)
    # THEN exactly 500 were seated in the main room, every answer a seat or a ticket as stored
    state = family_state(room["family_id"])
    state.assert_invariants()
    state.assert_answers_match(results)
    by_index = state.by_index()
    assert state.occupancy(room["room_id"]) == 500
    assert len(by_index) - 1 == math.ceil(1500 / 500)  # I4
    assert all(by_index[i]["occupancy"] == 500 for i in range(1, 4))  # I5
    assert len(state.seats) == 2000 and all(t["status"] == "seated" for t in state.tickets)


def test_join_leave_churn_keeps_occupancy_equal_to_seats(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    # GIVEN a small room and four times as many users churning in and out of it
    room = create_room(http, tokens("host-c3"), capacity=20)
    users = [f"churn-user-{n}" for n in range(80)]
    for quiescent_point in range(3):
        with spawn_pool() as pool:
            futures = [
                pool.submit(clients.churn_in_store, child_env(stack), room["room_id"], part, 5, THREADS)
                for part in split(users, PROCESSES)
            ]
            admitted = sum(future.result() for future in futures)
        # THEN at every quiescent point the room is empty again, counter and seats agree
        assert admitted > 0, quiescent_point
        state = family_state(room["family_id"])
        state.assert_invariants()
        assert state.occupancy(room["room_id"]) == 0
