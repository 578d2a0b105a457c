"""Adapters speak domain errors only: an AWS "too busy" leaves an adapter as Busy, anything else as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from pynamodb.exceptions import TransactWriteError

from rooms.adapters.overload import busy_when_overloaded, overload_is_busy
from rooms.domain.errors import Busy

THROTTLED = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Query")


@overload_is_busy
class Adapter:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def write(self) -> None:
        raise TransactWriteError("Failed to write transaction items", THROTTLED)

    def fail(self) -> None:
        raise self.error

    def read(self) -> Iterator[int]:
        yield 1
        raise self.error

    def _inner(self) -> None:
        raise self.error


def test_a_throttled_call_leaves_the_adapter_as_busy_with_its_cause() -> None:
    # GIVEN an adapter whose AWS call was throttled WHEN it is called THEN the caller sees Busy
    with pytest.raises(Busy) as raised:
        Adapter(THROTTLED).write()
    assert raised.value.code == "BUSY" and isinstance(raised.value.__cause__, TransactWriteError)


def test_a_lazy_read_is_translated_while_it_is_iterated() -> None:
    reads = Adapter(THROTTLED).read()
    assert next(reads) == 1
    with pytest.raises(Busy):
        next(reads)


def test_other_failures_pass_unchanged_and_the_adapter_reads_aws_errors_inside() -> None:
    refused = ClientError({"Error": {"Code": "ValidationException", "Message": "no"}}, "PutItem")
    with pytest.raises(ClientError):
        Adapter(refused).fail()
    with pytest.raises(RuntimeError):
        Adapter(RuntimeError("a bug")).fail()
    # its own helpers are not translated: the adapter decides what their AWS errors mean
    with pytest.raises(ClientError):
        Adapter(THROTTLED)._inner()


def test_a_throttle_a_library_wrapped_is_busy_and_busy_is_not_wrapped_twice() -> None:
    wrapped = RuntimeError("Failed to save in progress record")
    wrapped.__cause__ = THROTTLED
    with pytest.raises(Busy), busy_when_overloaded():
        raise wrapped
    first = Busy()
    with pytest.raises(Busy) as raised, busy_when_overloaded():
        raise first
    assert raised.value is first
