"""A storm on the local stack with DynamoDB's per-key limits enforced (scaled down to the local pace):
the room item and the expiry index throttle, clients see 503 BUSY with Retry-After (never a 500), the
SDK retries them, and everyone ends seated once with I1-I5 holding."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rooms_client import DevToken
from rooms_client.simulate import StormConfig, check_invariants, run_storm
from rooms_local.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.xdist_group("stack")]

SCALE = 0.02  # 20 WCU/s and 60 RCU/s per partition key: AWS's limits at the local stack's pace


@pytest.fixture(scope="module")
def throttled_stack() -> Iterator[LocalStack]:
    # a short heartbeat interval, so every listener's heartbeat lands on one expiry bucket key often
    with LocalStack(
        stack_name="throttled",
        max_instances=4,
        visibility_timeout=10,
        throughput_scale=SCALE,
        parameters={"HeartbeatIntervalSeconds": 5},
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


def test_a_throttled_storm_is_answered_busy_retried_and_seats_everyone_once(throttled_stack: LocalStack) -> None:
    assert throttled_stack.meter is not None
    # GIVEN DynamoDB's per-key limits, and 120 users storming a room of 40 (two parallel rooms to fill)
    config = StormConfig(users=120, capacity=40, concurrency=32, join_timeout=900, seed=11)
    recording = Recording()
    result = asyncio.run(
        run_storm(config, throttled_stack.api_url, DevToken("throttle-host"), DevToken, transport=recording)
    )
    # THEN the hot keys throttled: the main room's item and the expiry index's bucket
    throttled = [charge for charge in throttled_stack.meter.ledger.charges() if charge.throttled]
    keys: Any = Counter((charge.index, charge.partition_key.split("#", 1)[0]) for charge in throttled)
    assert keys[(None, "ROOM")] > 0, keys
    assert keys[("gsi2", "EXPIRY")] > 0, keys
    # AND clients saw them as 503 BUSY with a Retry-After, never a 500 or another server error
    assert recording.server_errors, "no request was throttled"
    assert set(recording.server_errors) == {(503, "BUSY", "1")}, recording.server_errors
    assert 500 not in result.statuses
    # AND the SDK retried them to success: everyone seated, once, every invariant of the design holding
    outcomes = Counter(user.outcome for user in result.users)
    assert outcomes == {"seated": 120}, [
        (u.user_id, u.outcome, u.detail) for u in result.users if u.outcome != "seated"
    ]
    failed = [check for check in check_invariants(result.rooms, result.users, result.any_left) if check.failed]
    assert not failed, failed
    assert sorted(len(room.participants) for room in result.rooms) == [40, 40, 40]
    print(f"\nthrottled storm: {sum(recording.server_errors.values())} x 503 BUSY, throttled charges {dict(keys)}")
