"""Booked shows on DynamoDB (the EventStore port): events, their RSVPs, the host's quota of booked
shows, and the one room a show's occurrence opens.

A host's events are found through gsi1 (HOST#<host>, by start time); nothing here scans.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from rooms.adapters.cursors import decode_cursor, encode_cursor
from rooms.adapters.dynamo import (
    CONDITION_FAILED,
    cancellation_codes,
    count_in_quota,
    give_back_quota,
    new_connection,
    update_if,
    with_conflict_retries,
)
from rooms.adapters.mapping import event_from_item, event_item, stored
from rooms.adapters.models import EventItem, QuotaItem, RsvpItem, event_key, host_events_key, sortable_time
from rooms.adapters.overload import overload_is_busy
from rooms.adapters.room_items import get_room, save_room
from rooms.config import settings
from rooms.domain.errors import Contention, EventNotEditable, EventNotFound, QuotaExceeded
from rooms.domain.events import EDITABLE, MUTABLE_EVENT_FIELDS, Event
from rooms.domain.model import Page, Room

# an events page's start key: these travel in the cursor; sk and gsi1pk come from the request
_EVENT_PAGE_KEY = ("pk", "gsi1sk")


@overload_is_busy
class DynamoEventStore:
    def __init__(self, connection: Connection | None = None) -> None:
        self._connection = connection or new_connection()

    def put_event(self, event: Event) -> None:
        """Book a show and count it in its host's quota, in one transaction (QuotaExceeded past the limit)."""
        limit = settings().max_booked_shows_per_host
        item = event_item(event)
        item.holds_quota = True

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(item, condition=EventItem.pk.does_not_exist())
                count_in_quota(tx, event.host_id, QuotaItem.booked_shows, limit)

        try:
            with_conflict_retries(f"host {event.host_id}", attempt)
        except TransactWriteError as error:
            if cancellation_codes(error)[1:2] == [CONDITION_FAILED]:  # [event put, quota update]
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
        for name in MUTABLE_EVENT_FIELDS:
            value = getattr(event, name)
            if value != getattr(prior, name):
                attribute = getattr(EventItem, name)
                actions.append(attribute.remove() if value is None else attribute.set(stored(value)))
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
            with_conflict_retries(f"event {event_id}", attempt)
        except TransactWriteError as error:
            codes = cancellation_codes(error)  # [rsvp put, event update]
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
        """Create a show occurrence's main room with its deterministic id, or return the one a previous
        attempt created. Not counted in the host's quota: the booked show is."""

        def attempt() -> None:
            with TransactWrite(connection=self._connection) as tx:
                save_room(tx, room)

        try:
            with_conflict_retries(f"room {room.room_id}", attempt)
        except TransactWriteError as error:
            if CONDITION_FAILED not in cancellation_codes(error):
                raise
            return get_room(self._connection, room.room_id, consistent=True)
        return room
