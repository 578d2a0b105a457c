"""What every store on the Rooms table shares: its connection, transactions retried on conflicts, why a
transaction was cancelled, conditional writes, raw batch reads, and the hosts' quota counters.

pynamodb sends a transaction's items grouped: condition checks, deletes, puts, then updates; cancellation
reasons follow that order, so the positions the stores read are counted the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pynamodb.attributes import BooleanAttribute, NumberAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from rooms.adapters.models import QUOTA_SK, QuotaItem, RoomItem, quota_key
from rooms.config import settings
from rooms.domain.errors import Contention

T = TypeVar("T")
CONDITION_FAILED = "ConditionalCheckFailed"  # a cancellation reason
CONFLICT = "TransactionConflict"  # a cancellation reason
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"  # a single write's error code
MAX_CONFLICT_RETRIES = 8
TRANSACTION_ITEMS = 100  # TransactWriteItems takes 100 items
_BATCH_GET_LIMIT = 100  # keys per BatchGetItem call


def new_connection() -> Connection:
    """A connection for transactions and raw reads (pynamodb's TransactWrite does not read the models' Meta)."""
    return Connection(region=settings().region, retry_configuration=settings().dynamodb_retries)


def backoff(tries: int) -> None:
    """Sleep a jittered, doubling while before try `tries` + 1."""
    time.sleep(random.uniform(0, 0.005 * 2**tries))


def cancellation_codes(error: TransactWriteError) -> list[str | None]:
    """Each item's reason for the cancellation, in the transaction's order (None: that item was fine)."""
    return [reason.code if reason else None for reason in error.cancellation_reasons]


def cancelled_item(error: TransactWriteError, position: int) -> dict[str, Any] | None:
    """The item as it stood when item `position`'s condition failed (raw), if the write asked for it."""
    reasons = error.cancellation_reasons
    if position < len(reasons) and reasons[position] is not None:
        return reasons[position].raw_item  # type: ignore[union-attr]
    return None


def update_if(item: Model, actions: Sequence[Action], condition: Condition) -> bool:
    """UpdateItem under a condition; False, not an error, when the condition does not hold."""
    try:
        item.update(actions=list(actions), condition=condition)
    except UpdateError as error:
        if error.cause_response_code == CONDITIONAL_CHECK_FAILED:
            return False
        raise
    return True


def save_if(item: Model, condition: Condition) -> bool:
    """PutItem under a condition; False, not an error, when the condition does not hold."""
    try:
        item.save(condition=condition)
    except PutError as error:
        if error.cause_response_code == CONDITIONAL_CHECK_FAILED:
            return False
        raise
    return True


def with_conflict_retries(what: str, attempt: Callable[[], T]) -> T:
    """Retry a transaction cancelled only by a concurrent transaction, with jittered backoff."""
    for tries in range(MAX_CONFLICT_RETRIES):
        try:
            return attempt()
        except TransactWriteError as error:
            codes = cancellation_codes(error)
            if CONFLICT not in codes or CONDITION_FAILED in codes:
                raise
            backoff(tries)
    raise Contention(what)


def batch_get_raw(connection: Connection, keys: Sequence[tuple[str, str]], consistent: bool) -> list[dict[str, Any]]:
    """The items of these (pk, sk) keys that exist, raw, in any order: items of several models in one read.

    pynamodb's batch_get reads one model; this reads the table's items of any kind, told apart by sk.
    """
    table = RoomItem.Meta.table_name
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), _BATCH_GET_LIMIT):
        request: dict[str, Any] = {
            table: {
                "Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start : start + _BATCH_GET_LIMIT]],
                "ConsistentRead": consistent,
            }
        }
        for tries in range(MAX_CONFLICT_RETRIES):
            answer = connection.client.batch_get_item(RequestItems=request)
            found += answer.get("Responses", {}).get(table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            backoff(tries)  # the keys left over were throttled
        else:
            raise Contention("reading rooms")
    return found


def count_in_quota(tx: TransactWrite, host_id: str, counter: NumberAttribute, limit: int) -> None:
    """In `tx`: add one to a host's quota counter, only while it is below `limit` (see QuotaItem)."""
    tx.update(
        QuotaItem(pk=quota_key(host_id), sk=QUOTA_SK),
        actions=[counter.add(1)],
        condition=counter.does_not_exist() | (counter < limit),
    )


def give_back_quota(
    connection: Connection, holder: Model, flag: BooleanAttribute, counter: NumberAttribute, host_id: str
) -> None:
    """Return the unit `holder` (a key-only item) took from its host's quota; only the first call does."""

    def attempt() -> None:
        with TransactWrite(connection=connection) as tx:
            tx.update(holder, actions=[flag.remove()], condition=flag.exists())
            tx.update(QuotaItem(pk=quota_key(host_id), sk=QUOTA_SK), actions=[counter.add(-1)])

    try:
        with_conflict_retries(f"quota of host {host_id}", attempt)
    except TransactWriteError as error:
        if CONDITION_FAILED not in cancellation_codes(error):
            raise
        # another close or cancel gave it back already
