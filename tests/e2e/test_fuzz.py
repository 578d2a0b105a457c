"""The short schemathesis run of CI: every operation and phase, a few cases each (`make fuzz` runs more)."""

from __future__ import annotations

import pytest

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token
from tests.e2e.fuzz import run_schemathesis

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]


def test_the_api_answers_every_generated_request_as_its_document_says(stack: LocalStack) -> None:
    run = run_schemathesis(stack.api_url, mint_token("fuzz-ci", ttl_seconds=7200), max_examples=8, seed=20261201)
    print(f"\nschemathesis: {run.generated} generated cases")
    assert run.generated > 0, run.output
    assert run.failures == [] and run.errors == [], run.output[-6000:]
    assert run.exit_code == 0, run.output[-6000:]
    assert run.phases.get("stateful", {}).get("status") in ("success", "failure", "error"), run.phases  # it ran
