"""The storm runner and `rooms simulate`, against the in-memory API (the real stack: test_sdk_e2e.py)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest

from rooms_client import DevToken
from rooms_client.cli import main
from rooms_client.simulate import StormConfig, StormResult, check_invariants, run_storm
from tests.sdk.sdk_fakes import FakeRoomsApi


def storm(api: FakeRoomsApi, config: StormConfig) -> StormResult:
    transport = httpx.MockTransport(api)
    return asyncio.run(run_storm(config, "http://api.test", DevToken("host"), DevToken, transport=transport))


def fast(**overrides: object) -> StormConfig:
    settings: dict = {"users": 23, "capacity": 5, "concurrency": 4, "sample_interval": 0.02, "seed": 3}
    return StormConfig(**(settings | overrides))


@pytest.mark.parametrize("arrival", ["burst", "linear", "poisson"])
def test_a_storm_seats_everyone_and_keeps_the_invariants(arrival: str) -> None:
    # GIVEN 23 users for rooms of 5
    api = FakeRoomsApi()
    # WHEN they storm in
    result = storm(api, fast(arrival=arrival, duration=0.2))
    # THEN all are seated, 18 through tickets into ceil(18 / 5) = 4 parallel rooms, and I1-I5 hold
    assert [user.outcome for user in result.users] == ["seated"] * 23
    assert sum(user.via_ticket for user in result.users) == 18
    assert [room.index for room in result.rooms] == [0, 1, 2, 3, 4]
    assert [len(room.participants) for room in result.rooms] == [5, 5, 5, 5, 3]
    assert not any(check.failed for check in check_invariants(result.rooms, result.users, result.any_left))
    # and it measured what it reports
    assert all(user.join_latency is not None and user.seat_latency is not None for user in result.users)
    assert len(result.samples) >= 2 and result.samples[-1].occupancy["r_0001-p4"] == 3
    assert result.requests == len(api.requests) and result.statuses[202] == 18
    assert 0 < result.storm_requests < result.requests  # the room's creation and the final reads are outside


def test_a_broken_cap_is_caught() -> None:
    # GIVEN a server that lets one user too many into the main room
    result = storm(FakeRoomsApi(over_admit=1), fast())
    checks = {check.name: check for check in check_invariants(result.rooms, result.users, result.any_left)}
    # THEN I1 fails, naming the room
    assert checks["I1"].failed and "r_0001" in checks["I1"].detail


def test_churn_leaves_and_skips_the_no_leave_invariants() -> None:
    result = storm(FakeRoomsApi(), fast(users=8, leave_rate=1.0, leave_after=0.01))
    assert all(user.left for user in result.users)
    assert all(not room.participants for room in result.rooms)
    checks = {check.name: check.status for check in check_invariants(result.rooms, result.users, result.any_left)}
    assert checks == {"I1": "pass", "I2": "pass", "I3": "pass", "I4": "skip", "I5": "skip"}


def test_the_simulate_command_reports_writes_and_exits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeRoomsApi()
    argv = [
        "--api-url",
        "http://api.test",
        "simulate",
        "--users",
        "12",
        "--capacity",
        "4",
        "--concurrency",
        "3",
    ]
    argv += ["--sample-interval", "0.02", "--out", str(tmp_path), "--no-progress", "--seed", "1"]
    code = main(argv, async_transport=httpx.MockTransport(api))
    out = capsys.readouterr().out
    assert code == 0
    assert "2 parallel rooms created" in out and "All invariants hold." in out
    assert "p95" in out and "req/s" in out
    assert (tmp_path / "occupancy.png").stat().st_size > 0
    assert "base64" in (tmp_path / "report.html").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["ok"] is True


def test_the_simulate_command_exits_non_zero_on_a_violation(tmp_path: Path) -> None:
    argv = ["simulate", "--users", "6", "--capacity", "2", "--out", str(tmp_path), "--no-progress"]
    assert main(argv, async_transport=httpx.MockTransport(FakeRoomsApi(over_admit=1))) == 1


def test_a_deployed_api_needs_a_token_per_user(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--token", "abc", "simulate", "--users", "2"]) == 2
    assert "--token-cmd" in capsys.readouterr().err


def test_without_the_simulate_extra_the_command_asks_for_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an install without the `simulate` extra: matplotlib cannot be imported
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    api = FakeRoomsApi()
    # WHEN a storm is asked for
    code = main(["simulate", "--users", "3", "--no-progress"], async_transport=httpx.MockTransport(api))
    # THEN it exits at once, names the extra, and sent no request
    assert code == 2
    assert "pip install 'rooms-client[simulate]'" in capsys.readouterr().err
    assert api.requests == []
