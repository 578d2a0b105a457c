"""Unit tests never reach the network: a socket opened in one is a test that needs the integration suite."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


class SocketBlocked(RuntimeError):
    """A unit test tried to open a network connection."""


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise SocketBlocked("unit tests may not open sockets; use the fakes (tests/unit/fakes.py) or moto")


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # subprocesses (a child pytest run) and in-process moto need no socket in this process
    monkeypatch.setattr(socket, "socket", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    yield
