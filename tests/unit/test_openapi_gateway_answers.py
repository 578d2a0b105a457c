"""The document lists API Gateway's own answers on every operation, so a client (or schemathesis) that
gets one finds it documented: 400 Bad Request for a path it cannot route, 401, 429 and 503."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_ERROR = {"$ref": "#/components/schemas/GatewayError"}


def schemas_of(response: dict[str, object]) -> list[object]:
    schema = response["content"]["application/json"]["schema"]  # type: ignore[index]
    return list(schema.get("anyOf", [schema]))


def test_every_operation_documents_the_gateways_own_answers() -> None:
    spec = json.loads((ROOT / "docs" / "openapi.json").read_text())
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "401", "429", "503"):
                assert GATEWAY_ERROR in schemas_of(operation["responses"][status]), (method, path, status)
