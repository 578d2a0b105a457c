"""Reserved concurrency caps a function on AWS; locally it must never raise the machine's own cap."""

from __future__ import annotations

from rooms_local.stack import LocalStack
from rooms_local.template import load_template
from tests.conftest import ROOT


def test_reserved_concurrency_never_raises_the_local_instances_of_a_function() -> None:
    # GIVEN the real template reserving 50 for the worker (the SQS event may drive 50) and a 2-instance stack
    template = load_template(ROOT / "template.yaml", parameters={"OverflowWorkerConcurrency": "50"})
    assert template.functions["OverflowWorkerFunction"].reserved_concurrency == 50
    stack = LocalStack(max_instances=2)
    stack._template = template  # white box: pools and pollers are made, nothing is started
    try:
        # WHEN its functions are wired
        stack._start_functions(template)
        # THEN no pool, and no poller set, exceeds the stack's cap
        assert {logical_id: pool.max_instances for logical_id, pool in stack.pools.items()} == dict.fromkeys(
            template.functions, 2
        )
        assert [source.concurrency for source in stack.sources] == [2] * len(stack.sources)  # overflow, sweep
        assert len(stack.sources) == 2
    finally:
        stack.stop()


def test_a_reservation_below_the_local_cap_is_kept() -> None:
    template = load_template(ROOT / "template.yaml", parameters={"SchedulerConcurrency": "1"})
    stack = LocalStack(max_instances=4)
    stack._template = template
    try:
        stack._start_functions(template)
        assert stack.pools["SchedulerFunction"].max_instances == 1
        assert stack.pools["ApiFunction"].max_instances == 4  # no reservation: the stack's cap
    finally:
        stack.stop()
