"""Overflow tickets on DynamoDB (the TicketStore port): each change is one conditional write on the
ticket's own key, and the indexes that find tickets are read here: a family's queue and promotion
queue (gsi1, sharded: rooms.adapters.ticket_index) and the due index of queued tickets (gsi2).

Tickets seated or promoted together with their seats are written by the seat transactions
(DynamoRoomStore.seat_batch and promote), with the same item layout (rooms.adapters.mapping).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action

from rooms.adapters.dynamo import save_if, update_if
from rooms.adapters.mapping import OFF_DUE_INDEX, TERMINAL_TICKET_TTL, ticket_from_item, ticket_item
from rooms.adapters.models import (
    DUE_TICKET_SHARDS,
    TicketItem,
    arrival_key,
    due_ticket_shard,
    due_tickets_key,
    ticket_family_key,
    ticket_key,
)
from rooms.adapters.overload import overload_is_busy
from rooms.adapters.ticket_index import family_tickets, shard_page_size
from rooms.config import settings
from rooms.domain.model import Seat, Ticket, TicketStatus, due_bucket, ticket_id_for


@overload_is_busy
class DynamoTicketStore:
    def __init__(self) -> None:
        self._delivery_budget = timedelta(seconds=settings().overflow_delivery_budget_seconds)

    # -------------------------------------------------------------- life cycle
    def put_ticket(self, ticket: Ticket) -> Ticket | None:
        """Record a new ticket; if the user already holds one for the family, return it instead."""
        due_key = self._due_key(ticket.ticket_id, ticket.queued_since) if ticket.status is TicketStatus.QUEUED else None
        if save_if(ticket_item(ticket, due_key), TicketItem.pk.does_not_exist()):
            return None
        return self.get_ticket(ticket.ticket_id)

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        try:
            return ticket_from_item(TicketItem.get(ticket_key(ticket_id), "TICKET", consistent_read=True))
        except DoesNotExist:
            return None

    def requeue_ticket(self, ticket: Ticket, now: datetime) -> bool:
        """Put a finished ticket back in the queue, unless another request already did.

        `ticket` is the finished ticket as read (the condition) with the new join's requested room,
        promotion wish and group (what is written)."""
        return update_if(
            TicketItem(pk=ticket_key(ticket.ticket_id), sk="TICKET"),
            [
                TicketItem.status.set(TicketStatus.QUEUED.value),
                TicketItem.requested_room_id.set(ticket.requested_room_id),
                TicketItem.promote.set(ticket.promote),
                TicketItem.group_id.set(ticket.group_id) if ticket.group_id else TicketItem.group_id.remove(),
                TicketItem.room_id.remove(),
                TicketItem.reason.remove(),
                TicketItem.ttl.remove(),
                TicketItem.republished.set(0),
                TicketItem.created_at.set(now),
                TicketItem.updated_at.set(now),
                TicketItem.gsi1pk.set(ticket_family_key(ticket.ticket_id, ticket.family_id, ticket.promote)),
                TicketItem.gsi1sk.set(arrival_key(now, ticket.ticket_id)),
                *self._on_due_index(ticket.ticket_id, now),
            ],
            (TicketItem.status == ticket.status.value) & (TicketItem.updated_at == ticket.updated_at),
        )

    def republish_ticket(self, ticket: Ticket, now: datetime) -> Ticket | None:
        """Start a new delivery budget for a queued ticket whose request is about to be published again.

        Only if nothing changed it since it was read (None otherwise): two sweeps, or a sweep and a
        rejoin, never both publish. Its place in the family's arrival order is kept.
        """
        changed = update_if(
            TicketItem(pk=ticket_key(ticket.ticket_id), sk="TICKET"),
            [
                TicketItem.updated_at.set(now),
                TicketItem.republished.add(1),
                *self._on_due_index(ticket.ticket_id, now),
            ],
            (TicketItem.status == TicketStatus.QUEUED.value) & (TicketItem.updated_at == ticket.updated_at),
        )
        return replace(ticket, updated_at=now, republished=ticket.republished + 1) if changed else None

    def fail_ticket(self, ticket_id: str, reason: str, now: datetime, *, queued_at: datetime | None = None) -> bool:
        """Mark a queued ticket failed with a reason the client can read; False if it was not queued.

        With `queued_at`, only the queueing published then: a message that outlived its queueing
        (the ticket was re-published or re-queued since) does not fail the newer one.
        """
        condition = TicketItem.status == TicketStatus.QUEUED.value
        if queued_at is not None:
            condition &= TicketItem.updated_at == queued_at
        return update_if(
            TicketItem(pk=ticket_key(ticket_id), sk="TICKET"),
            [
                TicketItem.status.set(TicketStatus.FAILED.value),
                TicketItem.reason.set(reason),
                TicketItem.updated_at.set(now),
                TicketItem.ttl.set(now + TERMINAL_TICKET_TTL),
                *OFF_DUE_INDEX,
            ],
            condition,
        )

    def mark_ticket_seated(self, ticket_id: str, seat: Seat, now: datetime) -> None:
        update_if(
            TicketItem(pk=ticket_key(ticket_id), sk="TICKET"),
            [
                TicketItem.status.set(TicketStatus.SEATED.value),
                TicketItem.room_id.set(seat.room_id),
                TicketItem.reason.remove(),
                TicketItem.updated_at.set(now),
                TicketItem.ttl.set(now + TERMINAL_TICKET_TTL),
                *OFF_DUE_INDEX,
            ],
            TicketItem.status == TicketStatus.QUEUED.value,
        )

    def end_ticket(self, seat: Seat, status: TicketStatus, reason: str | None, now: datetime) -> bool:
        """Tell the user's ticket in the family that `seat` is gone (left or expired); False if none is told.

        One conditional write on the ticket's own key, after the seat's release: the admission and
        release transactions stay as they are. Only a ticket from before the seat (queued or seated)
        changes; one queued again since the seat was taken belongs to a newer join and is left alone.
        """
        ticket_id = ticket_id_for(seat.family_id, seat.user_id)
        return update_if(
            TicketItem(pk=ticket_key(ticket_id), sk="TICKET"),
            [
                TicketItem.status.set(status.value),
                TicketItem.room_id.set(seat.room_id),
                TicketItem.reason.set(reason) if reason else TicketItem.reason.remove(),
                TicketItem.updated_at.set(now),
                TicketItem.ttl.set(now + TERMINAL_TICKET_TTL),
                *OFF_DUE_INDEX,
            ],
            TicketItem.status.is_in(TicketStatus.QUEUED.value, TicketStatus.SEATED.value)
            & (TicketItem.created_at <= seat.joined_at),
        )

    # ----------------------------------------------------------------- indexes
    def queued_tickets(self, family_id: str) -> Iterator[Ticket]:
        """The family's queued tickets, both queues' shards merged in arrival order."""
        queued = TicketItem.status == TicketStatus.QUEUED.value
        for item in family_tickets(family_id, promote=(False, True), filter_condition=queued):
            yield ticket_from_item(item)

    def due_tickets(self, bucket: int) -> Iterator[Ticket]:
        """Tickets indexed as queued past their delivery budget in minute `bucket`, read again consistently.

        The index is sparse (a ticket leaves it when seated, failed or ended) and KEYS_ONLY, so what it
        lists is read back: a ticket settled since it was indexed comes back with its new status.
        """
        keys = [
            (item.pk, item.sk)
            for shard in range(DUE_TICKET_SHARDS)
            for item in TicketItem.by_due_time.query(due_tickets_key(bucket, shard))
        ]
        for item in TicketItem.batch_get(keys, consistent_read=True):
            yield ticket_from_item(item)

    def promotion_candidates(self, family_id: str, main_room_id: str, limit: int) -> list[Ticket]:
        """Seated users of the family who asked to move up, first come first: their tickets' arrival order."""
        if limit <= 0:
            return []
        items = family_tickets(
            family_id,
            promote=(True,),
            filter_condition=(TicketItem.status == TicketStatus.SEATED.value) & (TicketItem.room_id != main_room_id),
            page_size=shard_page_size(limit),
        )
        return [ticket_from_item(item) for item in itertools.islice(items, limit)]

    def drop_promotion(self, ticket: Ticket) -> None:
        """Take a ticket out of the promotion queue (its user left or moved)."""
        TicketItem(pk=ticket_key(ticket.ticket_id), sk="TICKET").update(
            actions=[TicketItem.gsi1pk.set(ticket_family_key(ticket.ticket_id, ticket.family_id, promote=False))]
        )

    def _on_due_index(self, ticket_id: str, queued_at: datetime) -> list[Action]:
        key = self._due_key(ticket_id, queued_at)
        return [TicketItem.gsi2pk.set(key), TicketItem.gsi2sk.set(ticket_key(ticket_id))]

    def _due_key(self, ticket_id: str, queued_at: datetime) -> str:
        """The due index partition of a ticket queued at `queued_at`: the minute its delivery budget ends."""
        return due_tickets_key(due_bucket(queued_at + self._delivery_budget), due_ticket_shard(ticket_id))
