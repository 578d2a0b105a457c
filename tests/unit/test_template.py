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
