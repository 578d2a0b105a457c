"""Pagination cursors are sealed: opaque, bound to their listing, and anything else is InvalidCursor."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from rooms.adapters import cursors
from rooms.config import settings
from rooms.domain.errors import InvalidCursor
from rooms_local.template import load_template
from tests.conftest import ROOT

LISTING = "seats/r_0123456789abcdef"
VALUES = ["SEAT#r_0123456789abcdef#auth0|alice", "2030-01-01T00:00:00+00:00#auth0|alice"]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ROOMS_CURSOR_SECRET", "unit-test secret")
    settings.cache_clear()
    yield
    settings.cache_clear()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def test_a_cursor_opens_only_for_its_listing(secret: None) -> None:
    cursor = cursors.seal(LISTING, VALUES)
    assert cursors.unseal(LISTING, cursor, 2) == VALUES
    with pytest.raises(InvalidCursor):
        cursors.unseal("seats/r_another", cursor, 2)
    with pytest.raises(InvalidCursor):
        cursors.unseal("events/" + LISTING, cursor, 2)


def test_a_cursor_shows_neither_key_names_nor_values(secret: None) -> None:
    cursor = cursors.seal(LISTING, VALUES)
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    # each pattern at least 4 bytes: the sealed bytes are random-looking, and 2-byte patterns turn up by chance
    for secret_part in (b"SEAT", b"alice", b"2030", b"gsi1pk", b"gsi1sk"):
        assert secret_part not in raw
    assert all(char.isalnum() or char in "-_" for char in cursor)  # URL-safe, no padding
    assert "unit-test secret" not in repr(settings())  # nor does the secret show in the settings


@pytest.mark.parametrize(
    "forged",
    [
        _b64(json.dumps({"a": 1}).encode()),  # base64 of a JSON object, as the old cursors were
        _b64(json.dumps({"pk": {"S": "SEAT#x#y"}}).encode()),  # a partial raw key
        "garbage",
        "",
        "!!!!",
        "curseur-été",  # not ASCII
        _b64(b"\x01" + b"\x00" * 16),  # a version byte and a tag, nothing sealed
        _b64(b"\x02" + b"\x00" * 40),  # an unknown version
    ],
)
def test_anything_this_api_did_not_issue_is_invalid(secret: None, forged: str) -> None:
    with pytest.raises(InvalidCursor):
        cursors.unseal(LISTING, forged, 2)


def test_every_edited_byte_is_detected(secret: None) -> None:
    cursor = cursors.seal(LISTING, VALUES)
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    for position in range(len(raw)):
        edited = bytearray(raw)
        edited[position] ^= 0x01
        with pytest.raises(InvalidCursor):
            cursors.unseal(LISTING, _b64(bytes(edited)), 2)
    with pytest.raises(InvalidCursor):
        cursors.unseal(LISTING, _b64(raw[:-1]), 2)  # truncated


def test_a_cursor_of_another_shape_or_secret_is_invalid(secret: None, monkeypatch: pytest.MonkeyPatch) -> None:
    cursor = cursors.seal(LISTING, VALUES)
    with pytest.raises(InvalidCursor):
        cursors.unseal(LISTING, cursor, 3)
    monkeypatch.setenv("ROOMS_CURSOR_SECRET", "a rotated secret")
    settings.cache_clear()
    with pytest.raises(InvalidCursor):
        cursors.unseal(LISTING, cursor, 2)


def test_start_keys_take_the_fixed_attributes_from_the_request(secret: None) -> None:
    last_key = {"pk": {"S": VALUES[0]}, "sk": {"S": "SEAT"}, "gsi1pk": {"S": "ROOM#r_1"}, "gsi1sk": {"S": VALUES[1]}}
    cursor = cursors.encode_cursor(LISTING, last_key, ("pk", "gsi1sk"))
    assert cursor is not None
    assert cursors.encode_cursor(LISTING, None, ("pk",)) is None
    assert cursors.decode_cursor(LISTING, None, ("pk",), {}) is None
    start = cursors.decode_cursor(LISTING, cursor, ("pk", "gsi1sk"), {"sk": "SEAT", "gsi1pk": "ROOM#r_1"})
    assert start == last_key


def test_without_a_secret_nothing_is_sealed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOMS_CURSOR_SECRET", "")
    settings.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="ROOMS_CURSOR_SECRET"):
            cursors.seal(LISTING, VALUES)
    finally:
        settings.cache_clear()


def test_the_local_stack_gives_the_api_a_generated_cursor_secret() -> None:
    # GIVEN template.yaml, whose API function reads the secret CloudFormation generates
    first = load_template(ROOT / "template.yaml").functions["ApiFunction"].environment["ROOMS_CURSOR_SECRET"]
    second = load_template(ROOT / "template.yaml").functions["ApiFunction"].environment["ROOMS_CURSOR_SECRET"]
    # THEN the local stack resolves the dynamic reference to a random value of the declared length, per stack
    assert len(first) == 64 and first.isalnum() and "{{" not in first
    assert first != second
