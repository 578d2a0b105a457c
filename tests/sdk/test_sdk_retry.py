"""Retries: 429, 5xx and connection errors are retried with capped, jittered, exponential backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from rooms_client import (
    AsyncRoomsClient,
    ContentionError,
    RetryPolicy,
    RoomNotFoundError,
    RoomsClient,
    RoomsConnectionError,
    ThrottledError,
)
from rooms_client.retry import full_jitter, parse_retry_after
from tests.sdk.sdk_fakes import FakeClock, error_body, room_json

Step = httpx.Response | Exception


def scripted(steps: list[Step], seen: list[httpx.Request]) -> httpx.MockTransport:
    """A server that plays ``steps`` in order: a response to return or an exception to raise."""
    script: Iterator[Step] = iter(steps)

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = next(script)
        if isinstance(step, Exception):
            raise step
        return step

    return httpx.MockTransport(answer)


def no_jitter(ceiling: float) -> float:
    return ceiling  # the top of the window: the worst case, deterministic


def client(steps: list[Step], seen: list[httpx.Request], clock: FakeClock, **policy: Any) -> RoomsClient:
    retry = RetryPolicy(jitter=no_jitter, **policy)
    return RoomsClient("http://api.test", "tok", transport=scripted(steps, seen), retry=retry, sleep=clock.sleep)


def throttled(retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return httpx.Response(429, json={"message": "Too Many Requests"}, headers=headers)


def contention(retry_after: str = "1") -> httpx.Response:
    return httpx.Response(503, json=error_body("CONTENTION"), headers={"Retry-After": retry_after})


def ok() -> httpx.Response:
    return httpx.Response(200, json=room_json())


def test_429_then_503_then_200_succeeds_and_honours_retry_after(clock: FakeClock) -> None:
    # GIVEN a server that throttles (Retry-After 3), then is contended (Retry-After 1), then answers
    seen: list[httpx.Request] = []
    rooms = client([throttled("3"), contention("1"), ok()], seen, clock)
    # WHEN a room is read
    room = rooms.get_room("r_1")
    # THEN the third attempt's answer is returned, after waits of at least each Retry-After
    assert room.room_id == "r_1"
    assert len(seen) == 3
    assert clock.sleeps == [3.0, 1.0]


def test_backoff_doubles_up_to_the_cap(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []
    steps: list[Step] = [*[httpx.Response(502, text="Bad Gateway")] * 5, ok()]
    rooms = client(steps, seen, clock, base_delay=0.5, max_delay=3.0)
    rooms.get_room("r_1")
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_connection_errors_are_retried(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []
    refused = httpx.ConnectError("connection refused")
    reset = httpx.ReadError("connection reset")
    rooms = client([refused, reset, ok()], seen, clock)
    assert rooms.get_room("r_1").room_id == "r_1"
    assert len(seen) == 3
    assert len(clock.sleeps) == 2


def test_giving_up_raises_the_last_typed_error(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []
    rooms = client([contention()] * 4, seen, clock, max_attempts=4)
    with pytest.raises(ContentionError) as raised:
        rooms.get_room("r_1")
    assert raised.value.status == 503 and raised.value.retry_after == 1.0
    assert len(seen) == 4 and len(clock.sleeps) == 3


def test_giving_up_on_connection_errors_raises_a_connection_error(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []
    rooms = client([httpx.ConnectError("refused")] * 3, seen, clock, max_attempts=3)
    with pytest.raises(RoomsConnectionError):
        rooms.get_room("r_1")
    assert len(seen) == 3


def test_client_errors_are_not_retried(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []
    rooms = client([httpx.Response(404, json=error_body("ROOM_NOT_FOUND"))], seen, clock)
    with pytest.raises(RoomNotFoundError):
        rooms.get_room("r_1")
    assert len(seen) == 1 and clock.sleeps == []


@pytest.mark.parametrize(
    "first",
    [
        throttled,
        contention,
        lambda: httpx.ConnectError("refused"),
        lambda: httpx.Response(500, json=error_body("INTERNAL")),
        lambda: httpx.ReadTimeout("no answer"),
    ],
    ids=["429", "503", "connect-error", "500", "read-timeout"],
)
def test_create_room_is_retried_under_one_idempotency_key(clock: FakeClock, first: Callable[[], Step]) -> None:
    # GIVEN creating a room, whose answer may be lost after the room was made
    seen: list[httpx.Request] = []
    rooms = client([first(), httpx.Response(201, json=room_json())], seen, clock)
    # WHEN the first attempt fails THEN it is retried with the same Idempotency-Key, so the API
    # answers the retry with the room the first attempt made instead of opening a second one
    assert rooms.create_room("Show", 5).room_id == "r_1"
    keys = [request.headers.get("Idempotency-Key") for request in seen]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


def test_each_create_gets_its_own_key_unless_the_caller_gives_one(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []
    rooms = client([httpx.Response(201, json=room_json())] * 3, seen, clock)
    rooms.create_room("Show", 5)
    rooms.create_room("Show", 5)
    rooms.create_room("Show", 5, idempotency_key="my-key")
    keys = [request.headers["Idempotency-Key"] for request in seen]
    assert keys[0] != keys[1] and keys[2] == "my-key"


def test_retry_after_is_capped(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []
    rooms = client([throttled("3600"), ok()], seen, clock, max_retry_after=20.0)
    rooms.get_room("r_1")
    assert clock.sleeps == [20.0]


def test_no_retry_policy_fails_at_once(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []
    rooms = client([throttled()], seen, clock, max_attempts=1)
    with pytest.raises(ThrottledError):
        rooms.get_room("r_1")
    assert len(seen) == 1


def test_async_client_retries_the_same_way(clock: FakeClock) -> None:
    seen: list[httpx.Request] = []

    async def read() -> str:
        retry = RetryPolicy(jitter=no_jitter)
        transport = scripted([throttled("2"), httpx.ConnectError("refused"), ok()], seen)
        async with AsyncRoomsClient(
            "http://api.test", "tok", transport=transport, retry=retry, sleep=clock.async_sleep
        ) as rooms:
            return (await rooms.get_room("r_1")).room_id

    assert asyncio.run(read()) == "r_1"
    assert clock.sleeps == [2.0, 0.2]


def test_full_jitter_stays_in_the_window() -> None:
    draws = [full_jitter(0.8) for _ in range(200)]
    assert all(0.0 <= draw <= 0.8 for draw in draws)
    assert len(set(draws)) > 1
    policy = RetryPolicy(base_delay=1.0, max_delay=4.0)
    assert all(0.0 <= policy.delay(attempt) <= 4.0 for attempt in range(1, 10))
    # a server's Retry-After is a floor under the jitter
    assert all(policy.delay(1, retry_after=2.5) >= 2.5 for _ in range(20))


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
