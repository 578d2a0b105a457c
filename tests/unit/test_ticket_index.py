"""A family's ticket index sharded over gsi1 partitions: the shard of a ticket, and the merge of the shards
back into the family's arrival order, read lazily.

Before: every ticket of a family was indexed under one key (`TICKETS#<family>`), 2.08 WCU per queued
join, which capped a family at 1,000 / 2.08 = 480 joins/s on AWS.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rooms.adapters.models import (
    FAMILY_TICKET_SHARDS,
    arrival_key,
    family_ticket_shard,
    family_tickets_key,
    ticket_family_key,
)
from rooms.adapters.ticket_index import in_arrival_order, shard_page_size
from rooms.domain.model import ticket_id_for

FAMILY = "r_main"
START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
WCU_PER_QUEUED_JOIN = 2.08  # on the ticket's gsi1 key: its put, then its update when seated or failed


@dataclass(frozen=True)
class Indexed:
    """An index entry as a shard's query yields it: only its sort key matters to the merge."""

    gsi1sk: str


def test_a_tickets_shard_is_fixed_by_its_id_and_names_family_queue_and_shard() -> None:
    ticket_id = ticket_id_for(FAMILY, "alice")
    shard = family_ticket_shard(ticket_id)
    assert 0 <= shard < FAMILY_TICKET_SHARDS
    assert family_ticket_shard(ticket_id) == shard  # the put and every later update hit the same key
    assert ticket_family_key(ticket_id, FAMILY, promote=False) == f"TICKETS#{FAMILY}#{shard}"
    # moving between queues (asking to move up, being promoted) keeps the shard
    assert ticket_family_key(ticket_id, FAMILY, promote=True) == f"PROMOTE#{FAMILY}#{shard}"
    assert family_tickets_key(FAMILY, True, shard) == f"PROMOTE#{FAMILY}#{shard}"


def test_a_familys_tickets_spread_over_every_shard_so_no_key_takes_its_storm() -> None:
    # GIVEN 10,000 users queued into one family (a second of the target rate)
    users = 10_000
    per_shard = Counter(family_ticket_shard(ticket_id_for(FAMILY, f"u{n}")) for n in range(users))
    # THEN every shard takes some and the fullest about its share (the ids hash uniformly)
    assert set(per_shard) == set(range(FAMILY_TICKET_SHARDS))
    fullest = max(per_shard.values())
    assert fullest < 1.2 * users / FAMILY_TICKET_SHARDS
    # and at 10,000 joins/s the fullest shard stays under a partition's 1,000 WCU/s (one key took 20,800)
    assert fullest * WCU_PER_QUEUED_JOIN < 1000


def shards_of(entries: list[Indexed]) -> list[list[Indexed]]:
    """Entries put on their shards as DynamoDB would: each shard sorted by gsi1sk."""
    shards: list[list[Indexed]] = [[] for _ in range(FAMILY_TICKET_SHARDS)]
    for entry in entries:
        shards[family_ticket_shard(entry.gsi1sk.split("#")[1])].append(entry)
    return [sorted(shard, key=lambda e: e.gsi1sk) for shard in shards]


def arrivals(count: int, *, same_instant_every: int = 1) -> list[Indexed]:
    """`count` tickets in arrival order; `same_instant_every` > 1 gives runs that arrive in the same microsecond."""
    return [
        Indexed(arrival_key(START + timedelta(microseconds=n // same_instant_every), ticket_id_for(FAMILY, f"u{n}")))
        for n in range(count)
    ]


def test_merging_the_shards_gives_the_familys_global_arrival_order() -> None:
    for same_instant_every in (1, 3):  # ties on the time are ordered by ticket id, as in one partition
        entries = arrivals(500, same_instant_every=same_instant_every)
        expected = sorted(entries, key=lambda e: e.gsi1sk)
        shuffled = shards_of(entries)
        random.Random(7).shuffle(shuffled)  # the order the shards are queried in does not matter
        assert list(in_arrival_order(shuffled)) == expected
        assert sum(1 for shard in shuffled if shard) > FAMILY_TICKET_SHARDS // 2  # it did merge many shards


class Counted:
    """A shard's query: counts the entries it was asked for."""

    def __init__(self, entries: Iterable[Indexed]) -> None:
        self._entries = iter(entries)
        self.read = 0

    def __iter__(self) -> Iterator[Indexed]:
        return self

    def __next__(self) -> Indexed:
        entry = next(self._entries)
        self.read += 1
        return entry


def test_the_merge_reads_only_what_a_limit_takes_plus_one_entry_a_shard() -> None:
    # GIVEN 3,200 tickets over the shards, and a reader that wants the first 5
    entries = arrivals(3200)
    queries = [Counted(shard) for shard in shards_of(entries)]
    first = list(itertools.islice(in_arrival_order(queries), 5))
    # THEN it has the family's first 5, having pulled at most one entry beyond them from each shard
    assert first == entries[:5]
    assert sum(query.read for query in queries) <= 5 + FAMILY_TICKET_SHARDS


def test_a_shard_asks_for_twice_its_share_of_the_limit_a_page() -> None:
    assert shard_page_size(1) == 10  # a page of a few: one request answers a small limit
    assert shard_page_size(FAMILY_TICKET_SHARDS * 50) == 100
    assert shard_page_size(FAMILY_TICKET_SHARDS * 50 + 1) == 102
