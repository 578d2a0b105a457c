"""What both clients share: configuration, the operations, and how a Call becomes an HTTP request."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any, Self

from rooms_client.auth import TokenProvider, TokenSource, as_token_provider
from rooms_client.operations import Call, Operations
from rooms_client.retry import RetryPolicy

DEFAULT_API_URL = "http://127.0.0.1:8080"
API_URL_ENV = "ROOMS_API_URL"
USER_AGENT = "rooms-client/0.1"


def default_api_url() -> str:
    return os.environ.get(API_URL_ENV) or DEFAULT_API_URL


class ClientBase:
    def __init__(
        self,
        base_url: str | None,
        token: TokenSource,
        retry: RetryPolicy | None,
        clock: Callable[[], float],
        min_poll_interval: float,
    ) -> None:
        # an API Gateway URL may carry a stage path (/prod): keep it, append routes to it
        self.base_url = (base_url or default_api_url()).rstrip("/")
        self._token: TokenProvider = as_token_provider(token)
        self._ops = Operations(retry or RetryPolicy(), clock, min_poll_interval)
        self._owns_http = True

    def with_token(self, token: TokenSource) -> Self:
        """The same client for another identity, sharing this one's connection pool (which it won't close)."""
        clone = copy.copy(self)
        clone._token = as_token_provider(token)
        clone._owns_http = False
        return clone

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
