"""Recognise AWS answers that mean "too busy right now" (throttling, exhausted transaction conflicts) and
turn them into the domain's Busy, so no caller of an adapter ever classifies botocore or pynamodb errors.

botocore's standard retry mode already retried them; what is left is reported to clients as a 503 with
Retry-After (the request did nothing and is safe to repeat), never as an internal error.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException, TransactWriteError

from rooms.domain.errors import Busy

C = TypeVar("C", bound=type)
OVERLOAD_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TransactionInProgressException",
        "TooManyRequestsException",
    }
)
_OVERLOAD_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"})


def is_overload(error: BaseException) -> bool:
    # a library may wrap the AWS error (Powertools' idempotency layer does): what decides is its cause
    seen = 0
    while seen < 5 and error.__cause__ is not None and not isinstance(error, (PynamoDBException, ClientError)):
        error, seen = error.__cause__, seen + 1
    if isinstance(error, TransactWriteError):
        reasons = {reason.code for reason in error.cancellation_reasons if reason is not None}
        if reasons & _OVERLOAD_REASONS:
            return True
    if isinstance(error, PynamoDBException):
        return error.cause_response_code in OVERLOAD_CODES
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in OVERLOAD_CODES
    return False


@contextmanager
def busy_when_overloaded() -> Iterator[None]:
    """Raise Busy (from the AWS error) where the block's AWS call was refused as too busy."""
    try:
        yield
    except Busy:
        raise
    except Exception as error:
        if is_overload(error):
            raise Busy() from error
        raise


def overload_is_busy(cls: C) -> C:
    """Class decorator for an adapter: each public method raises Busy where AWS answered "too busy".

    Only what leaves a method is translated: inside, the adapter still reads AWS's own errors (a
    cancelled transaction's reasons), as it must to raise its precise domain errors.
    """
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _translating(member))
    return cls


def _translating(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(method):  # a lazy read fails while it is iterated, not when it is called

        @functools.wraps(method)
        def generator(*args: Any, **kwargs: Any) -> Any:
            with busy_when_overloaded():
                return (yield from method(*args, **kwargs))

        return generator

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with busy_when_overloaded():
            return method(*args, **kwargs)

    return call
