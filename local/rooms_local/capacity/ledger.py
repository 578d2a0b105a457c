"""What the capacity meter records: one Charge per (request, table or index, partition key) it billed,
in a thread-safe Ledger."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Charge:
    at: float  # time.time() when the request was answered
    operation: str  # DynamoDB action: "TransactWriteItems", "UpdateItem", "Query", "GetItem", ...
    table: str  # table name as the request named it
    index: str | None  # None for the base table, else the GSI name ("gsi1", "gsi2")
    partition_key: str  # the partition key's value as text, e.g. "ROOM#r_1", "EXPIRY#12345"
    wcu: float  # write units this request puts on that (table|index, key)
    rcu: float  # read units this request puts on that (table|index, key)
    throttled: bool = False  # refused by the throttle mode: units are what it WOULD have used; not consumed
    request_id: int = 0  # same for every Charge of one request (a transaction yields several charges)


class Ledger:
    """Every charge so far, in order; `position()` marks a point, `since(mark)` is a window.

    `requests()` counts answered requests per operation: each request is recorded once, with its
    charges (none for one DynamoDB does not bill, such as a validation error: pass `operation`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._charges: list[Charge] = []
        self._requests: Counter[str] = Counter()

    def record(self, charges: Iterable[Charge], *, operation: str | None = None) -> None:
        """Record the charges of one or more whole requests; `operation` counts a request without charges."""
        batch = list(charges)
        operations = {charge.request_id: charge.operation for charge in batch}
        with self._lock:
            self._charges.extend(batch)
            self._requests.update(operations.values())
            if not batch and operation:
                self._requests[operation] += 1

    def position(self) -> int:
        with self._lock:
            return len(self._charges)

    def since(self, position: int) -> list[Charge]:
        with self._lock:
            return self._charges[position:]

    def charges(self) -> list[Charge]:
        with self._lock:
            return list(self._charges)

    def requests(self) -> Counter[str]:
        with self._lock:
            return Counter(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._charges.clear()
            self._requests.clear()


def summary_line(charges: Iterable[Charge]) -> str:
    """One line: total WCU and RCU consumed (throttled requests apart), and the key that took the most."""
    wcu = rcu = 0.0
    throttled = 0
    per_key: defaultdict[tuple[str, str | None, str], float] = defaultdict(float)
    for charge in charges:
        if charge.throttled:
            throttled += 1
            continue
        wcu += charge.wcu
        rcu += charge.rcu
        per_key[(charge.table, charge.index, charge.partition_key)] += charge.wcu + charge.rcu
    text = f"capacity: {wcu:g} WCU, {rcu:g} RCU"
    if per_key:
        (table, index, key), units = max(per_key.items(), key=lambda item: item[1])
        text += f"; hottest key {key!r} on {table}{f'/{index}' if index else ''} ({units:g} units)"
    if throttled:
        text += f"; {throttled} throttled charges"
    return text
