"""Pure schedule arithmetic: expressions, occurrences, recurrence across DST, validation, expiry buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rooms.domain.errors import InvalidSchedule
from rooms.domain.events import (
    Event,
    EventStatus,
    Recurrence,
    ScheduledAction,
    at_expression,
    cron_expression,
    event_room_id,
    next_occurrence,
    occurrence_at,
    occurrence_id,
    schedule_name,
    schedules_for,
    shift_wall_time,
    to_minute,
    validate_times,
)

NOW = datetime(2030, 11, 20, 12, 0, tzinfo=UTC)
PARIS = "Europe/Paris"


def show(recurrence: Recurrence | None = None, starts: str = "2030-11-26T19:00:00+00:00", hours: int = 2) -> Event:
    start = datetime.fromisoformat(starts)
    return Event(
        event_id="e_1",
        host_id="host",
        title="Show",
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        timezone=PARIS,
        capacity=5000,
        expected_audience=12000,
        recurrence=recurrence,
        status=EventStatus.SCHEDULED,
        created_at=NOW,
        updated_at=NOW,
    )


def test_one_time_expressions_are_utc_instants() -> None:
    assert at_expression(datetime.fromisoformat("2030-11-26T20:00:00+01:00")) == "at(2030-11-26T19:00:00)"
    assert at_expression(datetime.fromisoformat("2030-07-01T00:30:00+02:00")) == "at(2030-06-30T22:30:00)"


def test_recurring_expressions_keep_the_local_wall_time() -> None:
    winter = datetime.fromisoformat("2030-11-26T19:00:00+00:00")  # 20:00 in Paris (CET), a Tuesday
    summer = datetime.fromisoformat("2030-07-02T18:00:00+00:00")  # 20:00 in Paris (CEST), a Tuesday
    for when in (winter, summer):
        assert cron_expression(when, PARIS, Recurrence.DAILY) == "cron(0 20 * * ? *)"
        assert cron_expression(when, PARIS, Recurrence.WEEKLY) == "cron(0 20 ? * TUE *)"
    # the weekday is the local one: 23:30 UTC Sunday is Monday 08:30 in Tokyo
    late = datetime.fromisoformat("2030-11-24T23:30:00+00:00")
    assert cron_expression(late, "Asia/Tokyo", Recurrence.WEEKLY) == "cron(30 8 ? * MON *)"


def test_names_and_occurrences_are_deterministic() -> None:
    assert schedule_name("e_1", ScheduledAction.OPEN) == "show-e_1-open"
    assert schedule_name("e_1", ScheduledAction.CLOSE) == "show-e_1-close"
    # an occurrence is its local start date: 23:30 UTC on the 26th is the 27th in Paris
    assert occurrence_id(datetime.fromisoformat("2030-11-26T23:30:00+00:00"), PARIS) == "20301127"
    assert event_room_id("e_1", "20301127") == "e_1_20301127"


def test_a_one_time_show_gets_two_self_deleting_at_schedules() -> None:
    opening, closing = schedules_for(show(), NOW)
    assert (opening.name, opening.expression, opening.timezone) == ("show-e_1-open", "at(2030-11-26T19:00:00)", "UTC")
    assert closing.expression == "at(2030-11-26T21:00:00)"
    assert opening.one_time and closing.one_time and opening.start_date is None
    assert opening.payload == {
        "action": "open",
        "event_id": "e_1",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    assert [spec.name for spec in schedules_for(show(), NOW, (ScheduledAction.CLOSE,))] == ["show-e_1-close"]


def test_a_recurring_show_gets_two_cron_schedules_starting_with_it() -> None:
    opening, closing = schedules_for(show(Recurrence.WEEKLY), NOW)
    assert opening.expression == "cron(0 20 ? * TUE *)" and closing.expression == "cron(0 22 ? * TUE *)"
    assert opening.timezone == closing.timezone == PARIS
    assert not opening.one_time
    assert opening.start_date == datetime(2030, 11, 26, 18, 59, tzinfo=UTC)
    # never a start date in the past (the Scheduler refuses it)
    late = schedules_for(show(Recurrence.DAILY), datetime(2030, 11, 26, 19, 30, 15, tzinfo=UTC))
    assert late[0].start_date == datetime(2030, 11, 26, 19, 30, tzinfo=UTC)


def test_recurrence_keeps_the_wall_time_across_daylight_saving() -> None:
    # Paris leaves summer time on 2030-10-27: 20:00 local is 18:00 UTC before, 19:00 UTC after
    before = datetime(2030, 10, 26, 18, 0, tzinfo=UTC)
    assert shift_wall_time(before, PARIS, 1) == datetime(2030, 10, 27, 19, 0, tzinfo=UTC)
    daily = show(Recurrence.DAILY, starts="2030-10-26T18:00:00+00:00")
    starts, ends = next_occurrence(daily, after=daily.starts_at)
    assert (starts, ends) == (datetime(2030, 10, 27, 19, 0, tzinfo=UTC), datetime(2030, 10, 27, 21, 0, tzinfo=UTC))
    weekly = show(Recurrence.WEEKLY)
    assert next_occurrence(weekly, after=weekly.ends_at)[0] == datetime(2030, 12, 3, 19, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        next_occurrence(show(), after=NOW)


def test_an_open_fire_names_its_occurrence() -> None:
    daily = show(Recurrence.DAILY)
    fired = datetime(2030, 11, 29, 19, 0, tzinfo=UTC)
    assert occurrence_at(daily, fired) == (fired, fired + timedelta(hours=2))
    # a retry that lands after local midnight still belongs to the evening's show
    late_show = show(Recurrence.DAILY, starts="2030-11-26T22:50:00+00:00")  # 23:50 in Paris
    retried = datetime(2030, 11, 29, 23, 10, tzinfo=UTC)  # 00:10 on the 30th in Paris
    assert occurrence_at(late_show, retried)[0] == datetime(2030, 11, 29, 22, 50, tzinfo=UTC)
    # a one-time show has one occurrence, whenever the fire lands
    assert occurrence_at(show(), fired)[0] == show().starts_at


@pytest.mark.parametrize(
    ("starts", "ends", "timezone", "recurrence", "field"),
    [
        ("2030-11-26T20:00:00+00:00", "2030-11-26T19:00:00+00:00", PARIS, None, "ends_at"),
        ("2030-11-26T20:00:00+00:00", "2030-11-26T20:00:00+00:00", PARIS, None, "ends_at"),
        ("2020-11-26T20:00:00+00:00", "2020-11-26T21:00:00+00:00", PARIS, None, "starts_at"),
        ("2030-11-26T20:00:00+00:00", "2030-11-27T20:30:00+00:00", PARIS, None, "ends_at"),
        ("2030-11-26T20:00:00+00:00", "2030-11-27T20:00:00+00:00", PARIS, Recurrence.DAILY, "ends_at"),
        ("2030-11-26T20:00:00+00:00", "2030-11-26T21:00:00+00:00", "Europe/Atlantis", None, "timezone"),
    ],
)
def test_unbookable_times_name_the_field(
    starts: str, ends: str, timezone: str, recurrence: Recurrence | None, field: str
) -> None:
    with pytest.raises(InvalidSchedule) as raised:
        validate_times(datetime.fromisoformat(starts), datetime.fromisoformat(ends), timezone, NOW, recurrence)
    assert raised.value.field == field and raised.value.code == "INVALID_SCHEDULE"


def test_a_started_show_may_only_move_its_end_forward() -> None:
    start = NOW - timedelta(minutes=30)
    validate_times(start, NOW + timedelta(hours=1), PARIS, NOW, started=True)
    with pytest.raises(InvalidSchedule):
        validate_times(start, NOW - timedelta(minutes=1), PARIS, NOW, started=True)


def test_times_are_kept_to_the_minute_in_utc() -> None:
    assert to_minute(datetime.fromisoformat("2030-11-26T20:00:42.5+01:00")) == datetime(2030, 11, 26, 19, tzinfo=UTC)
