"""`make test` and CI must not pass when the stack tests could not run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPING = """
import pytest

@pytest.mark.stack
def test_needs_the_stack():
    pytest.skip("no Java runtime for DynamoDB Local")

def test_plain():
    pytest.skip("not a stack test")
"""


def run_pytest(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "ROOMS_REQUIRE_STACK"}
    if require is not None:
        env["ROOMS_REQUIRE_STACK"] = require
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "pytest", "-p", "tests.require_stack", "-p", "no:cacheprovider", "-q"]
    markers = ["-o", "markers=stack", "--rootdir", str(tmp_path), str(tmp_path)]
    return subprocess.run([*command, *markers], capture_output=True, text=True, env=env, cwd=tmp_path, check=False)


@pytest.mark.parametrize("require", [None, "0"])
def test_a_skipped_stack_test_is_a_skip_when_the_stack_is_optional(tmp_path: Path, require: str | None) -> None:
    result = run_pytest(tmp_path, require)
    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout


def test_a_skipped_stack_test_fails_the_run_when_the_stack_is_required(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "1")
    assert result.returncode == 1, result.stdout
    assert "1 failed, 1 skipped" in result.stdout
    assert "no Java runtime for DynamoDB Local" in result.stdout
