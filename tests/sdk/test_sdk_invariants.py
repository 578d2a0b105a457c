"""The storm's invariant checker, on synthetic final states: it passes what holds and names what breaks."""

from __future__ import annotations

from rooms_client.simulate.invariants import FAIL, PASS, SKIP, InvariantResult, check_invariants
from rooms_client.simulate.results import RoomFinal, UserResult


def room(index: int, users: list[str], capacity: int = 3, occupancy: int | None = None) -> RoomFinal:
    room_id = "r_1" if index == 0 else f"r_1-p{index}"
    count = len(users) if occupancy is None else occupancy
    return RoomFinal(room_id, index, capacity, count, "open", users)


def seated(user_id: str, room_id: str, **extra: object) -> UserResult:
    return UserResult(user_id, 0.0, "seated", room_id, **extra)  # type: ignore[arg-type]


def healthy() -> tuple[list[RoomFinal], list[UserResult]]:
    """8 users, capacity 3: the main room and p1 full, p2 holding the last two."""
    rooms = [room(0, ["a", "b", "c"]), room(1, ["d", "e", "f"]), room(2, ["g", "h"])]
    users = [seated(user, r.room_id, via_ticket=r.index > 0) for r in rooms for user in r.participants]
    return rooms, users


def by_name(results: list[InvariantResult]) -> dict[str, InvariantResult]:
    return {result.name: result for result in results}


def statuses(results: list[InvariantResult]) -> dict[str, str]:
    return {result.name: result.status for result in results}


def test_a_healthy_storm_passes_everything() -> None:
    rooms, users = healthy()
    results = check_invariants(rooms, users, any_left=False)
    assert statuses(results) == dict.fromkeys(["I1", "I2", "I3", "I4", "I5"], PASS)
    assert "seated 8" in by_name(results)["I3"].detail


def test_i1_occupancy_disagreeing_with_the_participants() -> None:
    rooms, users = healthy()
    rooms[1] = room(1, ["d", "e", "f"], occupancy=2)
    result = by_name(check_invariants(rooms, users, any_left=False))["I1"]
    assert result.status == FAIL and "r_1-p1" in result.detail


def test_i1_a_room_over_its_capacity() -> None:
    rooms, users = healthy()
    rooms[0] = room(0, ["a", "b", "c", "x"])
    users.append(seated("x", "r_1"))
    assert by_name(check_invariants(rooms, users, any_left=False))["I1"].failed


def test_i2_a_user_in_two_rooms() -> None:
    rooms, users = healthy()
    rooms[2] = room(2, ["g", "h", "a"])
    result = by_name(check_invariants(rooms, users, any_left=False))["I2"]
    assert result.failed and "a x2" in result.detail


def test_i3_a_join_without_a_visible_outcome() -> None:
    rooms, users = healthy()
    users.append(UserResult("late", 0.0, "timeout", detail="still queued"))
    result = by_name(check_invariants(rooms, users, any_left=False))["I3"]
    assert result.failed and "late timeout" in result.detail and "timeout 1" in result.detail


def test_i3_seated_users_must_hold_the_seat_they_were_told() -> None:
    rooms, users = healthy()
    users[0] = seated("a", "r_1-p2")
    assert by_name(check_invariants(rooms, users, any_left=False))["I3"].failed


def test_i3_a_failed_or_errored_user_must_not_hold_a_seat() -> None:
    rooms, users = healthy()
    users[-1] = UserResult("h", 0.0, "error", detail="INTERNAL")
    result = by_name(check_invariants(rooms, users, any_left=False))["I3"]
    assert result.failed and "h error but holds r_1-p2" in result.detail


def test_i3_a_seat_nobody_asked_for() -> None:
    rooms, users = healthy()
    rooms[2] = room(2, ["g", "h", "ghost"])
    result = by_name(check_invariants(rooms, users, any_left=False))["I3"]
    assert result.failed and "ghost seated without a join" in result.detail


def test_i3_clear_errors_are_outcomes() -> None:
    rooms, users = healthy()
    users.append(UserResult("z", 0.0, "failed", detail="family_full"))
    users.append(UserResult("y", 0.0, "error", detail="ROOM_CLOSED"))
    result = by_name(check_invariants(rooms, users, any_left=False))["I3"]
    assert result.status == PASS and "failed 1" in result.detail and "error 1" in result.detail


def test_i4_an_extra_parallel_room() -> None:
    rooms, users = healthy()
    rooms.append(room(3, []))
    results = by_name(check_invariants(rooms, users, any_left=False))
    assert results["I4"].failed and "expected 2" in results["I4"].detail


def test_i5_a_room_left_half_empty_before_the_next() -> None:
    rooms = [room(0, ["a", "b", "c"]), room(1, ["d", "e"]), room(2, ["f", "g", "h"])]
    users = [seated(user, r.room_id) for r in rooms for user in r.participants]
    results = by_name(check_invariants(rooms, users, any_left=False))
    assert results["I5"].failed and "r_1-p1 2/3" in results["I5"].detail
    assert results["I4"].status == PASS  # 5 overflow users in 2 rooms of 3: the count alone is right


def test_leaves_skip_the_no_leave_invariants() -> None:
    rooms, users = healthy()
    rooms[0] = room(0, ["a", "b"])
    users[2].left = True  # c left: the main room has a hole, which is fine
    results = check_invariants(rooms, users, any_left=True)
    assert statuses(results) == {"I1": PASS, "I2": PASS, "I3": PASS, "I4": SKIP, "I5": SKIP}


def test_a_user_who_left_but_still_holds_a_seat_fails_i3() -> None:
    rooms, users = healthy()
    users[0].left = True
    assert by_name(check_invariants(rooms, users, any_left=True))["I3"].failed
