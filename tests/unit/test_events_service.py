"""Scheduled shows on the in-memory fakes: booking, moving, cancelling and RSVPs (EventService), and the
Scheduler's open and close (ShowRunner), each branch including a failing Scheduler and a concurrent save.
No AWS, no socket: milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rooms.domain.errors import (
    Contention,
    EventNotEditable,
    EventNotFound,
    InvalidSchedule,
    NotEventHost,
    QuotaExceeded,
    SchedulerUnavailable,
)
from rooms.domain.events import Event, EventStatus, Recurrence, ScheduledAction, event_room_id, schedule_name
from rooms.domain.model import RoomStatus, Ticket, TicketStatus, parallel_room_id, ticket_id_for
from rooms.events_service import EventChanges, EventService, ShowRunner
from tests.unit.fakes import START, Fakes

STARTS = START + timedelta(days=1)  # 2026-11-27 20:00 UTC
ENDS = STARTS + timedelta(hours=2)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def service(fakes: Fakes) -> EventService:
    return fakes.event_service()


@pytest.fixture
def runner(fakes: Fakes) -> ShowRunner:
    return fakes.show_runner()


def book(service: EventService, *, recurrence: Recurrence | None = None, host: str = "host") -> Event:
    return service.create(
        host_id=host,
        title="Good Time Show",
        starts_at=STARTS,
        ends_at=ENDS,
        timezone="Europe/Paris",
        capacity=5000,
        expected_audience=12000,
        recurrence=recurrence,
    )


def names(event: Event) -> set[str]:
    return {schedule_name(event.event_id, action) for action in (ScheduledAction.OPEN, ScheduledAction.CLOSE)}


# ------------------------------------------------------------------ booking
def test_booking_a_show_writes_it_and_its_two_schedules(fakes: Fakes, service: EventService) -> None:
    event = book(service)
    assert service.get(event.event_id) == event and event.status is EventStatus.SCHEDULED
    assert set(fakes.scheduler.schedules) == names(event)
    assert fakes.table.quotas[("host", "booked_shows")] == 1
    assert service.upcoming("host", 10, None).items == [event]


def test_a_booking_the_scheduler_refuses_leaves_nothing_behind(fakes: Fakes, service: EventService) -> None:
    fakes.scheduler.broken = True
    with pytest.raises(SchedulerUnavailable):
        book(service)
    assert fakes.table.events == {} and fakes.table.quotas[("host", "booked_shows")] == 0


def test_a_booking_in_the_past_is_refused_before_anything_is_written(fakes: Fakes, service: EventService) -> None:
    with pytest.raises(InvalidSchedule):
        service.create(
            host_id="host",
            title="t",
            starts_at=START - timedelta(hours=1),
            ends_at=START,
            timezone="UTC",
            capacity=10,
            expected_audience=0,
            recurrence=None,
        )
    assert fakes.table.count("put_event") == 0


def test_a_host_books_at_most_the_quota(fakes: Fakes, service: EventService) -> None:
    for _ in range(50):
        book(service)
    with pytest.raises(QuotaExceeded):
        book(service)
    assert len(fakes.table.events) == 50


def test_upcoming_shows_come_in_pages_and_leave_out_the_cancelled(service: EventService) -> None:
    events = [book(service) for _ in range(5)]
    service.cancel(events[1].event_id, "host")
    seen, cursor = [], None
    while True:
        page = service.upcoming("host", 2, cursor)
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert {event.event_id for event in seen} == {e.event_id for e in events} - {events[1].event_id}


# ------------------------------------------------------------------ moving
def test_moving_a_show_moves_its_schedules(fakes: Fakes, service: EventService) -> None:
    event = book(service)
    moved = service.update(
        event.event_id, "host", EventChanges(starts_at=STARTS + timedelta(hours=1), ends_at=ENDS + timedelta(hours=1))
    )
    assert moved.starts_at == STARTS + timedelta(hours=1)
    open_spec = fakes.scheduler.schedules[schedule_name(event.event_id, ScheduledAction.OPEN)]
    assert open_spec.expression == "at(2026-11-27T21:00:00)"


def test_a_title_change_touches_no_schedule(fakes: Fakes, service: EventService) -> None:
    event = book(service)
    fakes.scheduler.broken = True  # untouched: the title is all that changes
    assert service.update(event.event_id, "host", EventChanges(title="New")).title == "New"


def test_a_move_the_scheduler_refuses_puts_the_times_back(fakes: Fakes, service: EventService) -> None:
    event = book(service)
    fakes.scheduler.broken = True
    with pytest.raises(SchedulerUnavailable):
        service.update(event.event_id, "host", EventChanges(ends_at=ENDS + timedelta(hours=1)))
    assert (service.get(event.event_id).starts_at, service.get(event.event_id).ends_at) == (STARTS, ENDS)


def test_only_the_host_moves_a_show_and_only_while_it_is_editable(fakes: Fakes, service: EventService) -> None:
    event = book(service)
    with pytest.raises(NotEventHost):
        service.update(event.event_id, "someone", EventChanges(title="x"))
    service.cancel(event.event_id, "host")
    with pytest.raises(EventNotEditable):
        service.update(event.event_id, "host", EventChanges(title="x"))
    with pytest.raises(EventNotFound):
        service.update("e_nope", "host", EventChanges(title="x"))


def test_a_live_show_moves_its_end_only(fakes: Fakes, service: EventService, runner: ShowRunner) -> None:
    event = book(service)
    fakes.clock.now = STARTS
    runner.open(event.event_id)
    with pytest.raises(InvalidSchedule):
        service.update(event.event_id, "host", EventChanges(starts_at=STARTS + timedelta(minutes=5)))
    fakes.scheduler.schedules.clear()
    service.update(event.event_id, "host", EventChanges(ends_at=ENDS + timedelta(hours=1)))
    assert set(fakes.scheduler.schedules) == {schedule_name(event.event_id, ScheduledAction.CLOSE)}


def test_a_save_that_lost_to_a_concurrent_one_is_contention(fakes: Fakes, service: EventService) -> None:
    event = book(service)

    def another_save() -> None:
        fakes.clock.advance(timedelta(milliseconds=1))  # saves are told apart by their updated_at
        fakes.event_service().update(event.event_id, "host", EventChanges(title="A"))

    fakes.table.before("save_event", another_save)
    with pytest.raises(Contention):
        service.update(event.event_id, "host", EventChanges(title="B"))
    assert service.get(event.event_id).title == "A"


def test_an_rsvp_during_a_move_is_kept(fakes: Fakes, service: EventService) -> None:
    event = book(service)
    fakes.table.before("save_event", lambda: fakes.events.rsvp(event.event_id, "fan", fakes.clock()))
    service.update(event.event_id, "host", EventChanges(title="B"))
    assert service.get(event.event_id).expected_audience == 12001


# ------------------------------------------------------------------ cancelling, RSVPs
def test_cancelling_deletes_the_schedules_gives_the_quota_back_and_is_repeatable(
    fakes: Fakes, service: EventService
) -> None:
    event = book(service)
    cancelled = service.cancel(event.event_id, "host")
    assert cancelled.status is EventStatus.CANCELLED and fakes.scheduler.schedules == {}
    assert service.cancel(event.event_id, "host") == cancelled
    assert fakes.table.quotas[("host", "booked_shows")] == 0
    with pytest.raises(NotEventHost):
        service.cancel(event.event_id, "someone")


def test_a_cancel_the_scheduler_refuses_changes_nothing(fakes: Fakes, service: EventService) -> None:
    event = book(service)
    fakes.scheduler.broken_deletes = True
    with pytest.raises(SchedulerUnavailable):
        service.cancel(event.event_id, "host")
    assert service.get(event.event_id).status is EventStatus.SCHEDULED


def test_cancelling_a_live_show_closes_its_family(fakes: Fakes, service: EventService, runner: ShowRunner) -> None:
    event = book(service)
    fakes.clock.now = STARTS
    live = runner.open(event.event_id)
    assert live is not None and live.room_id
    fakes.seat(live.room_id, "listener")
    service.cancel(event.event_id, "host")
    assert fakes.table.room(live.room_id).status is RoomStatus.CLOSED and fakes.seated() == set()


def test_an_ended_show_cannot_be_cancelled(fakes: Fakes, service: EventService, runner: ShowRunner) -> None:
    event = book(service)
    fakes.clock.now = ENDS
    runner.close(event.event_id)
    with pytest.raises(EventNotEditable):
        service.cancel(event.event_id, "host")


def test_an_rsvp_counts_a_user_once_and_only_while_the_show_is_on(fakes: Fakes, service: EventService) -> None:
    event = book(service)
    assert service.rsvp(event.event_id, "fan") == (True, service.get(event.event_id))
    counted, after = service.rsvp(event.event_id, "fan")
    assert not counted and after.expected_audience == 12001
    service.cancel(event.event_id, "host")
    with pytest.raises(EventNotEditable):
        service.rsvp(event.event_id, "late fan")
    with pytest.raises(EventNotFound):
        service.rsvp("e_nope", "fan")


# ------------------------------------------------------------------ the Scheduler's open and close
def test_open_opens_the_main_room_and_pre_provisions_the_audience_and_twice_is_once(
    fakes: Fakes, service: EventService, runner: ShowRunner
) -> None:
    event = book(service)
    fakes.clock.now = STARTS
    live = runner.open(event.event_id)
    assert live is not None and live.status is EventStatus.LIVE and live.provisioned_rooms == 2
    room_id = event_room_id(event.event_id, "20261127")
    assert live.room_id == room_id and fakes.table.room(room_id).parallel_count == 2
    assert fakes.table.room(parallel_room_id(room_id, 2)).event_id == event.event_id
    again = runner.open(event.event_id)  # the Scheduler retries
    assert again is not None and again.room_id == room_id and len(fakes.table.rooms) == 3


def test_open_of_a_missing_or_finished_show_does_nothing(
    fakes: Fakes, service: EventService, runner: ShowRunner
) -> None:
    assert runner.open("e_nope") is None and runner.close("e_nope") is None
    event = book(service)
    cancelled = service.cancel(event.event_id, "host")
    assert runner.open(event.event_id) == cancelled and fakes.table.rooms == {}


def test_a_late_retry_of_an_occurrence_already_closed_opens_nothing(
    fakes: Fakes, service: EventService, runner: ShowRunner
) -> None:
    event = book(service, recurrence=Recurrence.DAILY)
    fakes.clock.now = STARTS
    runner.open(event.event_id, STARTS)
    fakes.clock.now = ENDS
    closed = runner.close(event.event_id, ENDS)
    assert closed is not None and closed.starts_at == STARTS + timedelta(days=1)  # re-armed for tomorrow
    rooms = len(fakes.table.rooms)
    assert runner.open(event.event_id, STARTS) == closed and len(fakes.table.rooms) == rooms


def test_close_frees_the_family_and_fails_the_tickets_still_queued(
    fakes: Fakes, service: EventService, runner: ShowRunner
) -> None:
    event = book(service)
    fakes.clock.now = STARTS
    live = runner.open(event.event_id)
    assert live is not None and live.room_id
    fakes.seat(parallel_room_id(live.room_id, 1), "listener", ticketed=True)
    waiting = ticket_id_for(live.room_id, "waiting")
    fakes.put_ticket(Ticket(waiting, live.room_id, "waiting", TicketStatus.QUEUED, live.room_id, STARTS, STARTS))
    fakes.clock.now = ENDS
    ended = runner.close(event.event_id)
    assert ended is not None and ended.status is EventStatus.ENDED
    assert fakes.seated() == set() and {r.shard_status[0] for r in fakes.table.rooms.values()} == {RoomStatus.CLOSED}
    assert (fakes.ticket(waiting).status, fakes.ticket(waiting).reason) == (TicketStatus.FAILED, "event_ended")
    assert fakes.table.quotas[("host", "booked_shows")] == 0


def test_an_early_close_of_a_show_not_started_does_nothing(
    fakes: Fakes, service: EventService, runner: ShowRunner
) -> None:
    event = book(service)
    assert runner.close(event.event_id, STARTS - timedelta(hours=1)) == event


def test_an_open_whose_previous_close_never_came_ends_that_family_first(
    fakes: Fakes, service: EventService, runner: ShowRunner
) -> None:
    event = book(service, recurrence=Recurrence.DAILY)
    fakes.clock.now = STARTS
    first = runner.open(event.event_id, STARTS)
    assert first is not None and first.room_id
    fakes.seat(first.room_id, "yesterday")
    tomorrow = STARTS + timedelta(days=1)
    fakes.clock.now = tomorrow
    second = runner.open(event.event_id, tomorrow)
    assert second is not None and second.room_id != first.room_id
    assert fakes.table.room(first.room_id).status is RoomStatus.CLOSED and fakes.seated() == set()
    assert second.starts_at == datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
