"""DynamoDB's throttling on the local stack.

A storm with DynamoDB's per-key limits enforced, scaled down to the local pace (50 WCU/s and 150 RCU/s a
key): 120 users into a room of 40. Before write shards, the room item took every admission and every
rejected join (about 200 WCU within the storm's first seconds) and the family's ticket index and the
expiry bucket one key each, and all of them throttled. Now no key is ever asked for more than its
one-second burst: each of the room's 8 shards counts 5 seats, the tickets spread over 32 keys, the
heartbeats over 128. So not one request is throttled, whatever the machine's pace, and everyone ends
seated once with I1-I5 holding.
What a client sees of a throttled request is tested apart, with every DynamoDB request throttled:
503 BUSY with Retry-After, which the SDK waits out and retries."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rooms_client import DevToken, RoomsClient
from rooms_client.simulate import StormConfig, check_invariants, run_storm
from rooms_local.capacity.faults import FaultConfig
from rooms_local.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.xdist_group("stack")]

SCALE = 0.05  # 50 WCU/s and 150 RCU/s per partition key: AWS's limits at the local stack's pace


@pytest.fixture(scope="module")
def throttled_stack() -> Iterator[LocalStack]:
    # a short heartbeat interval, so every listener heartbeats into the current expiry bucket often
    with LocalStack(
        stack_name="throttled",
        max_instances=4,
        visibility_timeout=10,
        throughput_scale=SCALE,
        parameters={"HeartbeatIntervalSeconds": 5, "SeatsPerWriteShard": 5},
    ) as stack:
        yield stack


class Recording(httpx.AsyncBaseTransport):
    """The real transport, remembering every 5xx answer's status, error code and Retry-After."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.server_errors: Counter[tuple[int, str, str | None]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if response.status_code >= 500:
            body = await response.aread()
            try:
                code = str(json.loads(body).get("error", {}).get("code"))
            except ValueError:
                code = body[:80].decode(errors="replace")
            self.server_errors[(response.status_code, code, response.headers.get("Retry-After"))] += 1
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_a_storm_under_dynamodb_limits_throttles_no_key_and_seats_everyone_once(throttled_stack: LocalStack) -> None:
    assert throttled_stack.meter is not None
    # GIVEN DynamoDB's per-key limits, and 120 users storming a room of 40 (two parallel rooms to fill)
    config = StormConfig(users=120, capacity=40, concurrency=32, join_timeout=900, seed=11)
    recording = Recording()
    result = asyncio.run(
        run_storm(config, throttled_stack.api_url, DevToken("throttle-host"), DevToken, transport=recording)
    )
    # THEN no request was throttled on any key of the table or its indexes, and no client saw a 5xx
    throttled = [charge for charge in throttled_stack.meter.ledger.charges() if charge.throttled]
    keys: Any = Counter((charge.index, charge.partition_key) for charge in throttled)
    assert not keys, keys
    assert not recording.server_errors, recording.server_errors
    # AND everyone is seated, once, every invariant of the design holding, the rooms filled in order
    outcomes = Counter(user.outcome for user in result.users)
    assert outcomes == {"seated": 120}, [
        (u.user_id, u.outcome, u.detail) for u in result.users if u.outcome != "seated"
    ]
    failed = [check for check in check_invariants(result.rooms, result.users, result.any_left) if check.failed]
    assert not failed, failed
    assert sorted(len(room.participants) for room in result.rooms) == [40, 40, 40]
    hottest = max(throttled_stack.meter.ledger.charges(), key=lambda charge: charge.wcu)
    print(f"\nstorm under DynamoDB's limits: 0 throttled; largest single charge {hottest.wcu} WCU")


class ThrottlingUntilRefused(httpx.BaseTransport):
    """The real transport; the first 503 it passes back ends the throttling, so the next try succeeds."""

    def __init__(self, stack: LocalStack) -> None:
        self._inner = httpx.HTTPTransport()
        self._stack = stack
        self.answers: list[tuple[int, str | None, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        code = None
        if response.status_code >= 500:
            response.read()
            code = response.json().get("error", {}).get("code")
            assert self._stack.meter is not None
            self._stack.meter.inject(None)
        self.answers.append((response.status_code, code, response.headers.get("Retry-After")))
        return response

    def close(self) -> None:
        self._inner.close()


def test_a_join_refused_by_throttling_is_answered_busy_and_the_sdk_retries_it(throttled_stack: LocalStack) -> None:
    meter = throttled_stack.meter
    assert meter is not None
    with RoomsClient(throttled_stack.api_url, DevToken("busy-host")) as host:
        room = host.create_room("Throttled", capacity=5)
    # GIVEN DynamoDB throttling every request, past the Lambda's own retries
    transport = ThrottlingUntilRefused(throttled_stack)
    waits: list[float] = []
    meter.inject(FaultConfig(throttle_rate=1.0))
    try:
        # WHEN a listener joins through the SDK
        with RoomsClient(
            throttled_stack.api_url, DevToken("busy-listener"), transport=transport, sleep=waits.append
        ) as listener:
            seat = listener.join(room.room_id)
    finally:
        meter.inject(None)
    # THEN the throttled try was answered 503 BUSY with Retry-After: 1, the SDK waited that long and tried
    # again, and the listener is seated once
    assert transport.answers[0] == (503, "BUSY", "1"), transport.answers
    assert waits[0] >= 1.0, waits
    assert seat.room_id == room.room_id and seat.user_id == "busy-listener"
    with RoomsClient(throttled_stack.api_url, DevToken("busy-host")) as host:
        assert [s.user_id for s in host.all_participants(room.room_id)] == ["busy-listener"]
