"""The table's items for the domain's objects and back: rooms, seats, tickets, events.

Also the changes to a ticket item that more than one store writes: the seat transactions (DynamoRoomStore)
settle tickets in the same transaction as the seats, the ticket store settles them on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rooms.adapters.models import (
    EventItem,
    RoomItem,
    SeatItem,
    TicketItem,
    arrival_key,
    event_key,
    expiry_sort_key,
    host_events_key,
    room_key,
    seat_expiry_key,
    seat_key,
    seats_key,
    sortable_time,
    ticket_family_key,
    ticket_key,
)
from rooms.domain.events import Event, EventStatus, Recurrence
from rooms.domain.expiry import expiry_bucket
from rooms.domain.model import Room, RoomStatus, Seat, Ticket, TicketStatus, shard_capacities

# a seated, failed or ended ticket is kept this long for its client to read, then DynamoDB's TTL removes it
TERMINAL_TICKET_TTL = timedelta(days=1)
# a ticket that stops being queued leaves the index of due tickets (TicketItem.by_due_time)
OFF_DUE_INDEX = (TicketItem.gsi2pk.remove(), TicketItem.gsi2sk.remove())


# ------------------------------------------------------------------ rooms
def room_from_item(item: RoomItem, metadata: Mapping[str, str] | None = None) -> Room:
    """A Room from its item and its family's metadata item (None: none, or a room from before the split).

    Its occupancy is the room item's own count (write shard 0): readers add the other shards'.
    """
    if metadata is None:
        legacy = item.legacy_metadata
        metadata = legacy.as_dict() if hasattr(legacy, "as_dict") else dict(legacy or {})
    return Room(
        room_id=item.room_id,
        family_id=item.family_id,
        index=int(item.index),
        host_id=item.host_id,
        title=item.title,
        capacity=int(item.capacity),
        occupancy=int(item.occupancy),
        status=RoomStatus(item.status),
        created_at=item.created_at,
        metadata=dict(metadata),
        parallel_count=int(item.parallel_count or 0),
        event_id=item.event_id,
        shards=int(item.shards or 1),
        rebalance=bool(item.rebalance),
        stage_seats=int(item.stage_seats or 0),
    )


def room_item(room: Room, *, holds_quota: bool = False) -> RoomItem:
    """The room's counter item (write shard 0): no metadata on it (FamilyMetadataItem says why)."""
    return RoomItem(
        pk=room_key(room.room_id),
        sk="ROOM",
        room_id=room.room_id,
        family_id=room.family_id,
        index=room.index,
        host_id=room.host_id,
        title=room.title,
        capacity=room.capacity,
        occupancy=room.occupancy,
        status=room.status.value,
        created_at=room.created_at,
        parallel_count=room.parallel_count,
        event_id=room.event_id,
        holds_quota=True if holds_quota else None,
        rebalance=True if room.rebalance else None,
        stage_seats=room.stage_seats or None,
        shards=room.shards,
        shard_capacity=shard_capacities(room.capacity, room.shards, room.stage_seats)[0],
    )


# ------------------------------------------------------------------ seats
def seat_from_item(item: SeatItem) -> Seat:
    return Seat(
        room_id=item.room_id,
        family_id=item.family_id,
        user_id=item.user_id,
        joined_at=item.joined_at,
        expires_at=item.expires_at,
        ticketed=bool(item.ticketed),
        shard=int(item.shard or 0),
        holder=item.holder,
        moved_at=item.moved_at,
        group_id=item.group_id,
        speaker=bool(item.speaker),
    )


def seat_item(seat: Seat, interval_seconds: int) -> SeatItem:
    """A seat's item with its index keys: its room's participants (gsi1), its lease end (gsi2)."""
    key = seat_key(seat.family_id, seat.user_id)
    expiry_pk, expiry_sk = expiry_index(key, seat.expires_at, interval_seconds)
    return SeatItem(
        pk=key,
        sk="SEAT",
        room_id=seat.room_id,
        family_id=seat.family_id,
        user_id=seat.user_id,
        joined_at=seat.joined_at,
        expires_at=seat.expires_at,
        ticketed=True if seat.ticketed else None,
        shard=seat.shard or None,
        holder=seat.holder,
        group_id=seat.group_id,
        speaker=True if seat.speaker else None,
        gsi1pk=seats_key(seat.room_id, seat.shard),
        gsi1sk=f"{seat.joined_at.isoformat()}#{seat.user_id}",
        gsi2pk=expiry_pk,
        gsi2sk=expiry_sk,
    )


def expiry_index(seat_pk: str, expires_at: datetime, interval_seconds: int) -> tuple[str, str]:
    """A seat's (gsi2pk, gsi2sk) in the expiry index: the bucket and shard of its lease end (see
    rooms.domain.expiry), sorted by the lease end. Written with every seat, moved by every heartbeat."""
    bucket = expiry_bucket(expires_at, interval_seconds)
    return seat_expiry_key(bucket, seat_pk), expiry_sort_key(expires_at, seat_pk)


# ---------------------------------------------------------------- tickets
def ticket_from_item(item: TicketItem) -> Ticket:
    return Ticket(
        ticket_id=item.ticket_id,
        family_id=item.family_id,
        user_id=item.user_id,
        status=TicketStatus(item.status),
        requested_room_id=item.requested_room_id,
        created_at=item.created_at,
        updated_at=item.updated_at,
        room_id=item.room_id,
        reason=item.reason,
        promote=bool(item.promote),
        republished=int(item.republished or 0),
        group_id=item.group_id,
    )


def ticket_item(ticket: Ticket, due_key: str | None) -> TicketItem:
    """A ticket's item, indexed in its family's queue (gsi1) and, with `due_key`, in the due index (gsi2)."""
    item = TicketItem(
        pk=ticket_key(ticket.ticket_id),
        sk="TICKET",
        ticket_id=ticket.ticket_id,
        family_id=ticket.family_id,
        user_id=ticket.user_id,
        status=ticket.status.value,
        requested_room_id=ticket.requested_room_id,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        room_id=ticket.room_id,
        reason=ticket.reason,
        promote=ticket.promote,
        republished=ticket.republished,
        group_id=ticket.group_id,
        gsi1pk=ticket_family_key(ticket.ticket_id, ticket.family_id, ticket.promote),
        gsi1sk=arrival_key(ticket.created_at, ticket.ticket_id),
    )
    if due_key is not None:
        item.gsi2pk = due_key
        item.gsi2sk = item.pk
    return item


# ----------------------------------------------------------------- events
def event_from_item(item: EventItem) -> Event:
    return Event(
        event_id=item.event_id,
        host_id=item.host_id,
        title=item.title,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        timezone=item.timezone,
        capacity=int(item.capacity),
        expected_audience=int(item.expected_audience or 0),
        recurrence=Recurrence(item.recurrence) if item.recurrence else None,
        status=EventStatus(item.status),
        created_at=item.created_at,
        updated_at=item.updated_at,
        room_id=item.room_id,
        occurrence=item.occurrence,
        provisioned_rooms=int(item.provisioned_rooms or 0),
    )


def event_item(event: Event) -> EventItem:
    return EventItem(
        pk=event_key(event.event_id),
        sk="EVENT",
        event_id=event.event_id,
        host_id=event.host_id,
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        timezone=event.timezone,
        capacity=event.capacity,
        expected_audience=event.expected_audience,
        recurrence=stored(event.recurrence),
        status=event.status.value,
        created_at=event.created_at,
        updated_at=event.updated_at,
        room_id=event.room_id,
        occurrence=event.occurrence,
        provisioned_rooms=event.provisioned_rooms,
        gsi1pk=host_events_key(event.host_id),
        gsi1sk=sortable_time(event.starts_at),
    )


def stored(value: Any) -> Any:
    """An event field's value as its attribute holds it (enums by their value)."""
    return value.value if isinstance(value, Recurrence | EventStatus) else value
