"""Shows and housekeeping on the Rooms table: events, RSVPs, expiry buckets, promotion queues.

Everything is found through a key or an index (gsi1: a host's events, a family's tickets;
gsi2: seats by heartbeat expiry, families with parallel rooms); nothing here scans.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from rooms.adapters.cursors import decode_cursor, encode_cursor
from rooms.adapters.dynamo_store import (
    CONDITION_FAILED,
    DynamoRoomStore,
    _codes,
    _with_conflict_retries,
    count_in_quota,
    give_back_quota,
    room_from_item,
    seat_from_item,
    shard_item,
    ticket_from_item,
    update_if,
)
from rooms.adapters.models import (
    ACTIVE_FAMILIES,
    DUE_TICKET_SHARDS,
    SHARD_SK,
    EventItem,
    HousekeepingItem,
    QuotaItem,
    RoomItem,
    RoomShardItem,
    RsvpItem,
    SeatItem,
    TicketItem,
    due_tickets_key,
    event_key,
    expired_by_sort_key,
    expiry_key,
    host_events_key,
    room_key,
    seat_key,
    seats_key,
    shard_key,
    sortable_time,
    ticket_family_key,
    ticket_key,
)
from rooms.adapters.ticket_index import family_tickets, shard_page_size
from rooms.config import settings
from rooms.domain.errors import Contention, EventNotEditable, EventNotFound, QuotaExceeded
from rooms.domain.events import EDITABLE, Event, EventStatus, Recurrence
from rooms.domain.expiry import ExpiryProgress
from rooms.domain.model import Page, Room, RoomStatus, Seat, Ticket, TicketStatus
from rooms.ports import Promotion

_CONDITIONAL = "ConditionalCheckFailedException"
# the last expiry bucket handed out once it ended, and when the minute runs last handed buckets out
_HOUSEKEEPING_KEY = ("HOUSEKEEPING", "EXPIRY")
_DUE_TICKETS_KEY = ("HOUSEKEEPING", "TICKETS_DUE")  # the last due minute whose tickets were all settled
# an events page's start key: these travel in the cursor; sk and gsi1pk come from the request
_EVENT_PAGE_KEY = ("pk", "gsi1sk")
# Event fields a save may change, and the attribute each is stored in.
_MUTABLE = (
    "title",
    "starts_at",
    "ends_at",
    "timezone",
    "capacity",
    "expected_audience",
    "recurrence",
    "status",
    "room_id",
    "occurrence",
    "provisioned_rooms",
)


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


def _stored(value: Any) -> Any:
    return value.value if isinstance(value, Recurrence | EventStatus) else value


class DynamoShowStore(DynamoRoomStore):
    """The RoomStore plus the EventStore and HousekeepingStore ports, sharing one connection."""

    # ----------------------------------------------------------------- events
    def put_event(self, event: Event) -> None:
        """Book a show and count it in its host's quota, in one transaction (QuotaExceeded past the limit)."""
        limit = settings().max_booked_shows_per_host
        item = self._event_item(event)
        item.holds_quota = True

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(item, condition=EventItem.pk.does_not_exist())
                count_in_quota(tx, event.host_id, QuotaItem.booked_shows, limit)

        try:
            _with_conflict_retries(f"host {event.host_id}", attempt)
        except TransactWriteError as error:
            if _codes(error)[1:2] == [CONDITION_FAILED]:  # [event put, quota update]
                raise QuotaExceeded("booked shows", limit) from None
            raise

    def get_event(self, event_id: str, *, consistent: bool = False) -> Event:
        try:
            return event_from_item(EventItem.get(event_key(event_id), "EVENT", consistent_read=consistent))
        except DoesNotExist:
            raise EventNotFound(event_id) from None

    def save_event(self, event: Event, prior: Event) -> Event:
        """Write the fields that differ from `prior`, only if nobody saved the event since it was read.

        RSVPs add to expected_audience without touching updated_at, so they never conflict with a save
        and a save never undoes them (unless it sets expected_audience itself).
        """
        actions: list[Any] = [EventItem.updated_at.set(event.updated_at)]
        for name in _MUTABLE:
            value = getattr(event, name)
            if value != getattr(prior, name):
                attribute = getattr(EventItem, name)
                actions.append(attribute.remove() if value is None else attribute.set(_stored(value)))
        if event.starts_at != prior.starts_at:
            actions.append(EventItem.gsi1sk.set(sortable_time(event.starts_at)))
        item = EventItem(pk=event_key(event.event_id), sk="EVENT")
        if not update_if(item, actions, EventItem.updated_at == prior.updated_at):
            raise Contention(f"event {event.event_id}")
        if item.holds_quota and event.status not in EDITABLE:  # ended or cancelled: no longer booked
            self._give_back_show(item)
        return event_from_item(item)

    def delete_event(self, event_id: str) -> None:
        """Delete a show whose booking failed half-way; its unit of quota goes back with it."""
        item = EventItem(pk=event_key(event_id), sk="EVENT")
        try:
            item.refresh(consistent_read=True)
        except DoesNotExist:
            return
        if item.holds_quota:
            self._give_back_show(item)
        item.delete()

    def _give_back_show(self, item: EventItem) -> None:
        holder = EventItem(pk=item.pk, sk=item.sk)
        give_back_quota(self._connection, holder, EventItem.holds_quota, QuotaItem.booked_shows, item.host_id)

    def rsvp(self, event_id: str, user_id: str, now: datetime) -> bool:
        """Count a user once: the RSVP item's conditional put and the counter move in one transaction."""

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(
                    RsvpItem(pk=event_key(event_id), sk=f"RSVP#{user_id}", user_id=user_id, created_at=now),
                    condition=RsvpItem.pk.does_not_exist(),
                )
                tx.update(
                    EventItem(pk=event_key(event_id), sk="EVENT"),
                    actions=[EventItem.expected_audience.add(1)],
                    condition=EventItem.status.is_in(*[status.value for status in EDITABLE]),
                )

        try:
            _with_conflict_retries(f"event {event_id}", attempt)
        except TransactWriteError as error:
            codes = _codes(error)  # [rsvp put, event update]
            if codes[:1] == [CONDITION_FAILED]:
                return False
            if codes[1:2] == [CONDITION_FAILED]:
                event = self.get_event(event_id, consistent=True)  # EventNotFound if it never existed
                raise EventNotEditable(event_id, event.status.value, "attended") from None
            raise
        return True

    def host_events(
        self, host_id: str, since: datetime, ending_after: datetime, limit: int, cursor: str | None
    ) -> Page[Event]:
        listing, first = f"events/{host_id}", sortable_time(since)
        start = decode_cursor(listing, cursor, _EVENT_PAGE_KEY, {"sk": "EVENT", "gsi1pk": host_events_key(host_id)})
        if start is not None and start["gsi1sk"]["S"] < first:
            start = None  # `since` moved past the cursor (an old one): DynamoDB refuses a start key out of range
        results = EventItem.by_host.query(
            host_events_key(host_id),
            EventItem.gsi1sk >= first,
            filter_condition=(EventItem.ends_at > ending_after)
            & EventItem.status.is_in(*[status.value for status in EDITABLE]),
            limit=limit,
            last_evaluated_key=start,
        )
        events = [event_from_item(item) for item in results]
        return Page(items=events, next_cursor=encode_cursor(listing, results.last_evaluated_key, _EVENT_PAGE_KEY))

    def create_room_once(self, room: Room) -> Room:
        """Create a room with a deterministic id, or return the one a previous attempt created."""

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                self.save_room(tx, room)

        try:
            _with_conflict_retries(f"room {room.room_id}", attempt)
        except TransactWriteError as error:
            if CONDITION_FAILED not in _codes(error):
                raise
            return self.get_room(room.room_id, consistent=True)
        return room

    def queued_tickets(self, family_id: str) -> Iterator[Ticket]:
        """The family's queued tickets, both queues' shards merged in arrival order."""
        queued = TicketItem.status == TicketStatus.QUEUED.value
        for item in family_tickets(family_id, promote=(False, True), filter_condition=queued):
            yield ticket_from_item(item)

    # ----------------------------------------------------------- housekeeping
    def expiry_progress(self) -> ExpiryProgress | None:
        try:
            item = HousekeepingItem.get(*_HOUSEKEEPING_KEY, consistent_read=True)
        except DoesNotExist:
            return None
        return ExpiryProgress(int(item.last_bucket), item.updated_at)

    def record_expiry_progress(self, done: int, now: datetime) -> None:
        item = HousekeepingItem(*_HOUSEKEEPING_KEY, last_bucket=done, updated_at=now)
        try:  # never move it back: two overlapping runs agree on the furthest point (the same: a fan-out time)
            item.save(condition=HousekeepingItem.pk.does_not_exist() | (HousekeepingItem.last_bucket <= done))
        except PutError as error:
            if error.cause_response_code != _CONDITIONAL:
                raise

    def seats_expiring(self, bucket: int, shard: int, by: datetime) -> Iterator[Seat]:
        """Seats indexed in one shard of an expiry bucket with a lease ending by `by`, read again
        consistently: the index is KEYS_ONLY and lags a heartbeat that has just moved a seat on."""
        entries = SeatItem.by_expiry.query(expiry_key(bucket, shard), SeatItem.gsi2sk <= expired_by_sort_key(by))
        keys = [(entry.pk, entry.sk) for entry in entries]
        for item in SeatItem.batch_get(keys, consistent_read=True):
            yield seat_from_item(item)

    def last_due_bucket(self) -> int | None:
        try:
            return int(HousekeepingItem.get(*_DUE_TICKETS_KEY, consistent_read=True).last_bucket)
        except DoesNotExist:
            return None

    def set_last_due_bucket(self, bucket: int, now: datetime) -> None:
        item = HousekeepingItem(*_DUE_TICKETS_KEY, last_bucket=bucket, updated_at=now)
        try:  # never move it back, as for the expiry buckets
            item.save(condition=HousekeepingItem.pk.does_not_exist() | (HousekeepingItem.last_bucket < bucket))
        except PutError as error:
            if error.cause_response_code != _CONDITIONAL:
                raise

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

    def families_with_overflow(self) -> list[str]:
        prefix = room_key("")
        return [item.pk[len(prefix) :] for item in RoomItem.with_overflow.query(ACTIVE_FAMILIES)]

    def retire_family(self, family_id: str) -> None:
        RoomItem(pk=room_key(family_id), sk="ROOM").update(actions=[RoomItem.gsi2pk.remove(), RoomItem.gsi2sk.remove()])

    def empty_since(self, room_ids: Sequence[str]) -> dict[str, datetime | None]:
        keys = [(room_key(room_id), "ROOM") for room_id in room_ids]
        return {item.room_id: item.empty_since for item in RoomItem.batch_get(keys, consistent_read=True)}

    def mark_empty(self, room_id: str, now: datetime) -> None:
        self._conditional_room_update(
            room_id,
            [RoomItem.empty_since.set(now)],
            (RoomItem.occupancy == 0)
            & (RoomItem.status == RoomStatus.OPEN.value)
            & RoomItem.empty_since.does_not_exist(),
        )

    def clear_empty(self, room_id: str) -> None:
        self._conditional_room_update(room_id, [RoomItem.empty_since.remove()], RoomItem.empty_since.exists())

    def close_if_empty(self, room_id: str, since: datetime) -> bool:
        """Close a parallel room only if it is still empty and has been since `since` (nobody came back).

        All its write shards close in the same transaction, each only while it counts nobody.
        """
        shards = self.get_room(room_id, consistent=True).shards

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    RoomItem(pk=room_key(room_id), sk="ROOM"),
                    actions=[RoomItem.status.set(RoomStatus.CLOSED.value), RoomItem.empty_since.remove()],
                    condition=(RoomItem.occupancy == 0)
                    & (RoomItem.status == RoomStatus.OPEN.value)
                    & (RoomItem.empty_since == since),
                )
                for shard in range(1, shards):
                    tx.update(
                        RoomShardItem(pk=shard_key(room_id, shard), sk=SHARD_SK),
                        actions=[RoomShardItem.status.set(RoomStatus.CLOSED.value)],
                        condition=RoomShardItem.occupancy == 0,
                    )

        try:
            _with_conflict_retries(f"room {room_id}", attempt)
        except TransactWriteError as error:
            if CONDITION_FAILED in _codes(error):
                return False
            raise
        return True

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

    def promote(self, ticket: Ticket, main_room_id: str, now: datetime) -> Promotion:
        """Move a user from their parallel room to the main room in one transaction (I1 and I2 hold throughout).

        The seat item keeps its key (family, user); its room and write shard change, its parallel room's
        shard goes down by one and a main room shard with a free seat up by one, only while it is open
        with that seat free.
        """
        from_room = ticket.room_id
        seat = self.get_seat(ticket.family_id, ticket.user_id)
        if from_room is None or seat is None or seat.room_id != from_room:
            return Promotion.GONE
        main = self.get_room(main_room_id, consistent=True)
        free = [k for k, (occupancy, capacity) in enumerate(self.shard_occupancies(main)) if occupancy < capacity]
        if main.status is not RoomStatus.OPEN or not free:
            return Promotion.MAIN_FULL
        to_shard = random.choice(free)

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(
                    SeatItem(pk=seat_key(ticket.family_id, ticket.user_id), sk="SEAT"),
                    actions=[
                        SeatItem.room_id.set(main_room_id),
                        SeatItem.shard.set(to_shard),
                        SeatItem.gsi1pk.set(seats_key(main_room_id, to_shard)),
                    ],
                    condition=(SeatItem.room_id == from_room) & (SeatItem.gsi1pk == seats_key(from_room, seat.shard)),
                )
                tx.update(
                    shard_item(from_room, seat.shard),
                    actions=[RoomItem.occupancy.add(-1)],
                    condition=RoomItem.occupancy > 0,
                )
                tx.update(
                    shard_item(main_room_id, to_shard),
                    actions=[RoomItem.occupancy.add(1)],
                    condition=(RoomItem.status == RoomStatus.OPEN.value)
                    & (RoomItem.occupancy < RoomItem.shard_capacity),
                )
                tx.update(
                    TicketItem(pk=ticket_key(ticket.ticket_id), sk="TICKET"),
                    actions=[
                        TicketItem.room_id.set(main_room_id),
                        TicketItem.updated_at.set(now),
                        TicketItem.gsi1pk.set(ticket_family_key(ticket.ticket_id, ticket.family_id, promote=False)),
                    ],
                    condition=(TicketItem.status == TicketStatus.SEATED.value) & (TicketItem.room_id == from_room),
                )

        try:
            _with_conflict_retries(f"room family {ticket.family_id}", attempt)
        except TransactWriteError as error:
            codes = _codes(error)  # [seat, parallel room shard, main room shard, ticket]
            if len(codes) < 4 or CONDITION_FAILED not in codes:
                raise
            if codes[2] == CONDITION_FAILED:
                return Promotion.MAIN_FULL
            if codes[0] == CONDITION_FAILED or codes[3] == CONDITION_FAILED:
                return Promotion.GONE
            raise
        return Promotion.PROMOTED

    def drop_promotion(self, ticket: Ticket) -> None:
        """Take a ticket out of the promotion queue (its user left or moved)."""
        TicketItem(pk=ticket_key(ticket.ticket_id), sk="TICKET").update(
            actions=[TicketItem.gsi1pk.set(ticket_family_key(ticket.ticket_id, ticket.family_id, promote=False))]
        )

    # ---------------------------------------------------------------- mapping
    def _conditional_room_update(self, room_id: str, actions: list[Any], condition: Any) -> bool:
        return update_if(RoomItem(pk=room_key(room_id), sk="ROOM"), actions, condition)

    def _event_item(self, event: Event) -> EventItem:
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
            recurrence=_stored(event.recurrence),
            status=event.status.value,
            created_at=event.created_at,
            updated_at=event.updated_at,
            room_id=event.room_id,
            occurrence=event.occurrence,
            provisioned_rooms=event.provisioned_rooms,
            gsi1pk=host_events_key(event.host_id),
            gsi1sk=sortable_time(event.starts_at),
        )


__all__ = ["DynamoShowStore", "event_from_item", "room_from_item"]
