"""The SDK against the API's contract, docs/openapi.json: every response schema it parses (fields, types,
required-ness, enums) and every error code the document lists. A field or code that drifts fails here."""

from __future__ import annotations

import dataclasses
import json
import types
from datetime import datetime
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import httpx
import pytest

from rooms_client import models
from rooms_client.errors import CODE_CLASSES, STATUS_CLASSES, error_class, error_from_response
from rooms_client.models import (
    EVENT_STATUSES,
    JOIN_STATUSES,
    RECURRENCES,
    ROOM_STATUSES,
    TICKET_STATUSES,
    Ban,
    BanLifted,
    Event,
    EventsPage,
    Family,
    Group,
    GroupSeating,
    JoinOutcome,
    KickResult,
    LeaveResult,
    Media,
    ParticipantsPage,
    Room,
    RsvpResult,
    Seat,
    Ticket,
    to_json,
)

SPEC = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
SCHEMAS: dict[str, dict[str, Any]] = SPEC["components"]["schemas"]

# Each SDK model, the schema it parses, and the SDK's constant for each enum field of that schema.
CONTRACT: dict[type, tuple[str, dict[str, tuple[str, ...]]]] = {
    Room: ("RoomOut", {"status": ROOM_STATUSES}),
    Seat: ("SeatOut", {}),
    Media: ("MediaOut", {}),
    Ticket: ("TicketOut", {"status": TICKET_STATUSES}),
    JoinOutcome: ("JoinOut", {"status": JOIN_STATUSES}),
    Group: ("GroupOut", {}),
    GroupSeating: ("GroupSeatingOut", {}),
    LeaveResult: ("LeaveOut", {}),
    KickResult: ("KickOut", {}),
    Ban: ("BanOut", {}),
    BanLifted: ("BanLiftedOut", {}),
    ParticipantsPage: ("ParticipantsOut", {}),
    Family: ("FamilyOut", {}),
    Event: ("EventOut", {"status": EVENT_STATUSES, "recurrence": RECURRENCES}),
    EventsPage: ("EventsOut", {}),
    RsvpResult: ("RsvpOut", {}),
}
MODEL_OF = {schema: model for model, (schema, _) in CONTRACT.items()}
# What the SDK adds beside the document: the 202's Retry-After header; an event's raw JSON.
SDK_ONLY = {JoinOutcome: {"retry_after"}, Event: {"raw"}, Ticket: {"seat"}}
REF_PREFIX = "#/components/schemas/"
# Status classes the SDK also gives API Gateway's own bodies ({"message": ...}), which carry no code.
GATEWAY_ONLY_STATUSES = {400, 403, 404, 409, 429, 503}


def ref_name(schema: dict[str, Any]) -> str:
    return str(schema["$ref"]).removeprefix(REF_PREFIX)


def variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return list(schema.get("anyOf", [schema]))


def python_types(schema: dict[str, Any]) -> set[Any]:
    """The Python types a property's JSON can become: `anyOf [string date-time, null]` -> {datetime, None}."""
    found: set[Any] = set()
    for variant in variants(schema):
        kind = variant.get("type")
        if "$ref" in variant:
            found.add(MODEL_OF[ref_name(variant)])
        elif kind == "null":
            found.add(type(None))
        elif kind == "string":
            found.add(datetime if variant.get("format") == "date-time" else str)
        elif kind == "array":
            (item,) = python_types(variant["items"])
            found.add(list[item])  # type: ignore[valid-type]
        elif kind == "object":
            (value,) = python_types(variant["additionalProperties"])
            found.add(dict[str, value])  # type: ignore[valid-type]
        else:
            found.add({"integer": int, "boolean": bool, "number": float}[str(kind)])
    return found


def members(hint: Any) -> set[Any]:
    """`str | None` -> {str, NoneType}; `list[Seat]` stays itself."""
    if get_origin(hint) in (Union, types.UnionType):
        return set(get_args(hint))
    return {hint}


def enum_values(schema: dict[str, Any]) -> tuple[str, ...] | None:
    for variant in variants(schema):
        if "enum" in variant:
            return tuple(variant["enum"])
    return None


def sample(schema: dict[str, Any], full: bool) -> Any:
    """A valid JSON value for the schema: every property (full) or only the required ones, nulls where allowed."""
    options = variants(schema)
    if not full and any(option.get("type") == "null" for option in options):
        return None
    option = next(option for option in options if option.get("type") != "null")
    if "$ref" in option:
        target = SCHEMAS[ref_name(option)]
        required = set(target.get("required", []))
        return {
            name: sample(prop, full) for name, prop in target.get("properties", {}).items() if full or name in required
        }
    if "enum" in option:
        return option["enum"][-1]
    kind = option["type"]
    if kind == "string":
        return "2026-06-01T20:00:00+00:00" if option.get("format") == "date-time" else "text"
    if kind == "array":
        return [sample(option["items"], full)]
    if kind == "object":
        return {"key": sample(option["additionalProperties"], full)}
    return {"integer": 3, "boolean": True, "number": 1.5}[kind]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"{REF_PREFIX}{name}"}


def documented_errors() -> list[tuple[str, str, int, dict[str, Any]]]:
    """(operation, status key, HTTP status, response) for every error response of every operation."""
    found = []
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            for key, response in operation["responses"].items():
                status = 500 if key == "default" else int(key)
                if status >= 400:
                    found.append((f"{method.upper()} {path}", key, status, response))
    return found


def documented_codes() -> dict[str, set[int]]:
    """Each error code the document lists (`x-error-codes`), and the statuses it comes with."""
    codes: dict[str, set[int]] = {}
    for _, _, status, response in documented_errors():
        for code in response.get("x-error-codes", []):
            codes.setdefault(code, set()).add(status)
    return codes


def test_every_response_schema_the_operations_return_is_parsed_by_a_model() -> None:
    returned = {
        ref_name(schema)
        for _, operations in SPEC["paths"].items()
        for operation in operations.values()
        for key, response in operation["responses"].items()
        if key.startswith("2")
        for schema in variants(response["content"]["application/json"]["schema"])
    }
    assert returned <= set(MODEL_OF)


@pytest.mark.parametrize("model", list(CONTRACT), ids=lambda model: model.__name__)
def test_model_fields_and_types_match_the_schema(model: type) -> None:
    schema_name, enums = CONTRACT[model]
    schema = SCHEMAS[schema_name]
    properties: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", []))
    fields = {field.name: field for field in dataclasses.fields(model)}
    hints = get_type_hints(model, vars(models))
    # the same fields, by name
    assert set(fields) - SDK_ONLY.get(model, set()) == set(properties)
    for name, prop in properties.items():
        accepted = members(hints[name])
        # every type the document allows is one the SDK field holds (nullable in the document: None too)
        assert python_types(prop) <= accepted, (schema_name, name, python_types(prop), accepted)
        # a property the server may leave out becomes None (or the field's default)
        if name not in required:
            assert type(None) in accepted or fields[name].default is not dataclasses.MISSING, (schema_name, name)
        # an enum in the document has the SDK's list of its values, the same ones
        documented = enum_values(prop)
        assert (documented is None) == (name not in enums), (schema_name, name, "enum declared on one side only")
        if documented is not None:
            assert set(enums[name]) == set(documented), (schema_name, name)


@pytest.mark.parametrize("model", list(CONTRACT), ids=lambda model: model.__name__)
def test_model_parses_the_documented_json(model: type) -> None:
    schema_name, _ = CONTRACT[model]
    parse = model.from_json  # type: ignore[attr-defined]
    # GIVEN the smallest answer the document allows: the required properties only, null where nullable
    parse(sample(ref(schema_name), full=False))
    # AND the largest: every property. THEN each one comes back in the model as it was sent
    full = sample(ref(schema_name), full=True)
    parsed = to_json(parse(full))
    for name, value in full.items():
        assert _documented_part(parsed[name], value) == value, (schema_name, name)


def _documented_part(parsed: Any, sent: Any) -> Any:
    """What the SDK gives back of `sent`, without what it adds (nested models' SDK-only fields)."""
    if isinstance(sent, dict) and isinstance(parsed, dict):
        return {key: _documented_part(parsed[key], value) for key, value in sent.items()}
    if isinstance(sent, list) and isinstance(parsed, list):
        return [_documented_part(p, s) for p, s in zip(parsed, sent, strict=True)]
    return parsed


def test_every_documented_error_status_has_its_class() -> None:
    for operation, key, status, _ in documented_errors():
        cls = error_class(status, None)
        assert cls.status_code == status, (operation, key, cls)


def test_every_documented_code_has_its_own_class_under_its_status() -> None:
    codes = documented_codes()
    assert {"ROOM_FULL", "BUSY", "VALIDATION_ERROR", "INTERNAL"} <= set(codes)  # the document lists them
    for code, statuses in codes.items():
        cls = error_class(0, code)
        assert cls.code == code, f"the SDK has no class for {code}"
        assert statuses == {cls.status_code}, (code, statuses, cls)


def test_every_error_class_of_the_sdk_is_a_documented_code() -> None:
    codes = documented_codes()
    stale = {cls.code for cls in CODE_CLASSES if cls.code not in codes}
    assert stale == set(), "SDK classes for codes the API no longer documents"
    for cls in STATUS_CLASSES:
        assert cls.code in codes or cls.status_code in GATEWAY_ONLY_STATUSES, cls


@pytest.mark.parametrize("full", [False, True], ids=["minimal", "full"])
def test_error_bodies_parse_as_documented(full: bool) -> None:
    # GIVEN the API's error shape, with and without its optional field
    body = sample(ref("ErrorResponse"), full)
    assert set(SCHEMAS["ErrorDetail"]["properties"]) == {"code", "message", "field"}
    error = error_from_response(httpx.Response(409, json=body))
    assert (error.code, error.message, error.field) == (
        body["error"]["code"],
        body["error"]["message"],
        body["error"].get("field"),
    )
    # AND API Gateway's own shape
    gateway = sample(ref("GatewayError"), full)
    assert error_from_response(httpx.Response(429, json=gateway)).message == gateway["message"]
