"""DynamoDB's error answers, as AWS sends them (JSON protocol, HTTP status, `__type`, message text).

Throttling (single operations, on a key over its limit): on an on-demand (PAY_PER_REQUEST) table AWS
answers HTTP 400 `ThrottlingException` with "Throughput exceeds the current capacity of your table or
index. DynamoDB is automatically scaling ..." (or, for a GSI, "... for one or more global secondary
indexes ..."), the texts the API reference gives for on-demand tables in `TransactionCanceledException`'s
ThrottlingError reasons; on a provisioned table `ProvisionedThroughputExceededException` with "The level of
configured provisioned throughput for the table was exceeded ...". Both carry the newer throttling reasons
(`<Table|Index><Read|Write>KeyRangeThroughputExceeded` and the ARN of the table or index; API reference,
"ThrottlingReason"), under the member names botocore's model gives them (`throttlingReasons` for
ThrottlingException, `ThrottlingReasons` for the other). botocore's standard retry mode retries both, and
the product's adapters/overload.py maps both to 503 BUSY.

Inside a transaction the same refusal is a `TransactionCanceledException` whose reasons put `ThrottlingError`
(on-demand; `ProvisionedThroughputExceeded` when provisioned) on the throttled items and `None` on the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .schema import TableSchema

DYNAMODB_TYPE = "com.amazonaws.dynamodb.v20120810#"
THROTTLING_TYPE = "com.amazon.coral.availability#ThrottlingException"
HOT_KEY_GUIDE = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"

ON_DEMAND_TABLE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table"
    f" or index so please try again shortly. If exceptions persist, check if you have a hot key: {HOT_KEY_GUIDE}"
)
ON_DEMAND_INDEX = (
    "Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically"
    " scaling your index so please try again shortly."
)
PROVISIONED_TABLE = (
    "The level of configured provisioned throughput for the table was exceeded. Consider increasing your"
    " provisioning level with the UpdateTable API."
)
PROVISIONED_INDEX = (
    "The level of configured provisioned throughput for one or more global secondary indexes of the table was"
    " exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes"
    " with the UpdateTable API."
)
CONFLICT_MESSAGE = "Transaction is ongoing for the item."
INTERNAL_MESSAGE = "Internal server error"

Answer = tuple[int, dict[str, Any]]  # HTTP status, JSON body


def throttling_reason(schema: TableSchema, index: str | None, kind: str) -> dict[str, str]:
    resource = "Index" if index else "Table"
    return {
        "reason": f"{resource}{kind}KeyRangeThroughputExceeded",
        "resource": schema.index_arn(index) if index else schema.arn,
    }


def _message(schema: TableSchema, index: str | None) -> str:
    if schema.on_demand:
        return ON_DEMAND_INDEX if index else ON_DEMAND_TABLE
    return PROVISIONED_INDEX if index else PROVISIONED_TABLE


def throttled(schema: TableSchema, index: str | None, kind: str) -> Answer:
    """A single operation refused because a partition key of the table or of a GSI is over its limit."""
    reasons = [throttling_reason(schema, index, kind)]
    if schema.on_demand:
        return 400, {"__type": THROTTLING_TYPE, "message": _message(schema, index), "throttlingReasons": reasons}
    return 400, {
        "__type": f"{DYNAMODB_TYPE}ProvisionedThroughputExceededException",
        "message": _message(schema, index),
        "ThrottlingReasons": reasons,
    }


def throttled_reason(schema: TableSchema, index: str | None) -> dict[str, str]:
    """The cancellation reason of a transaction item refused by throttling."""
    code = "ThrottlingError" if schema.on_demand else "ProvisionedThroughputExceeded"
    return {"Code": code, "Message": _message(schema, index)}


def conflict_reason() -> dict[str, str]:
    return {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE}


def cancelled(reasons: Sequence[dict[str, Any] | None]) -> Answer:
    """TransactionCanceledException, one reason per item in request order (None: that item was fine)."""
    listed = [reason or {"Code": "None"} for reason in reasons]
    codes = ", ".join(str(reason["Code"]) for reason in listed)
    return 400, {
        "__type": f"{DYNAMODB_TYPE}TransactionCanceledException",
        "CancellationReasons": listed,
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
    }


def internal_error() -> Answer:
    """HTTP 500 InternalServerError: the request did nothing; SDKs retry it."""
    return 500, {"__type": f"{DYNAMODB_TYPE}InternalServerError", "message": INTERNAL_MESSAGE}
