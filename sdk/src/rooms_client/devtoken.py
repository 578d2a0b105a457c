"""Tokens for the local stack: HS256 JWTs that its authorizer accepts. Never for a deployed API.

The one home of the dev-token format: the local stack (``rooms_local.tokens``) mints with this
module and verifies against its issuer, audience and secret.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import jwt

ISSUER = "rooms-local"
AUDIENCE = "rooms-local"
ALGORITHM = "HS256"
KEY_ID = "rooms-local"  # the `kid` of the local stack's JWKS key, which JWKS clients look the key up by
SECRET_ENV = "ROOMS_LOCAL_JWT_SECRET"
DEFAULT_SECRET = "rooms-local-development-secret-not-for-production"  # public, local only
DEFAULT_TTL_SECONDS = 3600


def dev_secret() -> str:
    return os.environ.get(SECRET_ENV) or DEFAULT_SECRET


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


def mint_dev_token(
    user_id: str,
    *,
    secret: str | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """A token for ``user_id`` that the local stack accepts, valid ``ttl_seconds``."""
    if not user_id:
        raise ValueError("a dev token needs a user id (its subject)")
    claims = {**dev_claims(user_id, ttl_seconds, now), **(extra_claims or {})}
    return jwt.encode(claims, secret or dev_secret(), algorithm=ALGORITHM, headers={"kid": KEY_ID})
