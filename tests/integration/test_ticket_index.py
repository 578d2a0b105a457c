"""A family's tickets on sharded gsi1 keys (moto): writers spread them, readers merge them back in the
family's arrival order, queued tickets and promotion candidates alike.

Before: every ticket of a family was indexed under `TICKETS#<family>` (or `PROMOTE#<family>`), one key
that took every queued join of the family.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import boto3
import pytest

from rooms.domain.model import Ticket, TicketStatus, parallel_room_id, ticket_id_for

TABLE = "rooms-test-RoomsTable"
FAMILY = "r_sharded"
PARALLEL = parallel_room_id(FAMILY, 1)
START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


def ticket(n: int, status: TicketStatus, *, promote: bool, room_id: str | None = None) -> Ticket:
    """User n's ticket, arrived n ms after START."""
    at = START + timedelta(milliseconds=n)
    return Ticket(
        ticket_id=ticket_id_for(FAMILY, f"u{n}"),
        family_id=FAMILY,
        user_id=f"u{n}",
        status=status,
        requested_room_id=FAMILY,
        created_at=at,
        updated_at=at,
        room_id=room_id,
        promote=promote,
    )


def indexed_keys() -> dict[str, str]:
    """Each ticket's gsi1 partition key as stored (a scan: fine on a test table)."""
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    return {item["ticket_id"]["S"]: item["gsi1pk"]["S"] for item in items if item["sk"]["S"] == "TICKET"}


class Family(NamedTuple):
    store: Any  # a DynamoTicketStore, imported once moto is up
    queued: list[Ticket]  # in arrival order
    candidates: list[Ticket]  # for promotion, in arrival order


@pytest.fixture
def family(aws: dict[str, str]) -> Family:
    """40 tickets of one family, put in a shuffled order. Every third is seated in a parallel room and asked to
    move up; a few more asked but are queued or already in the main room, which makes them no candidates."""
    from rooms.adapters.ticket_store import DynamoTicketStore

    tickets = []
    for n in range(40):
        if n % 3 == 0:
            tickets.append(ticket(n, TicketStatus.SEATED, promote=True, room_id=PARALLEL))
        elif n % 7 == 0:
            tickets.append(ticket(n, TicketStatus.SEATED, promote=True, room_id=FAMILY))
        else:
            tickets.append(ticket(n, TicketStatus.QUEUED, promote=n % 5 == 0))
    store = DynamoTicketStore()
    for each in random.Random(3).sample(tickets, len(tickets)):
        assert store.put_ticket(each) is None
    queued = [t for t in tickets if t.status is TicketStatus.QUEUED]
    candidates = [t for t in tickets if t.status is TicketStatus.SEATED and t.room_id == PARALLEL]
    return Family(store, queued, candidates)


def test_a_familys_tickets_are_indexed_over_several_keys(family: Family) -> None:
    from rooms.adapters.models import family_ticket_shard

    _, queued, candidates = family
    keys = indexed_keys()
    assert len(keys) == 40
    for ticket_id, key in keys.items():
        queue, family_id, shard = key.split("#")
        assert queue in ("TICKETS", "PROMOTE") and family_id == FAMILY and int(shard) == family_ticket_shard(ticket_id)
    per_key = Counter(keys.values())
    # THEN no single key holds the family: its queued tickets and its candidates each span several
    assert max(per_key.values()) < len(queued)
    assert len({keys[t.ticket_id] for t in queued}) > 5
    assert len({keys[t.ticket_id] for t in candidates}) > 5


def test_queued_tickets_come_in_the_familys_arrival_order(
    family: Family,
) -> None:
    store, queued, _ = family
    assert [t.ticket_id for t in store.queued_tickets(FAMILY)] == [t.ticket_id for t in queued]


def test_promotion_candidates_are_the_oldest_across_shards_up_to_the_limit(
    family: Family,
) -> None:
    store, _, candidates = family
    ids = [t.ticket_id for t in candidates]
    for limit in (1, 5, len(ids), 100):
        assert [t.ticket_id for t in store.promotion_candidates(FAMILY, FAMILY, limit)] == ids[:limit]
    assert store.promotion_candidates(FAMILY, FAMILY, 0) == []


def test_a_dropped_promotion_leaves_the_queue_and_keeps_its_shard(
    family: Family,
) -> None:
    store, _, candidates = family
    first = candidates[0]
    shard = indexed_keys()[first.ticket_id].rsplit("#", 1)[1]
    store.drop_promotion(first)
    assert indexed_keys()[first.ticket_id] == f"TICKETS#{FAMILY}#{shard}"
    assert [t.ticket_id for t in store.promotion_candidates(FAMILY, FAMILY, 3)] == [
        t.ticket_id for t in candidates[1:4]
    ]


def test_a_requeued_ticket_stays_on_its_shard_and_takes_its_new_place(
    family: Family,
) -> None:
    store, queued, _ = family
    first = next(t for t in queued if not t.promote)
    key = indexed_keys()[first.ticket_id]
    assert store.fail_ticket(first.ticket_id, "test", START + timedelta(seconds=1))
    failed = store.get_ticket(first.ticket_id)
    assert failed is not None and store.requeue_ticket(failed, START + timedelta(seconds=2))
    assert indexed_keys()[first.ticket_id] == key
    # it queued again last: the newest of the family
    others = [t.ticket_id for t in queued if t != first]
    assert [t.ticket_id for t in store.queued_tickets(FAMILY)] == [*others, first.ticket_id]
