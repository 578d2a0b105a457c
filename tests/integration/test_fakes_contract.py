"""The unit tests' fakes keep the DynamoDB stores' contracts: the same calls, through the ports only, on
the fakes and on the Dynamo stores (moto), answer the same (the same seat, the same False or None, the
same domain error). What the use-case tests in tests/unit prove on the fakes then holds on the table."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from rooms.domain.errors import (
    Contention,
    EventNotEditable,
    GroupClosed,
    GroupMemberElsewhere,
    GroupNotFound,
    RoomClosed,
    RoomFull,
    RoomNotFound,
)
from rooms.domain.events import Event, EventStatus
from rooms.domain.groups import MAX_GROUP_MEMBERS, new_group
from rooms.domain.live import Connection
from rooms.domain.model import Room, RoomStatus, Ticket, TicketStatus, parallel_room_id, ticket_id_for
from rooms.ports import (
    ConnectionStore,
    EventStore,
    ExpiryStore,
    GroupStore,
    HousekeepingStore,
    OverflowRequest,
    Promotion,
    RoomStore,
    SeatHolds,
    TicketStore,
)
from tests.unit.fakes import Fakes, main_room

NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)


@dataclass
class Stores:
    rooms: RoomStore
    tickets: TicketStore
    records: HousekeepingStore
    events: EventStore
    connections: ConnectionStore
    holds: SeatHolds
    expiry: ExpiryStore
    groups: GroupStore


@pytest.fixture(params=["fakes", "dynamo"])
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    from rooms.config import settings

    if request.param == "fakes":
        budget = timedelta(seconds=settings().overflow_delivery_budget_seconds)
        fakes = Fakes(budget=budget, interval_seconds=settings().heartbeat_interval_seconds)
        yield Stores(
            fakes.rooms,
            fakes.tickets,
            fakes.records,
            fakes.events,
            fakes.connections,
            fakes.rooms,
            fakes.records,
            fakes.groups,
        )
        fakes.table.check()
        return
    request.getfixturevalue("aws")
    from rooms.adapters.connection_store import DynamoConnectionStore
    from rooms.adapters.event_store import DynamoEventStore
    from rooms.adapters.group_store import DynamoGroupStore
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.ticket_store import DynamoTicketStore

    rooms, records = DynamoRoomStore(), DynamoHousekeepingStore()
    tickets, events, connections, groups = (
        DynamoTicketStore(),
        DynamoEventStore(),
        DynamoConnectionStore(),
        DynamoGroupStore(),
    )
    yield Stores(rooms, tickets, records, events, connections, rooms, records, groups)


def room(stores: Stores, room_id: str = "r_c", capacity: int = 2, shards: int = 1) -> Room:
    created = main_room(room_id, capacity=capacity, shards=shards)
    stores.rooms.create_room(created)
    return created


def queued(stores: Stores, family_id: str, user: str, at: datetime = NOW, *, promote: bool = False) -> Ticket:
    ticket_id = ticket_id_for(family_id, user)
    ticket = Ticket(ticket_id, family_id, user, TicketStatus.QUEUED, family_id, at, at, promote=promote)
    assert stores.tickets.put_ticket(ticket) is None
    return ticket


# ------------------------------------------------------------------ admissions and releases
def test_admit_seats_once_then_answers_with_the_seat_and_refuses_past_the_cap(stores: Stores) -> None:
    room(stores)
    seat = stores.rooms.admit("r_c", "r_c", "a", NOW)
    assert stores.rooms.admit("r_c", "r_c", "a", NOW + timedelta(seconds=1)) == seat
    stores.rooms.admit("r_c", "r_c", "b", NOW)
    with pytest.raises(RoomFull):
        stores.rooms.admit("r_c", "r_c", "c", NOW)
    assert stores.rooms.admit("r_c", "r_c", "a", NOW) == seat  # a full room still answers a seat held
    assert stores.rooms.get_room("r_c").occupancy == 2
    with pytest.raises(RoomNotFound):
        stores.rooms.admit("r_nope", "r_nope", "a", NOW)


def test_a_closed_room_admits_nobody_and_its_family_leaves_the_overflow_walk(stores: Stores) -> None:
    main = room(stores)
    stores.rooms.admit("r_c", "r_c", "a", NOW)
    stores.rooms.create_parallel_room(stores.rooms.get_room("r_c", consistent=True), 1, NOW)
    assert stores.records.families_with_overflow() == ["r_c"]
    closed = stores.rooms.close_room(main.room_id)
    assert (closed.status, closed.occupancy) == (RoomStatus.CLOSED, 1)
    with pytest.raises(RoomClosed):
        stores.rooms.admit("r_c", "r_c", "b", NOW)
    assert stores.records.families_with_overflow() == [] and stores.rooms.rooms_being_evicted() == ["r_c"]
    assert stores.rooms.evict_all("r_c", float("inf")) is True
    assert stores.rooms.get_room("r_c", consistent=True).occupancy == 0 and stores.rooms.rooms_being_evicted() == []


def test_release_frees_once_and_only_a_lease_that_ended(stores: Stores) -> None:
    room(stores)
    seat = stores.rooms.admit("r_c", "r_c", "a", NOW)
    assert stores.rooms.release(seat, expired_by=NOW) is False  # its lease runs on
    touched = stores.rooms.touch("r_c", "a", NOW + timedelta(seconds=30))
    assert touched is not None and touched.expires_at > seat.expires_at
    assert stores.rooms.release(seat, expired_by=touched.expires_at) is True
    assert stores.rooms.release(seat) is False and stores.rooms.touch("r_c", "a", NOW) is None
    assert stores.rooms.get_room("r_c").occupancy == 0


def test_a_room_is_full_only_once_every_shard_is_and_only_while_open(stores: Stores) -> None:
    room(stores, "r_f", capacity=4, shards=2)
    for n in range(3):
        stores.rooms.admit("r_f", "r_f", f"u{n}", NOW)
    assert stores.rooms.full_capacity("r_f") is None
    stores.rooms.admit("r_f", "r_f", "u3", NOW)
    assert stores.rooms.full_capacity("r_f") == 4
    stores.rooms.close_room("r_f")
    assert stores.rooms.full_capacity("r_f") is None and stores.rooms.full_capacity("r_nope") is None


def test_a_group_takes_members_until_full_or_taken_in_then_sits_together_or_not_at_all(stores: Stores) -> None:
    group, _ = new_group("r_g", "ana", NOW)
    stores.groups.put_group(group)
    for n in range(1, MAX_GROUP_MEMBERS):
        group = stores.groups.add_member(group.group_id, f"f{n}", NOW)
    assert stores.groups.add_member(group.group_id, "f1", NOW).members == group.members  # a member again
    with pytest.raises(GroupClosed):
        stores.groups.add_member(group.group_id, "one-too-many", NOW)
    with pytest.raises(GroupNotFound):
        stores.groups.add_member("g_nope", "f1", NOW)
    taken = stores.groups.take_in(group.group_id, NOW)
    assert taken.taken_in_at == NOW and stores.groups.take_in(group.group_id, NOW + timedelta(seconds=1)) == taken
    assert stores.groups.get_group(group.group_id) == taken
    with pytest.raises(GroupNotFound):
        stores.groups.take_in(group.group_id, group.expires_at)
    # seating: a room without the seats for all takes none; one with them takes all, once
    room(stores, "r_g", capacity=12, shards=3)
    for n in range(3):
        stores.rooms.admit("r_g", "r_g", f"early{n}", NOW)
    with pytest.raises(RoomFull):
        stores.rooms.admit_group("r_g", taken, NOW)
    assert stores.rooms.get_room("r_g", consistent=True).occupancy == 3
    small = replace(taken, members=taken.members[:4])
    seats = stores.rooms.admit_group("r_g", small, NOW)
    assert sorted(seat.user_id for seat in seats) == sorted(small.members)
    assert {(seat.room_id, seat.group_id) for seat in seats} == {("r_g", group.group_id)}
    again = stores.rooms.admit_group("r_g", small, NOW)
    assert sorted(seat.user_id for seat in again) == sorted(small.members)
    assert stores.rooms.get_room("r_g", consistent=True).occupancy == 7
    # a member seated apart keeps another group out
    other = replace(small, group_id="g_other", members=("early0", "zed"))
    with pytest.raises(GroupMemberElsewhere) as refused:
        stores.rooms.admit_group("r_g", other, NOW)
    assert refused.value.user_ids == ["early0"] and stores.rooms.get_seat("r_g", "zed") is None


def test_the_stage_takes_no_join_and_a_seat_brought_up_moves_there_with_its_ticket(stores: Stores) -> None:
    main = replace(main_room("r_s", capacity=5, shards=3), stage_seats=1)  # 2 + 2 listeners, 1 speaker
    stores.rooms.create_room(main)
    for n in range(4):
        stores.rooms.admit("r_s", "r_s", f"u{n}", NOW)
    with pytest.raises(RoomFull):
        stores.rooms.admit("r_s", "r_s", "u4", NOW)
    stores.rooms.create_parallel_room(stores.rooms.get_room("r_s", consistent=True), 1, NOW)
    parallel = stores.rooms.get_room(parallel_room_id("r_s", 1), consistent=True)
    assert (parallel.capacity, parallel.shards, parallel.stage_seats) == (4, 2, 0)
    ticket = queued(stores, "r_s", "guest")
    (seat,) = stores.rooms.seat_batch(parallel, [OverflowRequest.of(ticket)], NOW).seated
    main = stores.rooms.get_room("r_s", consistent=True)
    assert stores.rooms.bring_up(seat, main, NOW) is Promotion.PROMOTED
    speaker = stores.rooms.get_seat("r_s", "guest")
    assert speaker is not None and (speaker.room_id, speaker.shard, speaker.speaker) == ("r_s", 2, True)
    moved = stores.tickets.get_ticket(ticket.ticket_id)
    assert moved is not None and moved.room_id == "r_s"
    listener = stores.rooms.get_seat("r_s", "u0")
    assert listener is not None and stores.rooms.bring_up(listener, main, NOW) is Promotion.MAIN_FULL
    assert stores.rooms.release(speaker)
    assert stores.rooms.bring_up(seat, main, NOW) is Promotion.GONE  # it is not where it was read
    assert stores.rooms.bring_up(listener, main, NOW) is Promotion.PROMOTED
    assert stores.rooms.get_room("r_s", consistent=True).occupancy == 4  # u1..u3 and u0 on the stage
    assert stores.rooms.get_room(parallel.room_id, consistent=True).occupancy == 0


def test_participants_page_through_every_seat(stores: Stores) -> None:
    big = room(stores, "r_big", capacity=500, shards=4)
    for n in range(7):
        stores.rooms.admit("r_big", "r_big", f"u{n}", NOW + timedelta(seconds=n))
    seen, cursor = [], None
    while True:
        page = stores.rooms.list_seats(big, 3, cursor)
        seen += [seat.user_id for seat in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == [f"u{n}" for n in range(7)]


# ------------------------------------------------------------------ parallel rooms and the overflow's seating
def test_parallel_room_n_is_created_once_and_never_in_a_closed_family(stores: Stores) -> None:
    main = room(stores)
    stores.rooms.create_parallel_room(main, 1, NOW)
    stores.rooms.create_parallel_room(main, 1, NOW)  # a racing worker's read of the family
    assert stores.rooms.get_room("r_c", consistent=True).parallel_count == 1
    p1 = stores.rooms.get_room(parallel_room_id("r_c", 1))
    assert (p1.capacity, p1.index, p1.family_id, p1.shards) == (2, 1, "r_c", 1)
    stores.rooms.close_room("r_c")
    stores.rooms.create_parallel_room(stores.rooms.get_room("r_c", consistent=True), 2, NOW)
    assert [r.room_id for r in stores.rooms.get_rooms([parallel_room_id("r_c", 2)])] == []


def test_seat_batch_seats_queued_users_and_seats_their_tickets(stores: Stores) -> None:
    main = room(stores)
    stores.rooms.create_parallel_room(main, 1, NOW)
    p1 = stores.rooms.get_room(parallel_room_id("r_c", 1), consistent=True)
    requests = [OverflowRequest.of(queued(stores, "r_c", user)) for user in ("a", "b")]
    outcome = stores.rooms.seat_batch(p1, requests, NOW)
    assert [seat.user_id for seat in outcome.seated] == ["a", "b"] and all(s.ticketed for s in outcome.seated)
    assert not (outcome.already_seated or outcome.not_waiting or outcome.room_changed)
    ticket = stores.tickets.get_ticket(requests[0].ticket_id)
    assert ticket is not None and (ticket.status, ticket.room_id) == (TicketStatus.SEATED, p1.room_id)
    assert list(stores.tickets.due_tickets(_due_minute(stores, requests[0]))) == []


def test_seat_batch_reports_every_failed_condition_and_writes_nothing(stores: Stores) -> None:
    main = room(stores, capacity=3)
    stores.rooms.create_parallel_room(main, 1, NOW)
    p1 = stores.rooms.get_room(parallel_room_id("r_c", 1), consistent=True)
    seated, cancelled, waiting = (queued(stores, "r_c", user) for user in ("seated", "cancelled", "waiting"))
    held = stores.rooms.admit("r_c", "r_c", "seated", NOW)
    stores.tickets.fail_ticket(cancelled.ticket_id, "cancelled", NOW)
    outcome = stores.rooms.seat_batch(p1, [OverflowRequest.of(t) for t in (seated, cancelled, waiting)], NOW)
    assert outcome.already_seated == {"seated": held} and outcome.not_waiting == ["cancelled"]
    assert not outcome.seated and not outcome.room_changed
    assert stores.rooms.get_room(p1.room_id, consistent=True).occupancy == 0
    assert stores.rooms.get_seat("r_c", "waiting") is None


def test_seat_batch_on_a_stale_read_of_the_room_says_it_changed(stores: Stores) -> None:
    main = room(stores)
    stores.rooms.create_parallel_room(main, 1, NOW)
    p1 = stores.rooms.get_room(parallel_room_id("r_c", 1), consistent=True)
    stores.rooms.admit(p1.room_id, "r_c", "x", NOW)
    stores.rooms.admit(p1.room_id, "r_c", "y", NOW)  # full now; the caller still sees two free seats
    outcome = stores.rooms.seat_batch(p1, [OverflowRequest.of(queued(stores, "r_c", "a"))], NOW)
    assert outcome.room_changed and not outcome.seated
    closed = replace(p1, occupancy=0)
    stores.rooms.close_room(p1.room_id)
    assert stores.rooms.seat_batch(closed, [OverflowRequest.of(queued(stores, "r_c", "b"))], NOW).room_changed


def test_promotion_moves_a_seat_and_its_ticket_or_says_why_not(stores: Stores) -> None:
    main = room(stores, capacity=1)
    stores.rooms.create_parallel_room(main, 1, NOW)
    p1 = stores.rooms.get_room(parallel_room_id("r_c", 1), consistent=True)
    ticket = queued(stores, "r_c", "a", promote=True)
    stores.rooms.seat_batch(p1, [OverflowRequest.of(ticket)], NOW)
    seated = stores.tickets.get_ticket(ticket.ticket_id)
    assert seated is not None
    stores.rooms.admit("r_c", "r_c", "m", NOW)
    assert stores.rooms.promote(seated, "r_c", NOW) is Promotion.MAIN_FULL
    stores.rooms.release(stores.rooms.admit("r_c", "r_c", "m", NOW))
    assert stores.rooms.promote(seated, "r_c", NOW) is Promotion.PROMOTED
    moved = stores.rooms.get_seat("r_c", "a")
    assert moved is not None and moved.room_id == "r_c"
    assert stores.rooms.get_room(p1.room_id, consistent=True).occupancy == 0
    assert stores.rooms.promote(seated, "r_c", NOW) is Promotion.GONE  # an old read of the ticket


def test_relocation_moves_a_seat_and_its_ticket_once_per_interval_or_says_why_not(stores: Stores) -> None:
    main = room(stores, capacity=2)
    stores.rooms.create_parallel_room(main, 1, NOW)
    stores.rooms.create_parallel_room(stores.rooms.get_room("r_c", consistent=True), 2, NOW)
    p1, p2 = (stores.rooms.get_room(parallel_room_id("r_c", n), consistent=True) for n in (1, 2))
    ticket = queued(stores, "r_c", "a")
    stores.rooms.seat_batch(p2, [OverflowRequest.of(ticket)], NOW)
    seat = stores.rooms.get_seat("r_c", "a")
    assert seat is not None and seat.room_id == p2.room_id and seat.moved_at is None
    later = NOW + timedelta(minutes=5)
    assert stores.rooms.relocate(seat, p1, later, moved_before=later) is Promotion.PROMOTED
    moved = stores.rooms.get_seat("r_c", "a")
    assert moved is not None and (moved.room_id, moved.moved_at) == (p1.room_id, later)
    assert stores.tickets.get_ticket(ticket.ticket_id).room_id == p1.room_id  # type: ignore[union-attr]
    assert [stores.rooms.get_room(r.room_id, consistent=True).occupancy for r in (p1, p2)] == [1, 0]
    assert stores.rooms.relocate(seat, p1, later, moved_before=later) is Promotion.GONE  # an old read of it
    # moved back within the interval: refused; after it: moved; into a full or closed room: full
    assert stores.rooms.relocate(moved, p2, later, moved_before=later - timedelta(minutes=10)) is Promotion.GONE
    again = later + timedelta(minutes=11)
    assert stores.rooms.relocate(moved, p2, again, moved_before=again - timedelta(minutes=10)) is Promotion.PROMOTED
    back = stores.rooms.get_seat("r_c", "a")
    assert back is not None
    for user in ("m1", "m2"):
        stores.rooms.admit("r_c", "r_c", user, NOW)
    assert stores.rooms.relocate(back, main, again, moved_before=again) is Promotion.MAIN_FULL


# ------------------------------------------------------------------ tickets
def test_a_ticket_is_put_once_and_each_step_holds_its_condition(stores: Stores) -> None:
    ticket = queued(stores, "r_c", "a")
    assert stores.tickets.put_ticket(replace(ticket, requested_room_id="other")) == ticket
    later = NOW + timedelta(seconds=10)
    fresh = stores.tickets.republish_ticket(ticket, later)
    assert fresh is not None and (fresh.updated_at, fresh.republished) == (later, 1)
    assert stores.tickets.republish_ticket(ticket, later) is None  # an old read publishes nothing
    assert stores.tickets.fail_ticket(ticket.ticket_id, "overflow_failed", later, queued_at=NOW) is False
    assert stores.tickets.fail_ticket(ticket.ticket_id, "cancelled", later, queued_at=later) is True
    failed = stores.tickets.get_ticket(ticket.ticket_id)
    assert failed is not None and (failed.status, failed.reason) == (TicketStatus.FAILED, "cancelled")
    assert stores.tickets.fail_ticket(ticket.ticket_id, "again", later) is False
    assert stores.tickets.requeue_ticket(ticket, later) is False  # not the ticket as it stands
    # requeued for a new join: its room and its wish to move up are written
    assert stores.tickets.requeue_ticket(replace(failed, requested_room_id="r_c-p1", promote=True), later) is True
    again = stores.tickets.get_ticket(ticket.ticket_id)
    assert again is not None and (again.status, again.reason, again.republished) == (TicketStatus.QUEUED, None, 0)
    assert (again.requested_room_id, again.promote) == ("r_c-p1", True)
    assert stores.tickets.requeue_ticket(failed, later) is False


def test_a_seats_end_tells_only_a_ticket_from_before_it(stores: Stores) -> None:
    room(stores)
    ticket = queued(stores, "r_c", "a")
    seat = stores.rooms.admit("r_c", "r_c", "a", NOW + timedelta(seconds=1))
    stores.tickets.mark_ticket_seated(ticket.ticket_id, seat, NOW)
    assert stores.tickets.end_ticket(seat, TicketStatus.LEFT, "kicked", NOW) is True
    ended = stores.tickets.get_ticket(ticket.ticket_id)
    assert ended is not None and (ended.status, ended.reason, ended.room_id) == (TicketStatus.LEFT, "kicked", "r_c")
    assert stores.tickets.end_ticket(seat, TicketStatus.EXPIRED, None, NOW) is False
    stores.tickets.requeue_ticket(ended, NOW + timedelta(seconds=5))  # a newer join
    assert stores.tickets.end_ticket(seat, TicketStatus.LEFT, None, NOW) is False


def test_the_indexes_find_queued_due_and_promotion_tickets(stores: Stores) -> None:
    first, second = queued(stores, "r_c", "a"), queued(stores, "r_c", "b", NOW + timedelta(minutes=1))
    assert [t.user_id for t in stores.tickets.queued_tickets("r_c")] == ["a", "b"]
    assert [t.user_id for t in stores.tickets.due_tickets(_due_minute(stores, OverflowRequest.of(first)))] == ["a"]
    main = room(stores)
    stores.rooms.create_parallel_room(main, 1, NOW)
    p1 = stores.rooms.get_room(parallel_room_id("r_c", 1), consistent=True)
    promoting = queued(stores, "r_c", "c", NOW + timedelta(seconds=2), promote=True)
    stores.rooms.seat_batch(p1, [OverflowRequest.of(promoting)], NOW)
    candidates = stores.tickets.promotion_candidates("r_c", "r_c", 5)
    assert [t.user_id for t in candidates] == ["c"]
    stores.tickets.drop_promotion(candidates[0])
    assert stores.tickets.promotion_candidates("r_c", "r_c", 5) == [] and second.user_id == "b"


def _due_minute(stores: Stores, request: OverflowRequest) -> int:
    from rooms.config import settings
    from rooms.domain.model import due_bucket

    assert request.queueing is not None
    return due_bucket(request.queueing + timedelta(seconds=settings().overflow_delivery_budget_seconds))


# ------------------------------------------------------------------ housekeeping's records and marks
def test_an_empty_mark_closes_a_room_only_if_it_stayed_empty(stores: Stores) -> None:
    main = room(stores)
    stores.rooms.create_parallel_room(main, 1, NOW)
    p1 = parallel_room_id("r_c", 1)
    stores.records.mark_empty(p1, NOW)
    stores.records.mark_empty(p1, NOW + timedelta(seconds=1))  # the first mark stays
    assert stores.records.empty_since([p1, "r_nope"]) == {p1: NOW}
    seat = stores.rooms.admit(p1, "r_c", "back", NOW)
    assert stores.records.close_if_empty(p1, NOW) is False
    stores.rooms.release(seat)
    assert stores.records.close_if_empty(p1, NOW + timedelta(seconds=1)) is False  # not the mark it read
    assert stores.records.close_if_empty(p1, NOW) is True
    assert stores.rooms.get_room(p1, consistent=True).status is RoomStatus.CLOSED
    stores.records.retire_family("r_c")
    assert stores.records.families_with_overflow() == []


def test_the_runs_records_never_move_back(stores: Stores) -> None:
    assert stores.records.expiry_progress() is None and stores.records.last_due_bucket() is None
    stores.records.record_expiry_progress(10, NOW)
    stores.records.record_expiry_progress(9, NOW + timedelta(minutes=1))
    progress = stores.records.expiry_progress()
    assert progress is not None and (progress.done, progress.fanned_out_at) == (10, NOW)
    stores.records.set_last_due_bucket(5, NOW)
    stores.records.set_last_due_bucket(4, NOW)
    assert stores.records.last_due_bucket() == 5


# ------------------------------------------------------------------ live connections and held seats
def test_a_users_connections_are_recorded_found_updated_and_forgotten_once(stores: Stores) -> None:
    first, second = Connection("alice", "c1", NOW), Connection("alice", "c2", NOW + timedelta(seconds=1))
    for connection in (first, second, Connection("bob", "b1", NOW)):
        stores.connections.record(connection)
    stores.connections.set_hold("alice", "c1", "r_c")
    stores.connections.set_watch("alice", "c2", "t_1")
    stores.connections.set_hold("alice", "gone", "r_c")  # a late message revives nothing
    held, watching = replace(first, holds_room="r_c"), replace(second, watches_ticket="t_1")
    assert stores.connections.connections_of("alice") == [held, watching]
    assert stores.connections.forget("alice", "c1") == held
    assert stores.connections.forget("alice", "c1") is None
    assert stores.connections.connections_of("alice") == [watching]
    assert stores.connections.connections_of("nobody") == []


def test_a_hold_leases_the_seat_to_its_connection_and_only_that_connection_lets_it_go(stores: Stores) -> None:
    room(stores)
    stores.rooms.admit("r_c", "r_c", "a", NOW)
    until = NOW + timedelta(hours=2)
    assert stores.holds.hold("r_nope", "a", "c1", until) is None
    assert stores.holds.hold("r_c", "b", "c1", until) is None  # no seat
    held = stores.holds.hold("r_c", "a", "c1", until)
    assert held is not None and (held.expires_at, held.holder) == (until, "c1")
    assert stores.rooms.touch("r_c", "a", NOW + timedelta(minutes=1)) == held  # a heartbeat keeps it
    assert stores.holds.hold("r_c", "a", "c2", until)  # a newer connection takes it over
    assert stores.holds.let_go("r_c", "a", "c1", NOW + timedelta(seconds=20)) is False
    assert stores.holds.let_go("r_c", "a", "c2", NOW + timedelta(seconds=20)) is True
    let_go = stores.expiry.seat("r_c", "a")
    assert let_go is not None and (let_go.expires_at, let_go.holder) == (NOW + timedelta(seconds=20), None)
    assert stores.holds.let_go("r_c", "a", "c2", NOW) is False  # once
    touched = stores.rooms.touch("r_c", "a", NOW + timedelta(seconds=5))
    assert touched is not None and touched.expires_at > let_go.expires_at  # heartbeats apply again
    assert stores.expiry.seat("r_c", "nobody") is None


# ------------------------------------------------------------------ events
def test_an_event_saves_only_over_the_version_it_read_and_counts_an_rsvp_once(stores: Stores) -> None:
    event = Event(
        "e_c", "host", "Show", NOW, NOW + timedelta(hours=1), "UTC", 10, 0, None, EventStatus.SCHEDULED, NOW, NOW
    )
    stores.events.put_event(event)
    assert stores.events.rsvp("e_c", "fan", NOW) is True and stores.events.rsvp("e_c", "fan", NOW) is False
    later = NOW + timedelta(seconds=1)
    saved = stores.events.save_event(replace(event, title="New", updated_at=later), event)
    assert (saved.title, saved.expected_audience) == ("New", 1)  # the RSVP survives the save
    with pytest.raises(Contention):
        stores.events.save_event(replace(event, title="Old read", updated_at=later), event)
    stores.events.save_event(replace(saved, status=EventStatus.CANCELLED, updated_at=NOW + timedelta(seconds=2)), saved)
    with pytest.raises(EventNotEditable):
        stores.events.rsvp("e_c", "late", NOW)
    main = main_room("e_c_20261126", capacity=10)
    assert stores.events.create_room_once(main) == main
    assert stores.events.create_room_once(replace(main, title="retry")).title == "t"
