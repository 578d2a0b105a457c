"""Tokens for the local stack: HS256 JWTs that its authorizer accepts. Never for a deployed API.

The local stack owns the token format (``rooms_local.tokens.mint_token``); when it is importable
this module defers to it, so the two cannot drift. Otherwise (the SDK installed on its own) it
signs the same claims with the standard library, so the SDK does not need PyJWT.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from typing import Any

ISSUER = "rooms-local"
AUDIENCE = "rooms-local"
SECRET_ENV = "ROOMS_LOCAL_JWT_SECRET"
DEFAULT_SECRET = "rooms-local-development-secret-not-for-production"  # public, local only
DEFAULT_TTL_SECONDS = 3600


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json_segment(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def dev_secret() -> str:
    return os.environ.get(SECRET_ENV) or DEFAULT_SECRET


def hs256_token(claims: dict[str, Any], secret: str) -> str:
    """A compact JWS signed with HMAC-SHA256 (RFC 7515), the one algorithm the local authorizer uses."""
    signing_input = f"{_json_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_json_segment(claims)}"
    signature = hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def dev_claims(user_id: str, ttl_seconds: int = DEFAULT_TTL_SECONDS, now: float | None = None) -> dict[str, Any]:
    issued = int(now if now is not None else time.time())
    return {
        "sub": user_id,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "token_use": "access",
    }


def _local_stack_minter() -> Callable[..., str] | None:
    try:
        from rooms_local.tokens import mint_token
    except ImportError:
        return None
    return mint_token


def mint_dev_token(
    user_id: str,
    *,
    secret: str | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """A token for ``user_id`` that the local stack accepts, valid ``ttl_seconds``."""
    if not user_id:
        raise ValueError("a dev token needs a user id (its subject)")
    minter = _local_stack_minter()
    if minter is not None and secret is None and now is None:
        return minter(user_id, ttl_seconds=ttl_seconds)
    return hs256_token(dev_claims(user_id, ttl_seconds, now), secret or dev_secret())
