"""Schemathesis against the local stack's own /openapi.json, as a client with a valid token would call it:
every operation, every phase (examples, coverage, fuzzing, stateful links), and the checks that hold the
API to its document: no 5xx, only documented statuses, content types and response schemas.

`make fuzz` runs the long version on a stack of its own; the e2e suite runs a short one (test_fuzz.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
PHASES = "examples,coverage,fuzzing,stateful"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FuzzRun:
    exit_code: int
    generated: int  # test cases schemathesis generated and sent
    failures: list[Any]
    errors: list[Any]
    phases: dict[str, Any]
    output: str


def run_schemathesis(api_url: str, token: str, max_examples: int, seed: int | None = None) -> FuzzRun:
    """One schemathesis run; its JSON report gives the counts."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{api_url}/openapi.json",
            "--url",
            api_url,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--phases",
            PHASES,
            "--max-examples",
            str(max_examples),
            # one worker: schemathesis' threads parse lambdas' source at once, and CPython 3.11's ast is not
            # thread-safe there ("AST constructor recursion depth mismatch", fixed in later releases)
            "--workers",
            "1",
            "--request-timeout",
            "60",
            "--generation-database",
            "none",
            "--suppress-health-check",
            "too_slow",
            "--no-color",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ]
        if seed is not None:
            command += ["--seed", str(seed)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=scratch)
        summary = json.loads(report.read_text()) if report.exists() else {}
    return FuzzRun(
        exit_code=done.returncode,
        generated=int(summary.get("test_cases", {}).get("generated", 0)),
        failures=list(summary.get("failures", [])),
        errors=list(summary.get("errors", [])),
        phases=dict(summary.get("phases", {})),
        output=done.stdout + done.stderr,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Fuzz the local stack's API against its OpenAPI document.")
    parser.add_argument("--max-examples", type=int, default=100, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from rooms_local.stack import LocalStack
    from rooms_local.tokens import mint_token

    with LocalStack(stack_name="fuzz", max_instances=2) as stack:
        run = run_schemathesis(stack.api_url, mint_token("fuzz-user", ttl_seconds=7200), args.max_examples, args.seed)
    print(run.output)
    print(f"schemathesis: {run.generated} generated cases, {len(run.failures)} failures, {len(run.errors)} errors")
    print(f"phases: { {name: phase.get('status') for name, phase in run.phases.items()} }")
    return run.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
