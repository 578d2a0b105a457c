"""The storm's summary, text report, chart and HTML page; percentiles and arrival curves."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rooms_client.simulate import StormConfig, check_invariants, format_report, summarize, write_outputs
from rooms_client.simulate.arrivals import arrival_offsets
from rooms_client.simulate.chart import occupancy_series
from rooms_client.simulate.results import RoomFinal, Sample, StormResult, UserResult
from rooms_client.simulate.stats import latency_summary, percentile


def storm_result(rooms: int = 3) -> StormResult:
    config = StormConfig(users=7, capacity=3)
    result = StormResult(config, "http://api.test", "r_1", datetime(2025, 1, 1, tzinfo=UTC), elapsed=2.0)
    names = ["r_1", *(f"r_1-p{n}" for n in range(1, rooms))]
    members = [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    result.rooms = [RoomFinal(name, i, 3, len(members[i]), "open", members[i]) for i, name in enumerate(names)]
    for i, users in enumerate(members):
        for user in users:
            result.users.append(
                UserResult(user, 0.0, "seated", names[i], via_ticket=i > 0, join_latency=0.01, seat_latency=0.2 * i)
            )
    result.samples = [
        Sample(0.0, {"r_1": 0}),
        Sample(0.5, {"r_1": 3, "r_1-p1": 2}),
        Sample(1.0, {n: 3 for n in names}),
    ]
    result.traffic.sent, result.storm_requests = 40, 36
    result.statuses.update({200: 30, 202: 4, 429: 5})
    return result


def test_summary_counts_admissions_latencies_and_requests() -> None:
    result = storm_result()
    summary = summarize(result, check_invariants(result.rooms, result.users, any_left=False))
    assert summary["ok"] is True
    assert summary["outcomes"]["seated"] == 7
    assert (summary["seated_directly"], summary["seated_via_ticket"]) == (3, 4)
    assert [room["admitted"] for room in summary["rooms"]] == [3, 3, 1]
    assert summary["parallel_rooms"] == 2
    assert summary["latency"]["join"]["p50_ms"] == 10.0
    assert summary["latency"]["seat_via_ticket"]["count"] == 4
    assert summary["requests"] == {
        "total": 40,
        "during_storm": 36,
        "per_second": 18.0,
        "by_status": {"200": 30, "202": 4, "429": 5},
        "transport_errors": 1,
    }
    text = format_report(summary)
    assert "2 parallel rooms created" in text
    assert "I5 PASS" in text and "All invariants hold." in text


def test_the_report_says_when_an_invariant_fails() -> None:
    result = storm_result()
    result.rooms.append(RoomFinal("r_1-p3", 3, 3, 0, "open", []))
    summary = summarize(result, check_invariants(result.rooms, result.users, any_left=False))
    assert summary["ok"] is False
    assert "INVARIANT VIOLATED" in format_report(summary)


def test_outputs_are_written(tmp_path: Path) -> None:
    # GIVEN a finished storm
    result = storm_result()
    summary = summarize(result, check_invariants(result.rooms, result.users, any_left=False))
    # WHEN its files are written into a directory that does not exist yet
    paths = write_outputs(result, summary, tmp_path / "out")
    # THEN the PNG, the self-contained HTML and the JSON are there and not empty
    png, page, data = paths
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    html = page.read_text()
    assert "data:image/png;base64," in html and "<table>" in html and "r_1-p2" in html
    assert json.loads(data.read_text())["family_id"] == "r_1"
    assert all(path.stat().st_size > 0 for path in paths)


def test_occupancy_series_fills_rooms_that_did_not_exist_yet() -> None:
    series = occupancy_series(storm_result())
    assert list(series) == ["r_1", "r_1-p1", "r_1-p2"]
    assert series["r_1-p1"] == ([0.0, 0.5, 1.0], [0, 2, 3])


def test_percentile_interpolates() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 50) is None
    assert latency_summary([])["p99_ms"] is None


@pytest.mark.parametrize("curve", ["burst", "linear", "poisson"])
def test_arrival_curves_stay_in_the_window(curve: str) -> None:
    offsets = arrival_offsets(curve, 100, 10.0, random.Random(7))  # type: ignore[arg-type]
    assert len(offsets) == 100
    assert offsets == sorted(offsets)
    assert all(0.0 <= offset <= 10.0 for offset in offsets)
    if curve == "burst":
        assert set(offsets) == {0.0}
    if curve == "linear":
        assert offsets[1] - offsets[0] == pytest.approx(0.1)


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        StormConfig(users=0)
    with pytest.raises(ValueError):
        StormConfig(leave_rate=1.5)
    with pytest.raises(ValueError):
        StormConfig(arrival="tsunami")  # type: ignore[arg-type]
