"""The celebrity storm over HTTP, and overflow workers racing on one family."""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx
import pytest

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token
from tests.e2e import clients
from tests.e2e.conftest import create_room
from tests.e2e.state import FamilyState
from tests.e2e.test_concurrency import PROCESSES, THREADS, child_env, spawn_pool, split

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.xdist_group("stack")]


def queue_depth(stack: LocalStack, logical_id: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.template.queues[logical_id].url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_twelve_thousand_users_storm_a_room_of_five_thousand(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    # GIVEN a celebrity's room of 5,000 and 12,000 distinct users joining from 32 concurrent clients
    room = create_room(http, tokens("celebrity"), capacity=5000, title="Ballmer on the Good Time Show")
    users = [(f"fan-{n}", mint_token(f"fan-{n}", ttl_seconds=7200)) for n in range(12_000)]
    with spawn_pool() as pool:
        futures = [
            pool.submit(clients.join_over_http, stack.api_url, room["room_id"], part, THREADS)
            for part in split(users, PROCESSES)
        ]
        results = [result for future in futures for result in future.result()]
    stack.wait_idle(timeout=1200)
    # THEN every join was answered with a seat or a ticket, never an error, each as stored; once the
    # worker drained the queue: main 5,000, exactly two parallel rooms of 5,000 and 2,000
    state = family_state(room["family_id"])
    state.assert_invariants()
    state.assert_answers_match(results)
    occupancy = {index: item["occupancy"] for index, item in state.by_index().items()}
    assert occupancy == {0: 5000, 1: 5000, 2: 2000}
    assert len(occupancy) - 1 == math.ceil(7000 / 5000)  # I4
    assert {seat["user_id"] for seat in state.seats} == {user for user, _ in users}  # everyone, once
    assert len(state.tickets) == 7000 and all(t["status"] == "seated" for t in state.tickets)
    assert queue_depth(stack, "OverflowQueue") == 0
    assert queue_depth(stack, "OverflowDeadLetterQueue") == 0
    # AND a client following its ticket learns where it sits
    user, _, body = next(result for result in results if result[1] == 202)
    ticket = http.get(f"/tickets/{body['ticket']['ticket_id']}", headers=tokens(user)).json()
    assert ticket["status"] == "seated" and ticket["room_index"] in (1, 2) and ticket["family_id"] == room["room_id"]


def test_four_workers_racing_create_each_parallel_room_once(
    stack: LocalStack,
    http: httpx.Client,
    tokens: Callable[[str], dict[str, str]],
    family_state: Callable[[str], FamilyState],
) -> None:
    # GIVEN a family of capacity 50 and a burst of 1,200 overflow users split over 4 worker processes
    room = create_room(http, tokens("host-race"), capacity=50)
    users = [f"burst-{n}" for n in range(1200)]
    workers = 4
    # WHEN the 4 workers seat their share at the same time, in small batches to maximise the races
    with spawn_pool(workers) as pool:
        futures = [
            pool.submit(clients.overflow_worker_in_store, child_env(stack), room["family_id"], part, 10)
            for part in split(users, workers)
        ]
        seated = sum(future.result() for future in futures)
    # THEN each parallel room exists once, K users need exactly ceil(K / capacity) rooms, all full
    assert seated == 1200
    state = family_state(room["family_id"])
    state.assert_invariants()
    by_index = state.by_index()
    assert sorted(by_index) == list(range(0, 1200 // 50 + 1))
    assert by_index[0]["parallel_count"] == 24
    assert all(by_index[i]["occupancy"] == 50 for i in range(1, 25))  # I4 and I5
