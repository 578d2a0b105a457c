"""Opaque pagination cursors: a query's start key, sealed for the one listing that produced it.

A cursor carries only the key values a page needs, never the key names; the attributes the listing
fixes (the room of a participants page, the host of an events page) are rebuilt from the request, not
read from the cursor. The values are encrypted and authenticated with `ROOMS_CURSOR_SECRET`, bound to
the listing, so a forged, edited, truncated or borrowed cursor is `InvalidCursor` (400), never a
malformed start key sent to DynamoDB.

Sealing is deterministic authenticated encryption in the SIV pattern, built from HMAC-SHA256 because
the runtime has no AEAD (`cryptography` is not a dependency): the tag is an HMAC of the listing and the
values, and the values are XORed with an HMAC-counter keystream seeded by the tag, under a second key.
Changing the secret invalidates outstanding cursors: clients start the listing again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from rooms.config import settings
from rooms.domain.errors import InvalidCursor

_VERSION = b"\x01"
_TAG_BYTES = 16
_BLOCK = hashlib.sha256().digest_size


def _keys() -> tuple[bytes, bytes]:
    """(tag key, keystream key), derived apart from the one configured secret."""
    secret = settings().cursor_secret
    if not secret:
        raise RuntimeError("ROOMS_CURSOR_SECRET is not set: pagination cursors cannot be sealed")
    master = secret.encode()
    return hmac.digest(master, b"rooms cursor tag", "sha256"), hmac.digest(master, b"rooms cursor stream", "sha256")


def _tag(key: bytes, listing: str, plain: bytes) -> bytes:
    scope = listing.encode("utf-8", "surrogatepass")
    message = len(scope).to_bytes(4, "big") + scope + plain
    return hmac.digest(key, message, "sha256")[:_TAG_BYTES]


def _xor_stream(key: bytes, tag: bytes, data: bytes) -> bytes:
    blocks = -(-len(data) // _BLOCK)
    stream = b"".join(hmac.digest(key, tag + counter.to_bytes(4, "big"), "sha256") for counter in range(blocks))
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


def seal(listing: str, values: Sequence[str]) -> str:
    """An opaque, URL-safe cursor holding `values`, valid only for `listing`."""
    tag_key, stream_key = _keys()
    plain = json.dumps(list(values), separators=(",", ":")).encode()
    tag = _tag(tag_key, listing, plain)
    token = _VERSION + tag + _xor_stream(stream_key, tag, plain)
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode()


def unseal(listing: str, cursor: str, count: int) -> list[str]:
    """The `count` values a cursor of `listing` holds; InvalidCursor for anything this API did not issue."""
    try:
        token = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
    except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
        raise InvalidCursor() from None
    if len(token) <= 1 + _TAG_BYTES or token[:1] != _VERSION:
        raise InvalidCursor()
    tag_key, stream_key = _keys()
    tag = token[1 : 1 + _TAG_BYTES]
    plain = _xor_stream(stream_key, tag, token[1 + _TAG_BYTES :])
    if not hmac.compare_digest(tag, _tag(tag_key, listing, plain)):
        raise InvalidCursor()
    values = json.loads(plain)
    if not (isinstance(values, list) and len(values) == count and all(isinstance(v, str) for v in values)):
        raise InvalidCursor()  # sealed by this secret for another shape of key: an older release
    return values


def encode_cursor(listing: str, last_key: Mapping[str, Any] | None, names: Sequence[str]) -> str | None:
    """A page's LastEvaluatedKey as a cursor of `listing`: the string values of `names` only."""
    if not last_key:
        return None
    return seal(listing, [str(last_key[name]["S"]) for name in names])


def decode_cursor(
    listing: str, cursor: str | None, names: Sequence[str], fixed: Mapping[str, str]
) -> dict[str, dict[str, str]] | None:
    """The ExclusiveStartKey a cursor stands for: `names` from the cursor, `fixed` from the request."""
    if not cursor:
        return None
    values = unseal(listing, cursor, len(names))
    return {name: {"S": value} for name, value in (*zip(names, values, strict=True), *fixed.items())}
