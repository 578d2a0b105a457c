"""Token providers are asked before every request; local dev tokens are HS256 JWTs the stack accepts."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import jwt
import pytest

from rooms_client import (
    AsyncRoomsClient,
    DevToken,
    RoomsClient,
    StaticToken,
    as_token_provider,
    mint_dev_token,
)
from rooms_client import auth as auth_module
from rooms_client.devtoken import (
    AUDIENCE,
    DEFAULT_SECRET,
    ISSUER,
    SECRET_ENV,
    dev_secret,
)
from tests.sdk.sdk_fakes import room_json

SECRET = "a-test-secret-of-at-least-32-bytes"


def authorizations(token: object, calls: int = 1) -> list[str | None]:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, json=room_json())

    with RoomsClient("http://api.test", token, transport=httpx.MockTransport(answer)) as rooms:  # type: ignore[arg-type]
        for _ in range(calls):
            rooms.get_room("r_1")
    return seen


class Vault:
    def token(self) -> str:
        return "from-object"


def test_token_sources() -> None:
    assert authorizations("static") == ["Bearer static"]
    assert authorizations(StaticToken("pasted")) == ["Bearer pasted"]
    assert authorizations(lambda: "from-callable") == ["Bearer from-callable"]
    assert authorizations(Vault()) == ["Bearer from-object"]
    assert authorizations(None) == [None]
    assert "pasted" not in repr(StaticToken("pasted"))


def test_the_provider_is_asked_before_every_request() -> None:
    # a refreshing provider hands out a new token each time; the client must not cache one
    counter = itertools.count(1)
    assert authorizations(lambda: f"t{next(counter)}", calls=3) == ["Bearer t1", "Bearer t2", "Bearer t3"]


def test_an_async_provider_works_with_the_async_client_only() -> None:
    async def provider() -> str:
        return "async-token"

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json=room_json())

    async def read() -> None:
        async with AsyncRoomsClient("http://api.test", provider, transport=httpx.MockTransport(answer)) as rooms:
            await rooms.get_room("r_1")

    asyncio.run(read())
    assert seen == ["Bearer async-token"]
    with pytest.raises(TypeError, match="async"):
        authorizations(provider)


def test_not_a_token_source() -> None:
    with pytest.raises(TypeError):
        as_token_provider(42)  # type: ignore[arg-type]


def test_with_token_shares_the_pool_but_not_the_identity() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json=room_json())

    with RoomsClient("http://api.test", "host", transport=httpx.MockTransport(answer)) as host:
        guest = host.with_token("guest")
        guest.get_room("r_1")
        guest.close()  # a borrowed pool is not closed by the borrower
        host.get_room("r_1")
    assert seen == ["Bearer guest", "Bearer host"]


def test_dev_token_is_a_valid_hs256_jwt() -> None:
    # GIVEN a dev token signed with an explicit secret
    token = mint_dev_token("alice", secret=SECRET, ttl_seconds=600)
    # THEN PyJWT verifies it with the local stack's issuer and audience
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == "alice"
    assert claims["token_use"] == "access"
    assert claims["exp"] - claims["iat"] == 600


def test_dev_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "from-env")
    assert dev_secret() == "from-env"
    monkeypatch.delenv(SECRET_ENV)
    assert dev_secret() == DEFAULT_SECRET
    token = mint_dev_token("bob", ttl_seconds=60, now=1_000)
    claims = jwt.decode(token, DEFAULT_SECRET, algorithms=["HS256"], audience=AUDIENCE, options={"verify_exp": False})
    assert (claims["sub"], claims["iat"], claims["exp"]) == ("bob", 1_000, 1_060)


def test_dev_token_is_minted_again_before_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    minted: list[str] = []

    def fake_mint(user_id: str, **_: object) -> str:
        minted.append(user_id)
        return f"token-{len(minted)}"

    now = [1_000.0]
    monkeypatch.setattr(auth_module, "mint_dev_token", fake_mint)
    provider = DevToken("carol", ttl_seconds=100, clock=lambda: now[0])
    assert provider() == "token-1"
    now[0] += 50
    assert provider() == "token-1"
    now[0] += 40  # past 80% of the lifetime
    assert provider() == "token-2"


def test_a_dev_token_needs_a_user() -> None:
    with pytest.raises(ValueError):
        mint_dev_token("")
