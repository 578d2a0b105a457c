"""bench/sweep.py: one smoke run of 300 expired seats on a metered local stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.xdist_group("stack")
def test_a_smoke_run_frees_every_seat_and_prices_it(needs_java: None, tmp_path: Path) -> None:
    # GIVEN 300 seats whose leases ended over the last minute, in rooms of 100
    out = tmp_path / "sweep.json"
    command = [sys.executable, str(ROOT / "bench" / "sweep.py"), "--seats", "300", "--room-size", "100"]
    command += ["--instances", "2", "--json", str(out)]
    # WHEN the bench runs, in its own process: it points its environment at its stack
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    figures = json.loads(out.read_text())
    # THEN one minute run handed out the last minute's buckets and the sweepers freed every seat, at a cost
    assert figures["seats"] == 300 and figures["rooms"] == 3
    assert figures["fan_out"]["expiry_jobs_enqueued"] == 16 * figures["fan_out"]["expiry_buckets"]
    assert figures["freed_per_s"] > 0 and figures["freed_per_instance_busy_s"] > 0
    assert figures["wcu_per_freed_seat"] > 0 and figures["rcu_per_freed_seat"] > 0
    assert figures["aws_sweepers_for_100k_a_minute"] >= 1
