"""The design's invariants, checked against a storm's final state (pure: no I/O)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rooms_client.simulate.results import VISIBLE_OUTCOMES, RoomFinal, UserResult

PASS, FAIL, SKIP = "pass", "fail", "skip"
_SHOWN = 5  # offenders named in a detail line


@dataclass(frozen=True)
class InvariantResult:
    name: str
    title: str
    status: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == FAIL


def _names(items: Sequence[str]) -> str:
    more = f" (+{len(items) - _SHOWN} more)" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def check_occupancy(rooms: Sequence[RoomFinal]) -> InvariantResult:
    bad = [
        f"{r.room_id}: occupancy {r.occupancy}, {len(r.participants)} participants, capacity {r.capacity}"
        for r in rooms
        if r.occupancy != len(r.participants) or len(r.participants) > r.capacity or r.occupancy > r.capacity
    ]
    title = "occupancy == participants <= capacity"
    if bad:
        return InvariantResult("I1", title, FAIL, _names(bad))
    return InvariantResult("I1", title, PASS, f"{len(rooms)} rooms consistent")


def check_one_seat(rooms: Sequence[RoomFinal]) -> InvariantResult:
    seats = Counter(user for room in rooms for user in room.participants)
    doubled = sorted(f"{user} x{count}" for user, count in seats.items() if count > 1)
    title = "at most one seat per user in the family"
    if doubled:
        return InvariantResult("I2", title, FAIL, _names(doubled))
    return InvariantResult("I2", title, PASS, f"{len(seats)} distinct seated users")


def check_outcomes(rooms: Sequence[RoomFinal], users: Sequence[UserResult]) -> InvariantResult:
    """Every join ended visibly, and the final seats agree with what each client was told."""
    counts = Counter(user.outcome for user in users)
    where = {user: room.room_id for room in rooms for user in room.participants}
    ours = {user.user_id for user in users}
    problems = [f"{u.user_id} {u.outcome}" for u in users if u.outcome not in VISIBLE_OUTCOMES]
    for user in users:
        holds = where.get(user.user_id)
        if user.outcome == "seated" and not user.left and holds != user.room_id:
            problems.append(f"{user.user_id} told {user.room_id}, holds {holds}")
        elif (user.outcome != "seated" or user.left) and holds is not None and user.outcome in VISIBLE_OUTCOMES:
            problems.append(f"{user.user_id} {'left' if user.left else user.outcome} but holds {holds}")
    problems += [f"{user} seated without a join" for user in sorted(set(where) - ours)]
    tally = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    title = "every join ends seated or with a clear error"
    if problems:
        return InvariantResult("I3", title, FAIL, f"{tally}; {_names(problems)}")
    return InvariantResult("I3", title, PASS, tally)


def check_parallel_count(rooms: Sequence[RoomFinal], any_left: bool) -> InvariantResult:
    title = "parallel rooms == ceil(overflow / capacity)"
    if any_left:
        return InvariantResult("I4", title, SKIP, "users left during the storm")
    main = next((room for room in rooms if room.index == 0), None)
    if main is None:
        return InvariantResult("I4", title, FAIL, "no main room in the family")
    parallel = [room for room in rooms if room.index > 0]
    overflow = sum(len(room.participants) for room in parallel)
    expected = math.ceil(overflow / main.capacity)
    detail = f"{overflow} overflow users, capacity {main.capacity}: {len(parallel)} rooms, expected {expected}"
    return InvariantResult("I4", title, PASS if len(parallel) == expected else FAIL, detail)


def check_fill_order(rooms: Sequence[RoomFinal], any_left: bool) -> InvariantResult:
    title = "every room but the last is full"
    if any_left:
        return InvariantResult("I5", title, SKIP, "users left during the storm")
    ordered = sorted(rooms, key=lambda room: room.index)
    short = [
        f"{room.room_id} {len(room.participants)}/{room.capacity}"
        for room in ordered[:-1]
        if len(room.participants) < room.capacity
    ]
    if short:
        return InvariantResult("I5", title, FAIL, "not full before the next: " + _names(short))
    return InvariantResult("I5", title, PASS, f"{max(0, len(ordered) - 1)} rooms full before the last")


def check_invariants(rooms: Sequence[RoomFinal], users: Sequence[UserResult], any_left: bool) -> list[InvariantResult]:
    return [
        check_occupancy(rooms),
        check_one_seat(rooms),
        check_outcomes(rooms, users),
        check_parallel_count(rooms, any_left),
        check_fill_order(rooms, any_left),
    ]
