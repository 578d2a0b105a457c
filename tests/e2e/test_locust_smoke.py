"""The Locust file (bench/locust) drives the local stack as it would a deployed one: a few listeners over
each transport, with duplicates and churn, every one seated, nothing failed."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rooms_local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
LOCUST = ROOT / ".venv-locust" / "bin" / "locust"
USERS, CAPACITY = 6, 4  # two of them overflow to a parallel room, through a 202 and a ticket


@pytest.mark.parametrize("transport", ["socket", "polling"])
def test_a_few_listeners_are_all_seated_over_each_transport(stack: LocalStack, tmp_path: Path, transport: str) -> None:
    assert LOCUST.exists(), "scripts/bootstrap installs Locust into .venv-locust"
    # WHEN Locust spawns the listeners at once (the spike), half of them leaving 5 to 15 s after their seat (by
    # then every join has been answered), the others staying 16 s
    completed = subprocess.run(
        [
            str(LOCUST), "-f", str(ROOT / "bench/locust/locustfile.py"), "--headless", "--only-summary",
            "-u", str(USERS), "-r", str(USERS), "--host", stack.api_url, "--ws-url", stack.ws_url,
            "--transport", transport, "--capacity", str(CAPACITY), "--stay", "16",
            "--leave-rate", "0.5", "--leave-after", "10", "--duplicate-rate", "0.5",
            "--csv", str(tmp_path / "run"), "--run-time", "30m",
        ],
        capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False,
    )  # fmt: skip
    sys.stderr.write(completed.stderr[-4000:])
    # THEN it ended by itself once every listener had, with no failure
    assert completed.returncode == 0, completed.stderr[-4000:]
    rows = {(row["Type"], row["Name"]): row for row in csv.DictReader((tmp_path / "run_stats.csv").open())}
    assert all(row["Failure Count"] == "0" for row in rows.values()), rows
    # AND every listener was seated: the capacity at once, the rest through a ticket followed over the transport
    assert rows[("SEAT", "200 seated")]["Request Count"] == str(CAPACITY)
    assert rows[("SEAT", f"202->seated {transport}")]["Request Count"] == str(USERS - CAPACITY)
    if transport == "socket":
        assert rows[("WS", "hold")]["Request Count"] == str(USERS)
    else:
        assert ("POST", "/rooms/[id]/heartbeat") in rows
