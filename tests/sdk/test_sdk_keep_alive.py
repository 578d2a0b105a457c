"""The storm's keep-alive stops once the seat is gone, instead of heartbeating a freed seat for ever."""

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
