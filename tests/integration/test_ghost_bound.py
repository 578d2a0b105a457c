"""The ghost bound the README states: a silent seat's lease is two heartbeat intervals from its last
heartbeat, and the first housekeeping run at or after the lease's end hands its expiry shard to the
sweeper, which frees it. Housekeeping runs every minute, so a ghost is freed between 2 intervals and
2 intervals + 1 minute (plus the sweep job's own run) after its last heartbeat."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rooms.config import settings
from tests.integration.test_events import CallApi, shows
from tests.integration.test_events_housekeeping import Clock, clock, seats_of, sweep

__all__ = ["clock", "shows", "sweep"]  # fixtures shared with the housekeeping tests


def test_a_silent_seat_lives_exactly_its_lease_and_the_next_sweep_frees_it(
    call_api: CallApi, clock: Clock, sweep: Callable[[], Any]
) -> None:
    interval = settings().heartbeat_interval_seconds
    _, room = call_api("create_room", body={"title": "Ghost bound", "capacity": 5})
    room_id = room["room_id"]
    status, joined = call_api("join_room", path={"room_id": room_id}, sub="silent")
    assert status == 200
    # GIVEN a seat whose app died right after joining (its lease: two intervals from the join)
    assert joined["seat"]["heartbeat_interval_seconds"] == interval
    # WHEN housekeeping runs a second before the lease ends THEN the seat is kept
    clock.advance(2 * interval - 1)
    assert sweep().ghosts_freed == 0
    assert seats_of(call_api, room_id) == ["silent"]
    # WHEN the next sweep runs after the lease's end (at most a minute later) THEN it frees the seat
    clock.advance(60)
    assert sweep().ghosts_freed == 1
    assert seats_of(call_api, room_id) == []
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 0


def test_a_sweep_that_fell_behind_frees_every_ghost_whose_lease_ended(
    call_api: CallApi, clock: Clock, sweep: Callable[[], Any]
) -> None:
    interval = settings().heartbeat_interval_seconds
    _, room = call_api("create_room", body={"title": "Ghost backlog", "capacity": 50})
    room_id = room["room_id"]
    # GIVEN twenty ghosts, and a sweep that ran while their leases were still running
    for n in range(20):
        assert call_api("join_room", path={"room_id": room_id}, sub=f"ghost-{n}")[0] == 200
    assert sweep().ghosts_freed == 0
    # WHEN housekeeping next runs thirty intervals later (an outage of the scheduler)
    clock.advance(30 * interval)
    # THEN that one run frees every ghost, and none is left for the next
    assert sweep().ghosts_freed == 20
    assert seats_of(call_api, room_id) == []
    assert sweep().ghosts_freed == 0
