"""bench/presence_cost.py: a listener-hour composed from per-call usage, and priced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.presence_cost import PRICES, Usage, cost_document, listener_hour

ROOT = Path(__file__).resolve().parents[2]
PER_CALL = {
    "heartbeat": Usage(http_requests=1, lambda_invocations=1, lambda_gb_seconds=0.01, write_units=4),
    "connect": Usage(lambda_invocations=2, write_units=1),
    "hold": Usage(websocket_messages=2, lambda_invocations=1, write_units=5, read_units=0.5),
    "ping": Usage(websocket_messages=1),
    "close": Usage(lambda_invocations=2, write_units=6, read_units=0.5, sqs_requests=3),
}


def test_an_http_listener_hour_is_one_heartbeat_an_interval() -> None:
    hour = listener_hour(PER_CALL, heartbeat_interval_s=30)["http_heartbeats"]
    assert (hour.http_requests, hour.lambda_invocations, hour.write_units) == (120, 120, 480)
    assert hour.lambda_gb_seconds == pytest.approx(1.2)


def test_a_socket_listener_hour_is_its_minutes_its_pings_and_half_a_connection() -> None:
    hour = listener_hour(PER_CALL, heartbeat_interval_s=30)["socket"]
    assert hour.connection_minutes == 60
    # 12 pings, plus half of a 2-hour connection's hold (2 messages)
    assert hour.websocket_messages == pytest.approx(12 + 1)
    assert hour.lambda_invocations == pytest.approx((2 + 1 + 2) / 2)
    assert hour.write_units == pytest.approx((1 + 5 + 6) / 2)
    assert hour.sqs_requests == pytest.approx(1.5)


def test_prices_apply_per_unit_and_the_ratio_compares_totals() -> None:
    document = cost_document(PER_CALL, 30, PRICES)
    http = document["usd_per_1000_listener_hours"]["http_heartbeats"]
    # 120,000 requests, 120,000 invocations, 1,200 GB-s, 480,000 write units
    expected_http = 0.12 + 0.024 + 1200 * PRICES["lambda_gb_second"] + 0.3
    assert http["total"] == pytest.approx(expected_http)
    socket = document["usd_per_1000_listener_hours"]["socket"]["total"]
    assert document["http_over_socket"] == pytest.approx(expected_http / socket)


@pytest.mark.stack
@pytest.mark.xdist_group("stack")
def test_a_tiny_run_on_the_metered_stack_measures_every_operation(tmp_path: Path) -> None:
    out = tmp_path / "presence.json"
    # in a process of its own: the bench starts and stops a stack, and points nothing here at it
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench/presence_cost.py"), "--listeners", "3", "--pings", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    document = json.loads(out.read_text())
    per_call = document["per_call"]
    # a heartbeat is one request, one invocation, its conditional write; a ping reaches no function
    assert (per_call["heartbeat"]["http_requests"], per_call["heartbeat"]["lambda_invocations"]) == (1, 1)
    assert per_call["heartbeat"]["write_units"] > 0
    assert per_call["ping"]["lambda_invocations"] == 0 and per_call["ping"]["write_units"] == 0
    # a connect runs the authorizer and $connect; a close runs $disconnect and the sweeper's release
    assert per_call["connect"]["invocations_by_function"] == {"AuthorizerFunction": 1, "ConnectionFunction": 1}
    # (the release changes a seat count, which the lifecycle relay reads off the stream, batched)
    closing = dict(per_call["close"]["invocations_by_function"])
    assert 0 < closing.pop("LifecycleFunction") <= 1
    assert closing == {"ConnectionFunction": 1, "SweeperFunction": 1}
    assert document["http_over_socket"] > 1
