"""Recognise AWS answers that mean "too busy right now": throttling and exhausted transaction conflicts.

botocore's standard retry mode already retried them; what is left is reported to clients as a 503 with
Retry-After (the request did nothing and is safe to repeat), never as an internal error.
"""

from __future__ import annotations

from botocore.exceptions import ClientError
from pynamodb.exceptions import PynamoDBException, TransactWriteError

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
