"""The roles SAM makes of template.yaml allow every AWS call the handlers make, and no more than that.

moto does not enforce IAM, so a least-privilege template could pass every test and fail on AWS with
AccessDenied. Here the handler-level integration tests run once with a recorder (tests/deploy/
iam_recorder.py); each call a function made must be allowed by the role SAM gives it, as SAM's own
translator expands the template (policy templates, event sources and destinations included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from rooms_local.intrinsics import Resolver, parameter_values
from rooms_local.naming import LocalNaming

ROOT = Path(__file__).resolve().parents[2]
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
# the integration tests that drive the handlers, named as the tests' environment names resources
HANDLER_TESTS = (
    "test_api.py",
    "test_events.py",
    "test_events_housekeeping.py",
    "test_lifecycle.py",
    "test_moderation.py",
    "test_live.py",
    "test_overflow_worker.py",
    "test_sweeper.py",
)
NAMING = LocalNaming(stack="rooms-test")
# what SAM attaches to the roles it makes: logs and traces, nothing that reaches data
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}

pytestmark = pytest.mark.xdist_group("sam_policies")


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    assert SAM_PYTHON.exists(), "the SAM CLI is missing: run scripts/bootstrap"
    result = subprocess.run(
        [str(SAM_PYTHON), str(Path(__file__).with_name("sam_transform.py")), str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
        env={key: value for key, value in os.environ.items() if not key.startswith("AWS_")},
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[str]]]:
    record = tmp_path_factory.mktemp("iam") / "calls.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider"]
    command += ["-p", "tests.deploy.iam_recorder", *(f"tests/integration/{name}" for name in HANDLER_TESTS)]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "ROOMS_IAM_RECORD": str(record)},
        capture_output=True,
        text=True,
        check=False,
    )
    # a failing integration test is reported by its own run; here only the calls matter
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    calls: dict[str, list[list[str]]] = json.loads(record.read_text())
    return calls


def roles(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's role by its code folder name (functions/<name>/)."""
    found = {}
    resources = template["Resources"]
    for function in resources.values():
        if function["Type"] != "AWS::Lambda::Function":
            continue
        key = function["Properties"]["Code"]["S3Key"].strip("/").split("/")[-1]
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        found[key] = resources[role_id]["Properties"]
    return found


def allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    def listed(value: Any) -> list[str]:
        return [str(item) for item in (value if isinstance(value, list) else [value])]

    return any(
        statement["Effect"] == "Allow"
        and any(fnmatchcase(action.lower(), pattern.lower()) for pattern in listed(statement["Action"]))
        and any(fnmatchcase(resource, pattern) for pattern in listed(statement["Resource"]))
        for statement in statements
    )


def inline_statements(role: dict[str, Any], resolver: Resolver) -> list[dict[str, Any]]:
    found = []
    for policy in resolver.resolve(role.get("Policies", [])):
        statement = policy["PolicyDocument"]["Statement"]
        found += statement if isinstance(statement, list) else [statement]
    return found


def test_sam_attaches_no_managed_policy_that_reaches_data(transformed: dict[str, Any]) -> None:
    resolver = Resolver(transformed, parameter_values(transformed, {}), NAMING)
    for name, role in roles(transformed).items():
        managed = set(resolver.resolve(role.get("ManagedPolicyArns", [])))
        assert managed <= ALLOWED_MANAGED_POLICIES, (name, managed - ALLOWED_MANAGED_POLICIES)


def test_every_call_a_handler_makes_is_allowed_by_its_role(
    transformed: dict[str, Any], recorded: dict[str, list[list[str]]]
) -> None:
    resolver = Resolver(transformed, parameter_values(transformed, {}), NAMING)
    function_roles = roles(transformed)
    assert set(recorded) == set(function_roles), "every function ran in the integration tests"
    denied = [
        f"{function}: {action} on {resource}"
        for function, calls in recorded.items()
        for action, resource in calls
        if not allows(inline_statements(function_roles[function], resolver), action, resource)
    ]
    assert not denied
