"""The meter's copy of every item's current image, so a write's old image costs no extra request.

Every write of the stack goes through the meter, so after it has read a table once (empty at start-up)
the copy is exact, with three exceptions it knows about and resolves by reading the item from DynamoDB
Local (consistently, while it holds the item's lock): an item whose TTL attribute has passed (DynamoDB
Local deletes expired items by itself, within seconds), a write whose outcome the meter did not see
(an upstream failure), and an item the meter has never read. Writers of one item are serialised by a
lock per key (striped), held from reading the old image to recording the new one, so two writers of one
key cannot interleave and each sees the image the other left.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .schema import KeyTuple, TableSchema
from .sizes import Item

_STRIPES = 1024


@dataclass
class _TableImages:
    schema: TableSchema
    images: dict[KeyTuple, Item] = field(default_factory=dict)  # absent key: no such item
    uncertain: set[KeyTuple] = field(default_factory=set)


class ItemImages:
    def __init__(self, *, clock: Callable[[], float] = time.time, stripes: int = _STRIPES):
        self._clock = clock
        self._tables: dict[str, _TableImages] = {}
        self._adopting = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(stripes)]

    # --------------------------------------------------------------------------------------- tables
    def adopted(self, table: str) -> bool:
        return table in self._tables

    @contextlib.contextmanager
    def adopting(self) -> Iterator[None]:
        """Held while a table is read for the first time: one reader per stack, not one per request."""
        with self._adopting:
            yield

    def adopt(self, schema: TableSchema, items: Iterable[Item]) -> None:
        """Start following a table, from all of its items (none for a new one)."""
        table = _TableImages(schema)
        for item in items:
            table.images[schema.key(item)] = item
        self._tables[schema.name] = table

    def drop(self, table: str) -> None:
        """The table was created or deleted: read it afresh on its next request."""
        with self._adopting:
            self._tables.pop(table, None)

    def schema(self, table: str) -> TableSchema:
        return self._tables[table].schema

    # ---------------------------------------------------------------------------------------- items
    @contextlib.contextmanager
    def locked(self, keys: Iterable[tuple[str, KeyTuple]]) -> Iterator[None]:
        """Hold the locks of these items (in a fixed order, so no two holders deadlock)."""
        stripes = sorted({hash(key) % len(self._stripes) for key in keys})
        with contextlib.ExitStack() as stack:
            for stripe in stripes:
                stack.enter_context(self._stripes[stripe])
            yield

    def lookup(self, table: str, key: KeyTuple) -> tuple[bool, Item | None]:
        """(known, image): image None means no such item; not known means read it from DynamoDB."""
        images = self._tables[table]
        if key in images.uncertain:
            return False, None
        image = images.images.get(key)
        if image is not None and self._expired(images.schema, image):
            return False, None
        return True, image

    def store(self, table: str, key: KeyTuple, image: Item | None) -> None:
        """The item's image after a write the meter saw DynamoDB apply (None: deleted)."""
        images = self._tables[table]
        images.uncertain.discard(key)
        if image is None:
            images.images.pop(key, None)
        else:
            images.images[key] = image

    def forget(self, table: str, key: KeyTuple) -> None:
        """The outcome of a write is unknown: read the item again before the next write."""
        self._tables[table].uncertain.add(key)

    def _expired(self, schema: TableSchema, image: Item) -> bool:
        if schema.ttl_attribute is None:
            return False
        value = image.get(schema.ttl_attribute)
        if value is None or "N" not in value:
            return False
        try:
            return float(value["N"]) <= self._clock()
        except ValueError:
            return False
