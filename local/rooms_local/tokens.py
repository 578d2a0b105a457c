"""Development JWTs: minted by the SDK's dev-token helper, verified by the local gateway like the HTTP API
JWT authorizer."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import jwt

# The token format has one home, the SDK: the local gateway verifies what the SDK mints.
from rooms_client.devtoken import ALGORITHM, AUDIENCE, DEFAULT_SECRET, ISSUER, KEY_ID, dev_secret, mint_dev_token

__all__ = ["AUDIENCE", "DEFAULT_SECRET", "ISSUER", "JWKS_PATH", "jwks", "mint_token", "secret", "verify_token"]
JWKS_PATH = "/.well-known/jwks.json"  # where the local gateway serves jwks(), as an OIDC issuer does
_TIME_CLAIMS = ("exp", "nbf", "iat")


def secret() -> str:
    return dev_secret()


def jwks() -> dict[str, Any]:
    """The dev tokens' key as a JSON Web Key Set: what a JWKS client (PyJWT's PyJWKClient) verifies them with."""
    key = base64.urlsafe_b64encode(secret().encode()).decode().rstrip("=")
    return {"keys": [{"kty": "oct", "k": key, "alg": ALGORITHM, "use": "sig", "kid": KEY_ID}]}


def mint_token(user_id: str, *, ttl_seconds: int = 3600, extra_claims: Mapping[str, Any] | None = None) -> str:
    """An HS256 access token for `user_id` that the local gateway accepts."""
    return mint_dev_token(user_id, ttl_seconds=ttl_seconds, extra_claims=extra_claims)


def verify_token(token: str, *, issuer: str = ISSUER, audiences: tuple[str, ...] = (AUDIENCE,)) -> dict[str, Any]:
    """The token's claims, or jwt.InvalidTokenError, checked as API Gateway does: signature, exp,
    nbf, iat, iss, and `aud` or (Cognito access tokens) `client_id` among the audiences."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret(),
        algorithms=[ALGORITHM],
        issuer=issuer,
        options={"require": ["exp", "iss"], "verify_aud": False},
    )
    # PyJWT takes int("1700000000") for a time claim; RFC 7519 and API Gateway want a JSON number.
    for name in _TIME_CLAIMS:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise jwt.InvalidTokenError(f"the {name} claim must be a number")
    audience = claims.get("aud", claims.get("client_id"))
    offered = audience if isinstance(audience, list) else [audience]
    if not any(item in audiences for item in offered):
        raise jwt.InvalidAudienceError("audience not allowed")
    return claims


def claims_as_strings(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway passes them to Lambda: every value a string, lists as "[a b]"."""
    return {key: _claim_text(value) for key, value in claims.items()}


def _claim_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def scopes(claims: Mapping[str, Any]) -> list[str] | None:
    """Scopes from the `scope` (space separated) or `scp` claim; None when there are none, as in AWS."""
    raw = claims.get("scope", claims.get("scp"))
    if raw is None:
        return None
    found = raw.split() if isinstance(raw, str) else [str(item) for item in raw]
    return found or None
