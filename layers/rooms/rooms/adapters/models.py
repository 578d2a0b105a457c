"""pynamodb models of the single Rooms table. Keys are spread so no admission shares a hot key but the room's."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from rooms.config import settings


class _TableMeta:
    table_name = settings().table_name
    region = settings().region
    # botocore's standard retry mode: throttling and transient errors back off with jitter
    retry_configuration: Any = {"mode": "standard", "total_max_attempts": 5}
    max_pool_connections = 50


def room_key(room_id: str) -> str:
    return f"ROOM#{room_id}"


def seat_key(family_id: str, user_id: str) -> str:
    return f"SEAT#{family_id}#{user_id}"


def ticket_key(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


class SeatsByRoom(GlobalSecondaryIndex["SeatItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class SeatsByExpiry(GlobalSecondaryIndex["SeatItem"]):
    class Meta:
        index_name = "gsi2"
        projection = KeysOnlyProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class RoomItem(Model):
    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="ROOM")
    room_id = UnicodeAttribute()
    family_id = UnicodeAttribute()
    index = NumberAttribute()
    host_id = UnicodeAttribute()
    title = UnicodeAttribute()
    capacity = NumberAttribute()
    occupancy = NumberAttribute(default=0)
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    metadata = MapAttribute[str, Any](default=dict)
    parallel_count = NumberAttribute(default=0)
    event_id = UnicodeAttribute(null=True)


class SeatItem(Model):
    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="SEAT")
    room_id = UnicodeAttribute()
    family_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    joined_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_room = SeatsByRoom()
    by_expiry = SeatsByExpiry()


class TicketItem(Model):
    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="TICKET")
    ticket_id = UnicodeAttribute()
    family_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    status = UnicodeAttribute()
    requested_room_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    room_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    promote = BooleanAttribute(default=False)
    ttl = TTLAttribute(null=True)
