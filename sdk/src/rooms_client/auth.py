"""Bearer tokens: where the client gets one for each request.

A token source is a string (a static token), a callable returning a token (sync, or async for
the async client), or an object with a ``token()`` method. The client asks before every request,
so a provider that refreshes an expiring token just returns the new one.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from rooms_client.devtoken import DEFAULT_TTL_SECONDS, mint_dev_token


@runtime_checkable
class SupportsToken(Protocol):
    def token(self) -> str: ...


TokenProvider = Callable[[], "str | Awaitable[str]"]
TokenSource = str | SupportsToken | Callable[[], str] | Callable[[], Awaitable[str]] | None


class StaticToken:
    """Always the same token: a pasted access token, or a test's."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(***)"


class DevToken:
    """Local dev tokens for one user, minted again shortly before they expire."""

    def __init__(
        self,
        user_id: str,
        *,
        secret: str | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user_id = user_id
        self._clock = clock
        self._secret = secret
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._token = ""
        self._renew_at = 0.0

    def __call__(self) -> str:
        with self._lock:
            now = self._clock()
            if now >= self._renew_at:
                self._token = mint_dev_token(self.user_id, secret=self._secret, ttl_seconds=self._ttl)
                self._renew_at = now + self._ttl * 0.8  # renew with a margin for clock skew
            return self._token

    def __repr__(self) -> str:
        return f"DevToken({self.user_id!r})"


def _anonymous() -> str:
    return ""


def as_token_provider(source: TokenSource | TokenProvider) -> TokenProvider:
    """Any token source as a zero-argument callable; None means no Authorization header."""
    if source is None:
        return _anonymous
    if isinstance(source, str):
        return StaticToken(source)
    if isinstance(source, SupportsToken):
        return source.token
    if callable(source):
        return source
    raise TypeError(f"not a token source: {source!r}")


def token_now(provider: TokenProvider) -> str:
    """The token of a sync provider; an async one needs the async client."""
    token = provider()
    if inspect.isawaitable(token):
        close = getattr(token, "close", None)
        if close is not None:
            close()  # do not leave a never-awaited coroutine behind
        raise TypeError("this token provider is async: use AsyncRoomsClient")
    return token


async def token_async(provider: TokenProvider) -> str:
    token = provider()
    return await token if inspect.isawaitable(token) else token
