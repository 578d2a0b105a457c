"""A token issuer made here: an RSA key (as Cognito's) and a shared secret (as the local stack's HS256
dev tokens, published as an "oct" key), a JWKS of both, and a key client that reads that JWKS without
the network (PyJWKClient's fetch replaced)."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWKClient
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://issuer.example/pool"
AUDIENCE = "rooms-client"
RSA_KID = "rsa-1"
OCT_KID = "dev-secret"
SECRET = b"the local stack's shared dev secret, 32+ bytes long"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalKeys(PyJWKClient):
    """PyJWKClient over a JWKS held in memory; counts its fetches."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__("https://issuer.example/pool/.well-known/jwks.json", cache_jwk_set=True, cooldown_duration=0)
        self.jwks = jwks
        self.fetches = 0

    def fetch_data(self) -> Any:
        self.fetches += 1
        if self.jwk_set_cache is not None:
            self.jwk_set_cache.put(self.jwks)
        return self.jwks


@dataclass
class Issuer:
    private_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def rsa_jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": RSA_KID, "alg": "RS256", "use": "sig"}

    def jwks(self, *, with_secret: bool = True) -> dict[str, Any]:
        keys = [self.rsa_jwk()]
        if with_secret:
            keys.append({"kty": "oct", "kid": OCT_KID, "alg": "HS256", "k": _b64(SECRET)})
        return {"keys": keys}

    def keys(self, **options: bool) -> LocalKeys:
        return LocalKeys(self.jwks(**options))

    @staticmethod
    def claims(sub: str = "user-alice", **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def rs256(self, claims: dict[str, Any] | None = None, kid: str | None = RSA_KID) -> str:
        headers = {"kid": kid} if kid else {}
        return jwt.encode(claims or self.claims(), self.private_key, algorithm="RS256", headers=headers)

    @staticmethod
    def hs256(claims: dict[str, Any] | None = None, kid: str | None = OCT_KID, secret: bytes = SECRET) -> str:
        headers = {"kid": kid} if kid else {}
        return jwt.encode(claims or Issuer.claims(), secret, algorithm="HS256", headers=headers)
