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


def test_a_sharded_room_under_churn_keeps_its_shards_equal_to_its_seats_and_fills_to_capacity(
    stack: LocalStack, family_state: Callable[[str], FamilyState]
) -> None:
    # GIVEN a room of 40 split over 8 write shards of 5 seats
    env = {**child_env(stack), "ROOMS_SEATS_PER_WRITE_SHARD": "5"}
    with spawn_pool(1) as pool:
        room_id = pool.submit(clients.create_room_in_store, env, "host-c4", 40).result()
    users = [f"shard-churn-{n}" for n in range(160)]
    # WHEN 160 users join and leave it at once, five times each, from 2 processes x 16 threads
    for quiescent_point in range(2):
        with spawn_pool() as pool:
            futures = [
                pool.submit(clients.churn_in_store, env, room_id, part, 5, THREADS) for part in split(users, PROCESSES)
            ]
            admitted = sum(future.result() for future in futures)
        # THEN at every quiescent point the shards sum to the seats, which are none
        assert admitted > 0, quiescent_point
        state = family_state(room_id)
        state.assert_invariants()
        assert state.occupancy(room_id) == state.seats_in(room_id) == 0
    # WHEN the room fills, then 15 users leave it (their shards drain unevenly)
    with spawn_pool() as pool:
        fills = [pool.submit(clients.admit_in_store, env, room_id, part, THREADS) for part in split(users, PROCESSES)]
        seated = [user for fill in fills for user, outcome in fill.result() if outcome == "seated"]
    assert len(seated) == 40
    with spawn_pool(1) as pool:
        assert pool.submit(clients.release_in_store, env, room_id, seated[::2][:15], THREADS).result() == 15
    state = family_state(room_id)
    state.assert_invariants()
    assert state.occupancy(room_id) == state.seats_in(room_id) == 25
    # THEN 200 newcomers at once take exactly the 15 freed seats, wherever their shards are
    newcomers = [f"shard-new-{n}" for n in range(200)]
    with spawn_pool() as pool:
        joins = [
            pool.submit(clients.admit_in_store, env, room_id, part, THREADS) for part in split(newcomers, PROCESSES)
        ]
        outcomes = [outcome for join in joins for _, outcome in join.result()]
    assert outcomes.count("seated") == 15
    state = family_state(room_id)
    state.assert_invariants()
    assert state.occupancy(room_id) == state.seats_in(room_id) == 40
