"""A family's tickets through gsi1, whose shards (see FAMILY_TICKET_SHARDS) are merged back into arrival order.

Each shard's query returns its tickets by gsi1sk (arrival time, then ticket id); a heap merge of the
shards' lazy queries yields the family's tickets in the same order one unsharded partition would. Only
the head page of each shard is read before the first ticket comes out, and a shard reads its next page
only once the merge has taken every ticket of the one before: a reader that stops after `limit` tickets
reads about `limit` tickets plus a page per shard, not the family.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

from pynamodb.expressions.condition import Condition

from rooms.adapters.models import FAMILY_TICKET_SHARDS, TicketItem, family_tickets_key


class Arriving(Protocol):
    @property
    def gsi1sk(self) -> str | None: ...


_Item = TypeVar("_Item", bound=Arriving)


def _arrival(item: Arriving) -> str:
    return item.gsi1sk or ""


def in_arrival_order(shards: Iterable[Iterable[_Item]]) -> Iterator[_Item]:
    """Merge streams that are each in arrival order (gsi1sk ascending) into one, lazily."""
    return heapq.merge(*shards, key=_arrival)


def shard_page_size(limit: int) -> int:
    """What each shard's query asks for at a time when `limit` tickets are wanted: the first `limit` of the
    family fall about evenly on the shards (ids hash uniformly), so twice a shard's share, at least 10."""
    return max(10, 2 * math.ceil(limit / FAMILY_TICKET_SHARDS))


def family_tickets(
    family_id: str,
    *,
    promote: Iterable[bool],
    filter_condition: Condition | None = None,
    page_size: int | None = None,
) -> Iterator[TicketItem]:
    """The family's tickets of the given queues (promote False, True or both), oldest first.

    `page_size` is what each shard's query asks for at a time (DynamoDB's Limit, before the filter).
    """
    queries = [
        TicketItem.by_family.query(
            family_tickets_key(family_id, queue, shard), filter_condition=filter_condition, page_size=page_size
        )
        for queue in promote
        for shard in range(FAMILY_TICKET_SHARDS)
    ]
    return in_arrival_order(queries)
