"""A pytest plugin: where the stack is required (`ROOMS_REQUIRE_STACK=1`, as `make test` and CI set it),
a `stack` test that skips, because Java or DynamoDB Local is missing, fails instead, so a run that
could not start the stack never passes green."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

REQUIRE_STACK = "ROOMS_REQUIRE_STACK"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get(REQUIRE_STACK) == "1" and item.get_closest_marker("stack"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"a stack test was skipped where the stack is required ({REQUIRE_STACK}=1): {reason}"
