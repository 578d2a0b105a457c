"""Verifies the bearer tokens of the live connection's `$connect` (the WebSocket API has no JWT
authorizer of its own): the HTTP API's issuer and audience, the issuer's published keys.

The key decides the algorithm, never the token: a token is checked only with the algorithm its matching
JWK declares (RS256 for Cognito's RSA keys, HS256 for a shared-secret "oct" key), so a token that names
another algorithm in its header (HS256 signed with an RSA public key, or "none") is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient

_REQUIRED_CLAIMS = ["exp", "iss", "sub"]
# the issuer's keys are read again at most this often; a token naming an unknown key id reads them at once
JWKS_LIFESPAN_SECONDS = 300
_JWKS_TIMEOUT_SECONDS = 3


class TokenRejected(Exception):
    """The token is missing, malformed, expired, forged, or not for this API."""


def bearer(value: str | None) -> str:
    """The token of a query value, with or without the "Bearer " prefix a header would carry."""
    parts = (value or "").split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    if len(parts) == 1 and parts[0].lower() != "bearer":
        return parts[0]
    raise TokenRejected("no token")


def jwks_client(url: str) -> PyJWKClient:
    """The issuer's key set, fetched on first use and cached for the instance."""
    return PyJWKClient(url, cache_jwk_set=True, lifespan=JWKS_LIFESPAN_SECONDS, timeout=_JWKS_TIMEOUT_SECONDS)


class TokenVerifier:
    def __init__(self, keys: PyJWKClient, *, issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, issuer, audience and expiry hold; TokenRejected otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._key(header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[key.algorithm_name],
                issuer=self._issuer,
                options={"require": _REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt.PyJWTError as error:
            raise TokenRejected(str(error)) from None
        if not self._for_us(claims):
            raise TokenRejected("the token is for another audience")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenRejected("the token names no subject")
        return claims

    def _key(self, kid: Any) -> PyJWK:
        """The JWK named by `kid`, the key set read again once if it is not there; without a `kid`,
        the set's only key."""
        for refresh in (False, True):
            keys = self._keys.get_jwk_set(refresh=refresh).keys
            if kid is None:
                if len(keys) == 1:
                    return keys[0]
                raise TokenRejected("the token names no key, and the issuer has several")
            found = next((key for key in keys if key.key_id == kid), None)
            if found is not None:
                return found
        raise TokenRejected("the token's key is not the issuer's")

    def _for_us(self, claims: Mapping[str, Any]) -> bool:
        """`aud` names the audience (ID tokens), or `client_id` is it (Cognito's access tokens)."""
        audience = claims.get("aud")
        named = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        return self._audience in named or claims.get("client_id") == self._audience
