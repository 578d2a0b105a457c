"""Scheduled shows: their times, occurrences, room identities and the schedules that open and close them.

Pure: the Scheduler adapter turns a `ScheduleSpec` into API calls; nothing here talks to AWS.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rooms.domain.errors import InvalidSchedule

# The fields of an event a save may change: the rest (its id, host, creation) stay as first written.
MUTABLE_EVENT_FIELDS = (
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

# A show lasts at most a day: a daily show never overlaps its next occurrence, and "upcoming"
# events are found by querying start times from a day ago on.
MAX_DURATION = timedelta(hours=24)
# How far ahead a show may be booked unless configured otherwise (ROOMS_MAX_BOOKING_DAYS_AHEAD).
DEFAULT_BOOKING_HORIZON = timedelta(days=366)
# Cron schedules fire on whole minutes; a show's start and end are kept to the minute.
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its (next) start
    LIVE = "live"  # its rooms are open
    ENDED = "ended"  # a one-time show that is over
    CANCELLED = "cancelled"


class Recurrence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class ScheduledAction(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    HOUSEKEEPING = "housekeeping"


EDITABLE = frozenset({EventStatus.SCHEDULED, EventStatus.LIVE})


@dataclass(frozen=True)
class Event:
    event_id: str
    host_id: str
    title: str
    starts_at: datetime  # of the next (or current) occurrence
    ends_at: datetime
    timezone: str
    capacity: int
    expected_audience: int
    recurrence: Recurrence | None
    status: EventStatus
    created_at: datetime
    updated_at: datetime
    room_id: str | None = None  # main room of the current (or last) occurrence's family
    occurrence: str | None = None
    provisioned_rooms: int = 0  # parallel rooms pre-provisioned for the current occurrence

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ScheduleSpec:
    """One EventBridge Scheduler schedule: a one-time `at()` or a recurring `cron()`."""

    name: str
    expression: str
    timezone: str
    payload: dict[str, Any]
    start_date: datetime | None = None  # recurring only: no firing before the first occurrence
    one_time: bool = True


def new_event_id() -> str:
    return "e_" + secrets.token_hex(8)


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone, or InvalidSchedule naming the field."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"timezone {name!r} is not an IANA time zone name.", "timezone") from None


def occurrence_id(starts_at: datetime, timezone: str) -> str:
    """An occurrence is named by its local start date in the show's zone: one family per date."""
    return starts_at.astimezone(ZoneInfo(timezone)).strftime("%Y%m%d")


def event_room_id(event_id: str, occurrence: str) -> str:
    """The main room of one occurrence: deterministic, so a retried `open` finds the room it made."""
    return f"{event_id}_{occurrence}"


def schedule_name(event_id: str, action: ScheduledAction) -> str:
    return f"show-{event_id}-{action.value}"


def at_expression(when: datetime) -> str:
    """One-time expression, in UTC: a local wall time can be ambiguous on the night clocks go back."""
    return f"at({when.astimezone(UTC):%Y-%m-%dT%H:%M:%S})"


def cron_expression(when: datetime, timezone: str, recurrence: Recurrence) -> str:
    """Recurring expression in the show's zone, so a 20:00 show stays at 20:00 across DST."""
    local = when.astimezone(ZoneInfo(timezone))
    if recurrence is Recurrence.DAILY:
        return f"cron({local.minute} {local.hour} * * ? *)"
    return f"cron({local.minute} {local.hour} ? * {_WEEKDAYS[local.weekday()]} *)"


def payload(action: ScheduledAction, event_id: str) -> dict[str, Any]:
    # the Scheduler substitutes its context attribute, so a recurring fire names its own occurrence
    return {"action": action.value, "event_id": event_id, "scheduled_time": "<aws.scheduler.scheduled-time>"}


def schedules_for(event: Event, now: datetime, actions: tuple[ScheduledAction, ...] = ()) -> list[ScheduleSpec]:
    """The open and close schedules of a show: two `at()` for a one-time show, two `cron()` otherwise.

    `actions` narrows the list (a live one-time show only moves its close). A recurring schedule starts
    a minute before its first fire, never in the past (the Scheduler refuses older start dates).
    """
    specs = []
    for action, when in ((ScheduledAction.OPEN, event.starts_at), (ScheduledAction.CLOSE, event.ends_at)):
        if actions and action not in actions:
            continue
        name = schedule_name(event.event_id, action)
        if event.recurrence is None:
            specs.append(ScheduleSpec(name, at_expression(when), "UTC", payload(action, event.event_id)))
        else:
            specs.append(
                ScheduleSpec(
                    name,
                    cron_expression(when, event.timezone, event.recurrence),
                    event.timezone,
                    payload(action, event.event_id),
                    start_date=max(when - timedelta(minutes=1), to_minute(now)),
                    one_time=False,
                )
            )
    return specs


def validate_times(
    starts_at: datetime,
    ends_at: datetime,
    timezone: str,
    now: datetime,
    recurrence: Recurrence | None = None,
    *,
    started: bool = False,
    horizon: timedelta = DEFAULT_BOOKING_HORIZON,
) -> None:
    """Raise InvalidSchedule unless the show starts in the future, within `horizon`, and lasts a minute to a day.

    A show that has `started` may only move its end, and not into the past.
    """
    zone_of(timezone)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidSchedule("starts_at and ends_at need a UTC offset, e.g. 2026-11-26T20:00:00+01:00.", "starts_at")
    if not started and starts_at <= now:
        raise InvalidSchedule("starts_at is in the past; a show can only be booked ahead.", "starts_at")
    if not started and starts_at > now + horizon:
        raise InvalidSchedule(
            f"starts_at is too far ahead; a show can be booked at most {horizon.days} days ahead.", "starts_at"
        )
    if started and ends_at <= now:
        raise InvalidSchedule("ends_at is in the past; end the show with DELETE instead.", "ends_at")
    if ends_at <= starts_at:
        raise InvalidSchedule("ends_at must be after starts_at.", "ends_at")
    if ends_at - starts_at < timedelta(minutes=1):
        raise InvalidSchedule("a show lasts at least a minute.", "ends_at")
    if ends_at - starts_at > MAX_DURATION:
        raise InvalidSchedule("a show lasts at most 24 hours.", "ends_at")
    if recurrence is Recurrence.DAILY and ends_at - starts_at >= MAX_DURATION:
        raise InvalidSchedule("a daily show must end before its next occurrence starts.", "ends_at")


def to_minute(when: datetime) -> datetime:
    """Schedules fire on whole minutes; shows are stored that way (in UTC) so what fires matches what is shown."""
    when = when.replace(second=0, microsecond=0)
    return when if when.tzinfo is None else when.astimezone(UTC)


def shift_wall_time(when: datetime, timezone: str, days: int) -> datetime:
    """`when` moved by whole days at the same local wall time (20:00 stays 20:00 across DST), in UTC."""
    zone = ZoneInfo(timezone)
    local = when.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    return local.replace(tzinfo=zone).astimezone(UTC)


def step_days(recurrence: Recurrence) -> int:
    return 1 if recurrence is Recurrence.DAILY else 7


def next_occurrence(event: Event, after: datetime) -> tuple[datetime, datetime]:
    """Start and end of the first occurrence of a recurring show that starts after `after`."""
    if event.recurrence is None:
        raise ValueError("a one-time show has no next occurrence")
    days = step_days(event.recurrence)
    starts, ends = event.starts_at, event.ends_at
    for _ in range(10_000):
        if starts > after:
            return starts, ends
        starts = shift_wall_time(starts, event.timezone, days)
        ends = shift_wall_time(ends, event.timezone, days)
    raise ValueError("no next occurrence found")


def occurrence_at(event: Event, fired_at: datetime) -> tuple[datetime, datetime]:
    """The occurrence an `open` scheduled for `fired_at` belongs to: the booked wall time on the fire's date."""
    if event.recurrence is None:
        return event.starts_at, event.ends_at
    zone = event.zone
    booked = event.starts_at.astimezone(zone)
    fired = fired_at.astimezone(zone)
    starts = fired.replace(hour=booked.hour, minute=booked.minute, second=0, microsecond=0, tzinfo=None)
    start = starts.replace(tzinfo=zone).astimezone(UTC)
    if start > fired_at + timedelta(minutes=5):  # fired late, after local midnight: the previous day's show
        start = shift_wall_time(start, event.timezone, -1)
    return start, start + event.duration
