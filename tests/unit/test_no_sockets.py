"""Unit tests cannot reach the network: an adapter built by mistake in a unit test fails at once."""

from __future__ import annotations

import socket

import pytest

from tests.unit.conftest import SocketBlocked


def test_a_unit_test_cannot_open_a_socket() -> None:
    with pytest.raises(SocketBlocked):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(SocketBlocked):
        socket.create_connection(("127.0.0.1", 8000), timeout=0.1)


def test_a_dynamodb_call_from_a_unit_test_fails_without_reaching_anything() -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import HTTPClientError

    once = Config(retries={"total_max_attempts": 1})
    client = boto3.client("dynamodb", endpoint_url="http://127.0.0.1:8000", region_name="us-east-1", config=once)
    with pytest.raises(HTTPClientError, match="may not open sockets"):
        client.list_tables()
