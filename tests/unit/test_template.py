"""template.yaml is the single source of truth: it lints clean and declares exactly the routes the code serves."""

from __future__ import annotations

import json

from cfnlint.api import lint_file

from rooms.api.openapi import main as openapi_main
from rooms.api.resolver import build_resolver, openapi_json
from rooms_local.template import load_template
from tests.conftest import ROOT


def test_cfn_lint_reports_no_error_and_no_warning() -> None:
    matches = lint_file(ROOT / "template.yaml")
    assert [str(match) for match in matches] == []


def test_template_routes_match_the_api_routes() -> None:
    template = load_template(ROOT / "template.yaml")
    declared = {(route.method.upper(), route.path) for route in template.routes}
    spec = json.loads(openapi_json(build_resolver()))
    served = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    served.add(("GET", "/openapi.json"))  # served but kept out of its own schema
    assert declared == served


def test_the_committed_openapi_spec_is_current() -> None:
    assert openapi_main(["--check", str(ROOT / "docs" / "openapi.json")]) == 0


def _worst_backoff_s(attempts: int) -> float:
    """The longest botocore's standard mode sleeps over `attempts` tries: min(2**(k-1), 20) s before try k+1."""
    return float(sum(min(2 ** (k - 1), 20) for k in range(1, attempts)))


def test_a_client_facing_function_answers_a_throttled_key_busy_before_its_timeout() -> None:
    # a client waits on the HTTP and WebSocket functions: their backoff on one throttled DynamoDB call must end
    # well inside the Lambda Timeout, so the client gets 503 BUSY (and waits it out) rather than a timeout
    template = load_template(ROOT / "template.yaml")
    socket_functions = {
        route.integration.function_id for api in template.websocket_apis.values() for route in api.routes.values()
    }
    facing = [spec for spec in template.functions.values() if spec.http_routes or spec.logical_id in socket_functions]
    assert {spec.logical_id for spec in facing} >= {"ApiFunction", "ConnectionFunction"}
    for spec in facing:
        attempts = int(spec.environment.get("ROOMS_DYNAMODB_MAX_ATTEMPTS", 5))
        assert _worst_backoff_s(attempts) <= spec.timeout_s / 3, (spec.logical_id, attempts, spec.timeout_s)
