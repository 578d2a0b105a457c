"""The WebSocket authorizer's token check: the HTTP API's issuer and audience, the issuer's own keys, and
the algorithm the matching key declares, never the one the token names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from rooms.auth import TokenRejected, TokenVerifier, bearer
from tests.unit.issuer import AUDIENCE, ISSUER, OCT_KID, RSA_KID, Issuer, LocalKeys


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


def verifier(keys: LocalKeys) -> TokenVerifier:
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)


def test_an_rs256_token_of_the_issuer_is_verified_and_the_key_set_is_fetched_once(issuer: Issuer) -> None:
    keys = issuer.keys()
    check = verifier(keys)
    assert check.verify(issuer.rs256())["sub"] == "user-alice"
    assert check.verify(issuer.rs256(issuer.claims("user-bob")))["sub"] == "user-bob"
    assert keys.fetches == 1


def test_an_hs256_token_is_verified_with_the_oct_key_the_jwks_publishes(issuer: Issuer) -> None:
    assert verifier(issuer.keys()).verify(Issuer.hs256())["sub"] == "user-alice"


def test_without_a_kid_the_only_key_is_used_and_several_keys_refuse(issuer: Issuer) -> None:
    assert verifier(issuer.keys(with_secret=False)).verify(issuer.rs256(kid=None))["sub"] == "user-alice"
    with pytest.raises(TokenRejected, match="several"):
        verifier(issuer.keys()).verify(issuer.rs256(kid=None))


def test_a_cognito_access_token_is_for_us_by_its_client_id(issuer: Issuer) -> None:
    token = issuer.rs256(issuer.claims(aud=None, client_id=AUDIENCE, token_use="access"))
    assert verifier(issuer.keys()).verify(token)["client_id"] == AUDIENCE


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": 1_000_000_000},  # long expired
        {"exp": None},  # no expiry at all
        {"iss": "https://someone-else.example"},
        {"aud": "another-client"},
        {"aud": None, "client_id": "another-client"},
        {"sub": ""},
    ],
)
def test_a_token_that_is_expired_of_another_issuer_or_for_another_audience_is_refused(
    issuer: Issuer, changes: dict[str, Any]
) -> None:
    with pytest.raises(TokenRejected):
        verifier(issuer.keys()).verify(issuer.rs256(issuer.claims(**changes)))


def test_a_token_signed_by_another_key_is_refused(issuer: Issuer) -> None:
    forged = Issuer().rs256()  # another RSA key, the issuer's kid
    with pytest.raises(TokenRejected):
        verifier(issuer.keys()).verify(forged)
    with pytest.raises(TokenRejected):
        verifier(issuer.keys()).verify(Issuer.hs256(secret=b"a guessed secret, as long as the real one is"))


def test_an_unknown_kid_reads_the_key_set_again_then_refuses(issuer: Issuer) -> None:
    keys = issuer.keys()
    with pytest.raises(TokenRejected, match="not the issuer's"):
        verifier(keys).verify(issuer.rs256(kid="rotated-away"))
    assert keys.fetches == 2


def test_the_key_decides_the_algorithm_not_the_token(issuer: Issuer) -> None:
    """HS256 "signed" with the RSA public key (the classic confusion) and an unsigned token are refused."""
    public_pem = issuer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": RSA_KID}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(Issuer.claims()).encode()).rstrip(b"=")
    signature = base64.urlsafe_b64encode(hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest())
    confused = (header + b"." + payload + b"." + signature.rstrip(b"=")).decode()
    unsigned = jwt.encode(Issuer.claims(), "", algorithm="none", headers={"kid": RSA_KID})
    rs_on_oct = issuer.rs256(kid=OCT_KID)  # an RSA signature offered under the HS256 key's id
    for token in (confused, unsigned, rs_on_oct):
        with pytest.raises(TokenRejected):
            verifier(issuer.keys()).verify(token)


@pytest.mark.parametrize("value", [None, "", "   ", "Bearer ", "bearer"])
def test_no_token_is_refused(value: str | None) -> None:
    with pytest.raises(TokenRejected):
        bearer(value)


def test_the_bearer_prefix_is_optional() -> None:
    assert bearer("Bearer abc.def.ghi") == bearer("abc.def.ghi") == "abc.def.ghi"
