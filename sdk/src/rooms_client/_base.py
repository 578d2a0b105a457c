"""What both clients share: configuration, the operations, and how a Call becomes an HTTP request."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any, Self

from rooms_client.auth import TokenProvider, TokenSource, as_token_provider
from rooms_client.live.state import LiveOptions
from rooms_client.operations import Call, Operations
from rooms_client.retry import RetryPolicy

DEFAULT_API_URL = "http://127.0.0.1:8080"
API_URL_ENV = "ROOMS_API_URL"
WS_URL_ENV = "ROOMS_WS_URL"
USER_AGENT = "rooms-client/0.1"


def default_api_url() -> str:
    return os.environ.get(API_URL_ENV) or DEFAULT_API_URL


def default_ws_url() -> str | None:
    """The live connection's URL from the environment; None (no socket, polling) when it is not set."""
    return os.environ.get(WS_URL_ENV) or None


class ClientBase:
    def __init__(
        self,
        base_url: str | None,
        token: TokenSource,
        retry: RetryPolicy | None,
        clock: Callable[[], float],
        min_poll_interval: float,
        *,
        ws_url: str | None = None,
        live: LiveOptions | None = None,
    ) -> None:
        # an API Gateway URL may carry a stage path (/prod): keep it, append routes to it
        self.base_url = (base_url or default_api_url()).rstrip("/")
        # "" turns the socket off even when the environment names one
        self.ws_url = default_ws_url() if ws_url is None else (ws_url or None)
        self.live_options = live or LiveOptions()
        self._token: TokenProvider = as_token_provider(token)
        self._ops = Operations(retry or RetryPolicy(), clock, min_poll_interval)
        self._owns_http = True
        self._clock = clock

    def with_token(self, token: TokenSource) -> Self:
        """The same client for another identity, sharing this one's connection pool (which it won't close).

        The clone has a live connection of its own (a socket belongs to one user), opened when it joins.
        """
        clone = copy.copy(self)
        clone._token = as_token_provider(token)
        clone._owns_http = False
        clone._forget_live()
        return clone

    def _forget_live(self) -> None:
        """A clone's live connection is not its original's."""

    @property
    def operations(self) -> Operations:
        return self._ops

    def _request_args(self, call: Call, token: str) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **call.headers}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        args: dict[str, Any] = {"method": call.method, "url": self.base_url + call.path, "headers": headers}
        if call.params:
            args["params"] = dict(call.params)
        if call.body is not None:
            args["json"] = call.body
        return args
