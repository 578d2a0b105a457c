"""pynamodb models of the single Rooms table. Keys are spread so no admission shares a hot key but the room's."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from rooms.adapters import aws_session
from rooms.config import settings
from rooms.domain.expiry import expiry_shard

aws_session.share_with_pynamodb()  # the models' connections make their clients from one session


class _TableMeta:
    table_name = settings().table_name
    region = settings().region
    # botocore's standard retry mode: throttling and transient errors back off with jitter
    retry_configuration: Any = settings().dynamodb_retries
    max_pool_connections = 50


def room_key(room_id: str) -> str:
    return f"ROOM#{room_id}"


def shard_key(room_id: str, shard: int) -> str:
    """Write shard `shard` of a room: shard 0 is the room item itself, the others have their own key."""
    return room_key(room_id) if shard == 0 else f"ROOM#{room_id}#{shard}"


SHARD_SK = "SHARD"


def seats_key(room_id: str, shard: int) -> str:
    """gsi1 partition of the seats a write shard counts: a room's seats spread like its admissions."""
    return shard_key(room_id, shard)


def seat_key(family_id: str, user_id: str) -> str:
    return f"SEAT#{family_id}#{user_id}"


def ticket_key(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


def event_key(event_id: str) -> str:
    return f"EVENT#{event_id}"


def host_events_key(host_id: str) -> str:
    return f"HOST#{host_id}"


FAMILY_METADATA_SK = "META"
QUOTA_SK = "QUOTA"


def quota_key(host_id: str) -> str:
    return f"HOST#{host_id}"


# A family's tickets are spread over this many gsi1 partitions, by ticket id. Each queued join writes its
# ticket's partition about 2.08 WCU (the ticket's put, then its update when seated or failed; gsi1 projects
# ALL), so one partition for the family capped it at 1,000 / 2.08 = 480 joins/s. Over 32 the storm's
# busiest partition still took 0.113 WCU a join over a stretch of it (crc32's spread over a few hundred
# tickets is uneven): 8,824 joins/s. Over 64: 10,000 joins/s x 2.08 / 64 = 325 WCU/s a partition on
# average, with room for the unevenness. Readers query every shard and merge them. Never deployed, so no
# ticket was ever indexed under an older key.
FAMILY_TICKET_SHARDS = 64


def family_ticket_shard(ticket_id: str) -> int:
    return zlib.crc32(ticket_id.encode()) % FAMILY_TICKET_SHARDS


def family_tickets_key(family_id: str, promote: bool, shard: int) -> str:
    """gsi1 partition of one shard of a family's tickets; users who asked to move up to the main room have
    their own. gsi1sk (arrival_key) orders a shard, so merging the shards gives the family's arrival order."""
    return f"{'PROMOTE' if promote else 'TICKETS'}#{family_id}#{shard}"


def ticket_family_key(ticket_id: str, family_id: str, promote: bool) -> str:
    """The gsi1 partition a ticket is indexed under: its family's (and queue's) shard for its id."""
    return family_tickets_key(family_id, promote, family_ticket_shard(ticket_id))


# Queued tickets of one due minute are spread over this many gsi2 partitions: a storm queues thousands
# of users a second, more than one index partition takes (about 1,000 writes/s, their removal included).
# Over 32 the busiest took 0.118 WCU a join over a stretch of the storm (8,451 joins/s): 64.
DUE_TICKET_SHARDS = 64


def due_tickets_key(bucket: int, shard: int) -> str:
    """gsi2 partition of queued tickets whose delivery budget runs out in minute `bucket`."""
    return f"TICKETS#DUE#{bucket}#{shard}"


def due_ticket_shard(ticket_id: str) -> int:
    return zlib.crc32(ticket_id.encode()) % DUE_TICKET_SHARDS


def sortable_time(when: datetime) -> str:
    """A UTC instant as text that sorts like the instant (index sort keys)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def expiry_key(bucket: int, shard: int) -> str:
    """gsi2 partition of the seats whose lease ends in `bucket` (see rooms.domain.expiry)."""
    return f"EXPIRY#{bucket}#{shard}"


def seat_expiry_key(bucket: int, seat_pk: str) -> str:
    return expiry_key(bucket, expiry_shard(seat_pk))


def expiry_sort_key(expires_at: datetime, seat_pk: str) -> str:
    """gsi2 sort key of a seat: its lease end first, so a sweeper queries only the expired."""
    return f"{sortable_time(expires_at)}#{seat_pk}"


def expired_by_sort_key(when: datetime) -> str:
    """The highest sort key of a seat whose lease ended by `when` (seat keys start with `SEAT#`)."""
    return f"{sortable_time(when)}#\uffff"


def arrival_key(created_at: datetime, ticket_id: str) -> str:
    return f"{sortable_time(created_at)}#{ticket_id}"


# gsi2 partition of main rooms whose family has parallel rooms: housekeeping walks it, never the table
ACTIVE_FAMILIES = "FAMILIES#OVERFLOW"
# gsi2 partition of closed rooms whose seats are still being freed (see DynamoRoomStore.close_room)
EVICTING_ROOMS = "ROOMS#EVICTING"


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


class FamiliesWithOverflow(GlobalSecondaryIndex["RoomItem"]):
    class Meta:
        index_name = "gsi2"
        projection = KeysOnlyProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class TicketsByFamily(GlobalSecondaryIndex["TicketItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class TicketsByDueTime(GlobalSecondaryIndex["TicketItem"]):
    """Queued tickets by the minute their delivery budget runs out (see due_tickets_key); sparse."""

    class Meta:
        index_name = "gsi2"
        projection = KeysOnlyProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class EventsByHost(GlobalSecondaryIndex["EventItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


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
    # Metadata lives in the family's FamilyMetadataItem; rooms created before that kept it here: read only.
    legacy_metadata = MapAttribute[str, Any](attr_name="metadata", null=True)
    parallel_count = NumberAttribute(default=0)
    event_id = UnicodeAttribute(null=True)
    # a main room created through the API counts in its host's quota until it closes (QuotaItem)
    holds_quota = BooleanAttribute(null=True)
    # set on a main room when its first parallel room is made (ACTIVE_FAMILIES); removed once it is closed
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    # a parallel room seen empty by housekeeping since then; it closes after the grace period
    empty_since = UTCDateTimeAttribute(null=True)
    # a main room whose host asked for its parallel rooms to be merged as they thin out (rooms.rebalance)
    rebalance = BooleanAttribute(null=True)
    stage_seats = NumberAttribute(null=True)  # its last write shard's seats, kept for speakers
    # write shards: this item is shard 0 and counts `shard_capacity` seats; RoomShardItem holds the others
    shards = NumberAttribute(null=True)
    shard_capacity = NumberAttribute(null=True)
    with_overflow = FamiliesWithOverflow()


class RoomShardItem(Model):
    """Write shard k >= 1 of a room: pk = ROOM#<room>#<k>, sk = SHARD (shard 0 is the RoomItem).

    A shard owns a slice of the room's capacity and counts the seats admitted through it, under the
    same condition as the room item (open, occupancy < shard_capacity), so the room's occupancy, the
    sum over its shards, never exceeds the sum of the slices: its capacity (I1). Each shard is its own
    partition key, so admissions into one room spread over as many keys as it has shards.
    """

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=SHARD_SK)
    room_id = UnicodeAttribute()
    family_id = UnicodeAttribute()
    shard = NumberAttribute()
    occupancy = NumberAttribute(default=0)
    shard_capacity = NumberAttribute()
    status = UnicodeAttribute()


def ban_key(family_id: str, user_id: str) -> str:
    return f"BAN#{family_id}#{user_id}"


class BanItem(Model):
    """A user kept out of a family: pk = BAN#<family>#<user>, sk = BAN. Read by joins and the overflow
    worker, one key per user: never hot. `ttl` removes it a day after it ends (30 days after a family-life
    ban was made: families do not outlive that)."""

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="BAN")
    family_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    until = UTCDateTimeAttribute(null=True)
    banned_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    ttl = TTLAttribute()


def group_key(group_id: str) -> str:
    return f"GROUP#{group_id}"


class GroupItem(Model):
    """Friends to be seated together: pk = GROUP#<group>, sk = GROUP. `ttl` removes it a day after it
    expires; only the invite token's hash is kept."""

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="GROUP")
    group_id = UnicodeAttribute()
    family_id = UnicodeAttribute()
    leader_id = UnicodeAttribute()
    members = ListAttribute(of=UnicodeAttribute)  # of str: pynamodb types its elements as the attribute
    token_hash = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    taken_in_at = UTCDateTimeAttribute(null=True)
    ttl = TTLAttribute()


class FamilyMetadataItem(Model):
    """A room family's metadata, beside its main room: pk = ROOM#<family>, sk = META.

    Kept out of RoomItem on purpose. Every admission updates the room item (its occupancy counter),
    and DynamoDB bills a write by the size of the whole item, 1 WCU per KB and twice that in a
    transaction: 4 KB of metadata on the counter would make each join cost ~10 WCU instead of 2 and
    cut the admissions one room's partition can take fivefold. Parallel rooms share this one item
    instead of copying it; reads fetch it with the rooms in the same BatchGetItem.
    """

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=FAMILY_METADATA_SK)
    metadata = MapAttribute[str, Any](default=dict)
    # named by the host (rooms.domain.model.may_moderate); read with the rooms, in the same BatchGetItem
    moderators = UnicodeSetAttribute(null=True)


class QuotaItem(Model):
    """What a host holds against their quotas: pk = HOST#<host>, sk = QUOTA.

    A create increments its counter in the same transaction as the write it counts, under the
    condition that the counter is below the limit; the close (or cancel) of a counted room (or show)
    decrements it in the same transaction as it clears the holder's `holds_quota`, so each is given
    back exactly once however many closes race. Written only on creates and closes: never hot.
    """

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=QUOTA_SK)
    open_rooms = NumberAttribute(null=True)
    booked_shows = NumberAttribute(null=True)


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
    # seated by the overflow worker: the seat's ticket is told when the seat expires
    ticketed = BooleanAttribute(null=True)
    shard = NumberAttribute(null=True)  # the room's write shard that counts it (null: 0)
    # the live connection that holds it (docs/live.md); a heartbeat leaves a held seat's lease as it is
    holder = UnicodeAttribute(null=True)
    # when rebalancing last moved it to another room of its family (at most one move per interval)
    moved_at = UTCDateTimeAttribute(null=True)
    group_id = UnicodeAttribute(null=True)  # seated with a group: never moved apart from it
    speaker = BooleanAttribute(null=True)  # on the main room's stage: never moved
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    # gsi2pk = seat_expiry_key(bucket of expires_at, pk), gsi2sk = expiry_sort_key(expires_at, pk)
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_room = SeatsByRoom()
    by_expiry = SeatsByExpiry()


def connection_key(user_id: str) -> str:
    return f"CONN#{user_id}"


class ConnectionItem(Model):
    """An open WebSocket connection: pk = CONN#<user>, sk = <connection id>; `ttl` removes it once it
    cannot be open any more (a lost `$disconnect`)."""

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    connected_at = UTCDateTimeAttribute()
    holds_room = UnicodeAttribute(null=True)
    watches_ticket = UnicodeAttribute(null=True)
    ttl = TTLAttribute()


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
    # set by a rebalancing move (the lifecycle stream's filter passes a ticket with it: user.moved)
    moved_at = UTCDateTimeAttribute(null=True)
    republished = NumberAttribute(default=0)
    group_id = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)
    # the family's tickets in arrival order: gsi1pk = ticket_family_key(...) (a shard), gsi1sk = created_at#ticket_id
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    # only while queued: gsi2pk = due_tickets_key(minute its delivery budget ends, shard), gsi2sk = pk
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_family = TicketsByFamily()
    by_due_time = TicketsByDueTime()


class EventItem(Model):
    """A booked show; gsi1 lists a host's shows by start time."""

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default="EVENT")
    event_id = UnicodeAttribute()
    host_id = UnicodeAttribute()
    title = UnicodeAttribute()
    starts_at = UTCDateTimeAttribute()
    ends_at = UTCDateTimeAttribute()
    timezone = UnicodeAttribute()
    capacity = NumberAttribute()
    expected_audience = NumberAttribute(default=0)
    recurrence = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    room_id = UnicodeAttribute(null=True)
    occurrence = UnicodeAttribute(null=True)
    provisioned_rooms = NumberAttribute(default=0)
    # a booked show counts in its host's quota until it ends or is cancelled (QuotaItem)
    holds_quota = BooleanAttribute(null=True)
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_host = EventsByHost()


class RsvpItem(Model):
    """One per (event, user): its conditional put makes an RSVP count once."""

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class HousekeepingItem(Model):
    """Where a minute sweep stopped: the last bucket fully handed out (expiry) or settled (due tickets),
    and when it was written (for expiry, the last fan-out: rooms.domain.expiry.ExpiryProgress)."""

    class Meta(_TableMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    last_bucket = NumberAttribute()
    updated_at = UTCDateTimeAttribute()
