"""The document lists every error code the API answers with (`x-error-codes`), which clients check their
error classes against: each domain error's code among them, each code named in its status's description."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from rooms.api import responses
from rooms.domain import errors

ROOT = Path(__file__).resolve().parents[2]


def listed_codes() -> set[str]:
    return {code for codes in responses.ERROR_CODES.values() for code in codes}


def test_every_domain_error_code_is_listed() -> None:
    domain = {
        cls.code
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.RoomsError) and cls is not errors.RoomsError
    }
    assert domain - listed_codes() == set()


def test_each_listed_code_is_named_in_the_description_of_its_status() -> None:
    spec = json.loads((ROOT / "docs" / "openapi.json").read_text())
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for code in response.get("x-error-codes", []):
                    assert code in response["description"], (method, path, status, code)
                if status in responses.ERROR_CODES and "ErrorResponse" in json.dumps(response["content"]):
                    assert response.get("x-error-codes") == list(responses.ERROR_CODES[status]), (method, path)
