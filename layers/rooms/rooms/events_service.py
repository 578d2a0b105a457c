"""Scheduled shows: booking them (the API) and running them (the Scheduler's open and close).

Booking writes the event, then its schedules; the Scheduler later invokes the scheduler function with
{"action": "open" | "close", "event_id": ...}. Nothing polls the table for due shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rooms.config import settings
from rooms.domain.errors import EventNotEditable, EventNotFound, InvalidSchedule, NotEventHost, SchedulerUnavailable
from rooms.domain.events import (
    DEFAULT_BOOKING_HORIZON,
    EDITABLE,
    MAX_DURATION,
    Event,
    EventStatus,
    Recurrence,
    ScheduledAction,
    event_room_id,
    new_event_id,
    next_occurrence,
    occurrence_at,
    occurrence_id,
    schedule_name,
    schedules_for,
    to_minute,
    validate_times,
)
from rooms.domain.model import Page, main_room
from rooms.domain.overflow import parallel_rooms_needed
from rooms.ports import EventStore, RoomStore, ShowScheduler, TicketStore
from rooms.service import RoomService, utcnow

logger = logging.getLogger(__name__)
ENDED_REASON = "event_ended"
_LATE_FIRE = timedelta(minutes=5)


@dataclass(frozen=True)
class EventChanges:
    """A PATCH: the fields given, None for the ones left as they are."""

    title: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    capacity: int | None = None
    expected_audience: int | None = None


class ShowRunner:
    """What the Scheduler's invocations do: open a show's rooms at its start, close them at its end."""

    def __init__(
        self,
        *,
        events: EventStore,
        rooms: RoomStore,
        tickets: TicketStore,
        room_service: RoomService,
        max_parallel_rooms: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._events = events
        self._rooms = rooms
        self._tickets = tickets
        self._room_service = room_service
        self._max_parallel = max_parallel_rooms
        self._clock = clock

    def open(self, event_id: str, scheduled_time: datetime | None = None) -> Event | None:
        """Open the occurrence's main room and pre-provision its parallel rooms. Safe to run twice."""
        event = self._event(event_id)
        if event is None or event.status not in EDITABLE:
            return event
        now = self._clock()
        starts, ends = occurrence_at(event, scheduled_time or now)
        if event.status is EventStatus.SCHEDULED and starts < event.starts_at - _LATE_FIRE:
            return event  # a retry of an occurrence that was already closed
        occurrence = occurrence_id(starts, event.timezone)
        room_id = event_room_id(event.event_id, occurrence)
        if event.status is EventStatus.LIVE and event.room_id and event.room_id != room_id:
            self._end_family(event.room_id)  # the previous occurrence's close never came
        main = self._events.create_room_once(
            main_room(
                room_id,
                host_id=event.host_id,
                title=event.title,
                capacity=event.capacity,
                seats_per_shard=settings().seats_per_write_shard,
                created_at=now,
                event_id=event.event_id,
            )
        )
        needed = parallel_rooms_needed(event.expected_audience, event.capacity, self._max_parallel)
        for index in range(main.parallel_count + 1, needed + 1):
            self._rooms.create_parallel_room(main, index, now)
        live = replace(
            event,
            status=EventStatus.LIVE,
            room_id=room_id,
            occurrence=occurrence,
            starts_at=starts,
            ends_at=ends,
            provisioned_rooms=max(needed, event.provisioned_rooms if event.room_id == room_id else 0),
            updated_at=now,
        )
        logger.info("show opened", extra={"event_id": event_id, "room_id": room_id, "parallel_rooms": needed})
        return self._events.save_event(live, event)

    def close(self, event_id: str, scheduled_time: datetime | None = None) -> Event | None:
        """Close every room of the occurrence, free the seats, fail waiting tickets; a recurring show re-arms."""
        event = self._event(event_id)
        if event is None or event.status not in EDITABLE:
            return event
        now = self._clock()
        fired = scheduled_time or now
        if event.status is EventStatus.SCHEDULED and event.starts_at > fired:
            return event  # the occurrence has not started: a stale or early fire
        if event.status is EventStatus.LIVE and event.room_id:
            self._end_family(event.room_id)
        if event.recurrence is None:
            after = replace(event, status=EventStatus.ENDED, updated_at=now)
        else:
            starts, ends = next_occurrence(event, after=max(now, event.starts_at))
            after = replace(event, status=EventStatus.SCHEDULED, starts_at=starts, ends_at=ends, updated_at=now)
        logger.info("show closed", extra={"event_id": event_id, "room_id": event.room_id})
        return self._events.save_event(after, event)

    def end_now(self, event: Event) -> None:
        """End a live show early (its host cancelled it)."""
        if event.status is EventStatus.LIVE and event.room_id:
            self._end_family(event.room_id)

    def _end_family(self, room_id: str) -> None:
        main = self._rooms.get_room(room_id, consistent=True)
        self._room_service.close_unchecked(main)
        now = self._clock()
        # tickets still in the queue are failed by the worker too; these are the ones already indexed
        for ticket in self._tickets.queued_tickets(main.family_id):
            self._tickets.fail_ticket(ticket.ticket_id, ENDED_REASON, now)

    def _event(self, event_id: str) -> Event | None:
        try:
            return self._events.get_event(event_id, consistent=True)
        except EventNotFound:
            logger.warning("scheduled event no longer exists", extra={"event_id": event_id})
            return None


class EventService:
    """The API's use cases: book, read, list, move, cancel a show, and RSVP to it."""

    def __init__(
        self,
        events: EventStore,
        scheduler: ShowScheduler,
        runner: ShowRunner,
        clock: Callable[[], datetime] = utcnow,
        booking_horizon: timedelta = DEFAULT_BOOKING_HORIZON,
    ) -> None:
        self._events = events
        self._scheduler = scheduler
        self._runner = runner
        self._clock = clock
        self._horizon = booking_horizon

    def create(
        self,
        *,
        host_id: str,
        title: str,
        starts_at: datetime,
        ends_at: datetime,
        timezone: str,
        capacity: int,
        expected_audience: int,
        recurrence: Recurrence | None,
    ) -> Event:
        now = self._clock()
        starts, ends = to_minute(starts_at), to_minute(ends_at)
        validate_times(starts, ends, timezone, now, recurrence, horizon=self._horizon)
        event = Event(
            event_id=new_event_id(),
            host_id=host_id,
            title=title,
            starts_at=starts,
            ends_at=ends,
            timezone=timezone,
            capacity=capacity,
            expected_audience=expected_audience,
            recurrence=recurrence,
            status=EventStatus.SCHEDULED,
            created_at=now,
            updated_at=now,
        )
        self._events.put_event(event)
        try:
            self._put_schedules(event, now)
        except SchedulerUnavailable:
            self._delete_schedules(event.event_id, quiet=True)
            self._events.delete_event(event.event_id)
            raise
        return event

    def get(self, event_id: str) -> Event:
        return self._events.get_event(event_id)

    def upcoming(self, host_id: str, limit: int, cursor: str | None) -> Page[Event]:
        """The host's shows not over yet, by start time (a query on gsi1 from a day back: shows last <= 24 h)."""
        now = self._clock()
        return self._events.host_events(host_id, now - MAX_DURATION, now, limit, cursor)

    def update(self, event_id: str, host_id: str, changes: EventChanges) -> Event:
        prior = self._hosted(event_id, host_id, "changed")
        now = self._clock()
        starts = to_minute(changes.starts_at) if changes.starts_at else prior.starts_at
        ends = to_minute(changes.ends_at) if changes.ends_at else prior.ends_at
        live = prior.status is EventStatus.LIVE
        moved = (starts, ends) != (prior.starts_at, prior.ends_at)
        if live and starts != prior.starts_at:
            raise InvalidSchedule("the show has started; only its end can move.", "starts_at")
        if moved:
            validate_times(starts, ends, prior.timezone, now, prior.recurrence, started=live, horizon=self._horizon)
        event = replace(
            prior,
            title=changes.title if changes.title is not None else prior.title,
            starts_at=starts,
            ends_at=ends,
            capacity=changes.capacity if changes.capacity is not None else prior.capacity,
            expected_audience=(
                changes.expected_audience if changes.expected_audience is not None else prior.expected_audience
            ),
            updated_at=now,
        )
        saved = self._events.save_event(event, prior)
        if moved:
            try:
                self._put_schedules(saved, now)
            except SchedulerUnavailable:
                # put the times back so the event matches the schedules that still exist
                self._events.save_event(replace(saved, starts_at=prior.starts_at, ends_at=prior.ends_at), saved)
                raise
        return saved

    def cancel(self, event_id: str, host_id: str) -> Event:
        """Cancel a show: its schedules go, and a live show's rooms close now. Repeating it changes nothing."""
        prior = self._events.get_event(event_id, consistent=True)
        if prior.host_id != host_id:
            raise NotEventHost(event_id)
        if prior.status is EventStatus.CANCELLED:
            return prior
        if prior.status not in EDITABLE:
            raise EventNotEditable(event_id, prior.status.value, "cancelled")
        self._delete_schedules(event_id)
        self._runner.end_now(prior)
        return self._events.save_event(replace(prior, status=EventStatus.CANCELLED, updated_at=self._clock()), prior)

    def rsvp(self, event_id: str, user_id: str) -> tuple[bool, Event]:
        """Count the user once in the expected audience; (counted by this call, the event after)."""
        counted = self._events.rsvp(event_id, user_id, self._clock())
        return counted, self._events.get_event(event_id, consistent=True)

    # ------------------------------------------------------------------ helpers
    def _hosted(self, event_id: str, host_id: str, what: str) -> Event:
        event = self._events.get_event(event_id, consistent=True)
        if event.host_id != host_id:
            raise NotEventHost(event_id)
        if event.status not in EDITABLE:
            raise EventNotEditable(event_id, event.status.value, what)
        return event

    def _put_schedules(self, event: Event, now: datetime) -> None:
        # a live one-time show already opened (its `at()` deleted itself): only its close moves
        actions = (ScheduledAction.CLOSE,) if event.status is EventStatus.LIVE and event.recurrence is None else ()
        try:
            for spec in schedules_for(event, now, actions):
                self._scheduler.put(spec)
        except Exception:
            logger.exception("scheduler call failed", extra={"event_id": event.event_id})
            raise SchedulerUnavailable() from None

    def _delete_schedules(self, event_id: str, *, quiet: bool = False) -> None:
        try:
            for action in (ScheduledAction.OPEN, ScheduledAction.CLOSE):
                self._scheduler.delete(schedule_name(event_id, action))
        except Exception:
            logger.exception("scheduler delete failed", extra={"event_id": event_id})
            if not quiet:
                raise SchedulerUnavailable() from None
