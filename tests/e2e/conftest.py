"""One local stack for the end-to-end tests: DynamoDB Local, a moto server, the gateway, the worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token
from tests.e2e.state import FamilyState, read_family

pytestmark = pytest.mark.stack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    # Short visibility, so a failed overflow batch is retried within seconds as tests wait for it; a long
    # heartbeat interval, because these listeners never heartbeat and housekeeping runs for real.
    with LocalStack(visibility_timeout=20, max_instances=4, parameters={"HeartbeatIntervalSeconds": "3600"}) as local:
        yield local


@pytest.fixture(scope="session")
def table(stack: LocalStack) -> str:
    return stack.template.tables["RoomsTable"].name


@pytest.fixture(scope="session")
def tokens() -> Callable[[str], dict[str, str]]:
    cache: dict[str, dict[str, str]] = {}

    def headers(user: str) -> dict[str, str]:
        if user not in cache:
            cache[user] = {"Authorization": f"Bearer {mint_token(user, ttl_seconds=7200)}"}
        return cache[user]

    return headers


@pytest.fixture
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(base_url=stack.api_url, timeout=60, limits=limits) as client:
        yield client


@pytest.fixture
def family_state(stack: LocalStack, table: str) -> Callable[[str], FamilyState]:
    dynamodb = stack.client("dynamodb")

    def read(family_id: str) -> FamilyState:
        return read_family(dynamodb, table, family_id)

    return read


def create_room(http: httpx.Client, headers: dict[str, str], capacity: int, title: str = "show") -> dict[str, Any]:
    response = http.post("/rooms", json={"title": title, "capacity": capacity}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())
