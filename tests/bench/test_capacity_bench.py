"""bench/capacity.py: its windows and worker gate alone, and one tiny run on a metered local stack."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bench.capacity import Window, WorkerGate
from rooms_local.capacity.ledger import Charge, Ledger

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = [
    "admitted_join",
    "queued_join",
    "overflow_seat",
    "ticket_poll",
    "heartbeat",
    "leave",
    "kick",
    "promoting_leave",
    "close",
    "housekeeping_sweep",
    "show_open",
]


def charge(n: int) -> Charge:
    return Charge(at=float(n), operation="PutItem", table="t", index=None, partition_key=f"K{n}", wcu=1, rcu=0)


def test_a_window_holds_the_charges_recorded_while_its_block_ran_and_no_others() -> None:
    ledger = Ledger()
    ledger.record([charge(0)])
    window = Window(ledger)
    with window.recording():
        ledger.record([charge(1), charge(2)])
    ledger.record([charge(3)])
    assert [c.partition_key for c in window.charges] == ["K1", "K2"]


class FakePool:
    def __init__(self) -> None:
        self.invoked = threading.Event()

    def invoke(self, event: Any) -> Any:
        self.invoked.set()
        return {"batchItemFailures": [], "event": event}


def test_the_gate_holds_worker_batches_until_the_block_ends() -> None:
    # GIVEN a worker pool behind the gate, and a batch delivered while the gate is held
    pool = FakePool()
    gate = WorkerGate(pool)
    results: list[Any] = []
    with gate.held():
        delivery = threading.Thread(target=lambda: results.append(pool.invoke({"Records": [1]})))
        delivery.start()
        delivery.join(timeout=0.5)  # not a wait for anything: an open gate would let it through at once
        # THEN the batch has not reached the function
        assert delivery.is_alive() and not pool.invoked.is_set()
    # WHEN the block ends THEN the batch goes through, unchanged
    delivery.join(timeout=60)
    assert results == [{"batchItemFailures": [], "event": {"Records": [1]}}]


@pytest.mark.stack
@pytest.mark.slow
@pytest.mark.xdist_group("stack")
def test_a_tiny_run_measures_every_operation_and_the_ceilings(needs_java: None, tmp_path: Path) -> None:
    # GIVEN a metered stack, 30 users storming a room of 10, heartbeats every 5 s for 5 s
    out = tmp_path / "capacity.json"
    arguments = "--users 30 --capacity 10 --heartbeat-seconds 5 --heartbeat-interval 5 --calls 4 --close-seats 3"
    arguments += " --ghosts 2 --show-capacity 2 --processes 1 --threads 4 --instances 2"
    # WHEN the bench runs, in its own process: it points this process's environment at its stack
    command = [sys.executable, str(ROOT / "bench" / "capacity.py"), *arguments.split(), "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    document = json.loads(out.read_text())
    # THEN every operation was measured and costs something on some key
    assert sorted(document["per_operation"]) == sorted(OPERATIONS)
    for name in OPERATIONS:
        cost = document["per_operation"][name]
        assert cost["wcu_total"] + cost["rcu_total"] > 0, name
        assert cost["wcu_hottest_key"] <= cost["wcu_total"], name
    # AND the storm seated everyone, 10 at once and 20 through the queue, and each of them heartbeated
    assert document["storm"]["run"]["statuses"] == {"200": 10, "202": 20}
    assert document["storm"]["run"]["seated"] == 30
    assert document["heartbeat_window"]["run"]["statuses"] == {"200": 30}
    # AND the ceilings are finite and set by a named key
    ceilings = document["ceilings"]
    assert ceilings["family_joins_per_s"] > 0 and ceilings["platform_listeners"] > 0
    assert ceilings["family_joins"]["key"]["partition_key"]
    assert document["hot_keys"] and document["parameters"]["users"] == 30
