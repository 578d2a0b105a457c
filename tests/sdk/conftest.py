"""Fixtures of the SDK tests; the doubles themselves live in sdk_fakes.py."""

from __future__ import annotations

import pytest

from tests.sdk.sdk_fakes import FakeClock, FakeRoomsApi


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_api() -> FakeRoomsApi:
    return FakeRoomsApi()
