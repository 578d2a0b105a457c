"""What AWS bills for one item read or written, and where: the partition key of the table or of a GSI
that absorbs it. Pure: items are DynamoDB JSON (see sizes.py); the meter supplies the old and new images.

The rules, with their sources (Amazon DynamoDB Developer Guide unless said otherwise):

- "DynamoDB read and write operations" / "Item sizes and capacity unit consumption": a write takes
  1 WCU per 1 KB of the LARGER of the item's old and new images (PutItem, UpdateItem; DeleteItem the
  deleted item), rounded up, at least 1; a read 1 RCU per 4 KB rounded up (strongly consistent),
  half as much eventually consistent; reading a missing item still costs the minimum. BatchGetItem and
  BatchWriteItem round each item on its own. Query and Scan add the sizes of ALL the items they
  evaluate (a filter is applied after reading and saves nothing) and round the sum up per call.
- Failed conditional writes still consume capacity: the size of the existing item, 1 WCU if there is
  none ("If the expression evaluates to false, DynamoDB still consumes write capacity units"; one
  edition of the guide says "the size of the new item" for an existing one: the item DynamoDB read to
  evaluate the condition is the one it has, so its size is used).
- "Amazon DynamoDB Transactions: How It Works", capacity management: DynamoDB performs two underlying
  writes (reads) of every item in a transaction, one to prepare and one to commit, so transactional
  units are twice the same standalone units. A ConditionCheck is billed as a transactional write of its
  item (measured on AWS and published: 2 WCU for an item under 1 KB). A cancelled transaction ran its
  prepare phase only: each of its items is billed one prepare write (this meter's reading of the
  two-phase rule, as AWS publishes no separate figure): its existing item's size (for a Put the larger
  of that and the new item), at least 1 WCU, and nothing reaches the GSIs. Changes made by a transaction
  reach GSIs asynchronously after it commits ("Changes made with transactions are propagated to global
  secondary indexes ... after the transaction completes"), as ordinary index writes: not doubled.
  A TransactWriteItems replayed with a ClientRequestToken already used within 10 minutes changes nothing
  and "returns the number of read capacity units consumed in reading the item": 2 RCU per 4 KB per item.
- "Global Secondary Indexes", provisioned throughput considerations: an item change costs its GSI
  nothing when the item is in the index neither before nor after; one write to put it in (index key
  attributes newly defined) or to delete it (an index key attribute removed, or the item deleted); one
  write when only projected attributes change; two writes (delete + put) when an index key attribute
  changes value. Each index write is sized by the index entry (KEYS_ONLY: the table's and the index's
  key attributes; INCLUDE: plus the listed attributes; ALL: the whole item). A GSI query is sized by
  the index entries it reads. An LSI consumes the base table's capacity.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .schema import IndexSchema, TableSchema, partition_key_text
from .sizes import KB, Item, item_size

WRITE_UNIT_BYTES = KB
READ_UNIT_BYTES = 4 * KB
TRANSACTIONAL = 2  # prepare + commit
INDEX_FACTOR_IN_TRANSACTIONS = 1  # GSI propagation after the commit is an ordinary write
SCAN_KEY = "*"  # a Scan reads across partitions: its units are put on the table as a whole


@dataclass(frozen=True)
class Cost:
    """Units one request puts on one partition key of a table (index None) or of one of its GSIs."""

    table: str
    index: str | None
    partition_key: str
    wcu: float = 0.0
    rcu: float = 0.0


def write_units(size: int) -> int:
    """1 WCU per 1 KB, rounded up, at least 1."""
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    """1 RCU per 4 KB rounded up (at least one 4 KB unit), half when eventually consistent."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


# ----------------------------------------------------------------------------------------------- indexes
def index_entry(table: TableSchema, index: IndexSchema, item: Item | None) -> dict[str, Any] | None:
    """The item as the index holds it, or None when it is not in the index (a key attribute missing)."""
    if item is None or index.hash_key not in item or (index.range_key is not None and index.range_key not in item):
        return None
    if index.projection == "ALL":
        return dict(item)
    names = {*table.key_names, index.hash_key, *((index.range_key,) if index.range_key else ())}
    if index.projection == "INCLUDE":
        names |= index.included
    return {name: item[name] for name in names if name in item}


def _index_key(index: IndexSchema, entry: Mapping[str, Any]) -> tuple[Any, ...]:
    return (entry[index.hash_key], entry[index.range_key] if index.range_key else None)


def _number(text: str) -> Decimal:
    return Decimal(text).normalize()


def _same_values(left: Any, right: Any) -> bool:
    """Equal as DynamoDB stores them: numbers by value ("1.50" is "1.5"), everything else as sent."""
    if isinstance(left, dict) and isinstance(right, dict):
        if left.keys() != right.keys():
            return False
        if left.keys() == {"N"}:
            return _number(left["N"]) == _number(right["N"])
        if left.keys() == {"NS"}:
            return sorted(map(_number, left["NS"])) == sorted(map(_number, right["NS"]))
        return all(_same_values(left[name], right[name]) for name in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same_values, left, right))
    return bool(left == right)


def index_writes(table: TableSchema, old: Item | None, new: Item | None) -> list[Cost]:
    """What one item change costs every secondary index: 0, 1 or 2 writes each, sized by its entries."""
    costs: list[Cost] = []
    for index in table.indexes:
        before, after = index_entry(table, index, old), index_entry(table, index, new)
        if before is None and after is None:
            continue
        writes: list[tuple[Mapping[str, Any], int]] = []  # (entry whose key absorbs it, units)
        if before is None:
            assert after is not None
            writes.append((after, write_units(item_size(after))))
        elif after is None:
            writes.append((before, write_units(item_size(before))))
        elif _index_key(index, before) != _index_key(index, after):
            writes += [(before, write_units(item_size(before))), (after, write_units(item_size(after)))]
        elif before != after and not _same_values(before, after):
            writes.append((after, write_units(max(item_size(before), item_size(after)))))
        for entry, units in writes:
            if index.local:  # an LSI shares the table's partition key and capacity
                costs.append(Cost(table.name, None, partition_key_text(entry[table.hash_key]), wcu=units))
            else:
                costs.append(Cost(table.name, index.name, partition_key_text(entry[index.hash_key]), wcu=units))
    return costs


# ------------------------------------------------------------------------------------------------ writes
def item_write(table: TableSchema, key: Item, old: Item | None, new: Item | None, *, transactional: bool) -> list[Cost]:
    """A successful Put, Update or Delete of one item (`new` None for a delete): table and indexes."""
    factor = TRANSACTIONAL if transactional else 1
    index_factor = INDEX_FACTOR_IN_TRANSACTIONS if transactional else 1
    units = write_units(max(item_size(old), item_size(new)))
    costs = [Cost(table.name, None, partition_key_text(key[table.hash_key]), wcu=factor * units)]
    costs += [
        Cost(cost.table, cost.index, cost.partition_key, wcu=cost.wcu * index_factor)
        for cost in index_writes(table, old, new)
    ]
    return costs


def failed_condition(table: TableSchema, key: Item, existing: Item | None) -> Cost:
    """A standalone conditional write whose condition was false: the existing item's size, 1 WCU if none."""
    return Cost(table.name, None, partition_key_text(key[table.hash_key]), wcu=write_units(item_size(existing)))


def condition_check(table: TableSchema, key: Item, existing: Item | None) -> Cost:
    """A ConditionCheck of a committed transaction: a transactional write of the item checked."""
    units = TRANSACTIONAL * write_units(item_size(existing))
    return Cost(table.name, None, partition_key_text(key[table.hash_key]), wcu=units)


def prepared_only(table: TableSchema, key: Item, existing: Item | None, put: Item | None = None) -> Cost:
    """One item of a cancelled transaction: its prepare write only, nothing on the indexes."""
    units = write_units(max(item_size(existing), item_size(put)))
    return Cost(table.name, None, partition_key_text(key[table.hash_key]), wcu=units)


def replayed(table: TableSchema, key: Item, existing: Item | None) -> Cost:
    """One item of a transaction replayed by its ClientRequestToken: a transactional read of it."""
    rcu = TRANSACTIONAL * read_units(item_size(existing), consistent=True)
    return Cost(table.name, None, partition_key_text(key[table.hash_key]), rcu=rcu)


# ------------------------------------------------------------------------------------------------- reads
def item_read(table: TableSchema, key: Item, size: int, *, consistent: bool, transactional: bool = False) -> Cost:
    """GetItem, one key of BatchGetItem or one Get of TransactGetItems (`size` 0 for a missing item)."""
    rcu = read_units(size, consistent=consistent) * (TRANSACTIONAL if transactional else 1)
    return Cost(table.name, None, partition_key_text(key[table.hash_key]), rcu=rcu)


def range_read(
    table: TableSchema, index: str | None, partition_key: str, sizes: Iterable[int], *, consistent: bool
) -> Cost:
    """One Query or Scan call: the sizes of every item (or index entry) it evaluated, summed, then rounded."""
    schema = table.index(index)
    charged_index = None if schema is None or schema.local else index
    return Cost(table.name, charged_index, partition_key, rcu=read_units(sum(sizes), consistent=consistent))


def merged(costs: Iterable[Cost]) -> list[Cost]:
    """One cost per (table, index, key), in first-seen order."""
    totals: defaultdict[tuple[str, str | None, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for cost in costs:
        total = totals[(cost.table, cost.index, cost.partition_key)]
        total[0] += cost.wcu
        total[1] += cost.rcu
    return [Cost(table, index, key, wcu=wcu, rcu=rcu) for (table, index, key), (wcu, rcu) in totals.items()]
