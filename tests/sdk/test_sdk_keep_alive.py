"""The storm's keep-alive stops once the seat is gone, instead of heartbeating a freed seat for ever, and
does not heartbeat while the live connection holds the seat."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from rooms_client.errors import BusyError, NotSeatedError
from rooms_client.models import Seat
from rooms_client.simulate import runner


class FlakyThenGone:
    """Answers one BUSY (kept beating), one success, then NOT_SEATED (the seat was freed as a ghost)."""

    def __init__(self) -> None:
        self.answers: list[Exception | None] = [BusyError("busy", status=503), None, NotSeatedError("gone", status=409)]
        self.beats = 0

    def heartbeat_needed(self, room_id: str) -> bool:
        return True  # no live connection

    async def heartbeat(self, room_id: str) -> None:
        self.beats += 1
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer


def test_keep_alive_beats_through_errors_and_stops_when_the_seat_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_wait(_: float) -> None:
        return None

    monkeypatch.setattr(runner.asyncio, "sleep", no_wait)
    now = datetime.now(UTC)
    seat = Seat("r_1", "r_1", 0, "u", joined_at=now, expires_at=now, heartbeat_interval_seconds=30)
    client: Any = FlakyThenGone()
    storm: Any = object.__new__(runner.Storm)
    asyncio.run(runner.Storm._keep_alive(storm, client, seat))
    assert client.beats == 3 and client.answers == []


class HeldThenDropped(FlakyThenGone):
    """A socket holds the seat for three rounds, then drops for good: heartbeats take over."""

    def __init__(self) -> None:
        super().__init__()
        self.held_rounds = 3
        self.asked = 0

    def heartbeat_needed(self, room_id: str) -> bool:
        self.asked += 1
        return self.asked > self.held_rounds


def test_keep_alive_skips_heartbeats_while_the_socket_holds_the_seat(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_wait(_: float) -> None:
        return None

    monkeypatch.setattr(runner.asyncio, "sleep", no_wait)
    now = datetime.now(UTC)
    seat = Seat("r_1", "r_1", 0, "u", joined_at=now, expires_at=now, heartbeat_interval_seconds=30)
    client: Any = HeldThenDropped()
    storm: Any = object.__new__(runner.Storm)
    asyncio.run(runner.Storm._keep_alive(storm, client, seat))
    # three rounds held: no beat; then the three answers of the fallback, the last one NOT_SEATED
    assert client.asked == 6 and client.beats == 3
