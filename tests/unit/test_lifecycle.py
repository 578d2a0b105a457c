"""Lifecycle events read off item changes (rooms.domain.lifecycle) and the relay's room-full check, on fakes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from rooms.domain.lifecycle import ItemChange, LifecycleEvent, LifecycleType, events_of, filling_room
from rooms.domain.model import main_room
from rooms.lifecycle import LifecycleRelay
from tests.unit.fakes import FakeLifecycleBus, FakeRoomStore, Table

AT = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
ROOM = {
    "pk": "ROOM#r1",
    "sk": "ROOM",
    "room_id": "r1",
    "family_id": "r1",
    "index": 0,
    "host_id": "host",
    "title": "Show",
    "capacity": 250,
    "occupancy": 0,
    "status": "open",
    "shards": 2,
    "shard_capacity": 125,
}


def change(kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None, change_id: str = "c1") -> ItemChange:
    return ItemChange(change_id, kind, AT, old or {}, new or {})


def types(found: Sequence[LifecycleEvent]) -> list[str]:
    return [event.type.value for event in found]


def test_a_new_main_room_is_opened_and_a_new_parallel_room_created() -> None:
    (opened,) = events_of(change("INSERT", None, ROOM))
    assert opened.type is LifecycleType.ROOM_OPENED
    assert opened.data == {
        "room_id": "r1",
        "family_id": "r1",
        "index": 0,
        "host_id": "host",
        "title": "Show",
        "capacity": 250,
    }
    parallel = {**ROOM, "pk": "ROOM#r1-p1", "room_id": "r1-p1", "index": 1, "event_id": "e1"}
    (created,) = events_of(change("INSERT", None, parallel))
    assert created.type is LifecycleType.PARALLEL_ROOM_CREATED
    assert created.data["index"] == 1 and created.data["event_id"] == "e1"


def test_a_room_closes_once_whatever_else_its_item_sees() -> None:
    closed = {**ROOM, "status": "closed"}
    assert types(events_of(change("MODIFY", ROOM, closed))) == ["room.closed"]
    assert events_of(change("MODIFY", closed, {**closed, "occupancy": 0})) == []  # the eviction's updates
    parallel = {**ROOM, "room_id": "r1-p2", "index": 2}
    assert types(events_of(change("MODIFY", parallel, {**parallel, "status": "closed"}))) == ["parallel_room.closed"]
    assert events_of(change("MODIFY", ROOM, {**ROOM, "occupancy": 1})) == []  # a join
    assert events_of(change("REMOVE", ROOM, None)) == []


def test_a_show_goes_live_and_ends_by_its_status() -> None:
    show = {"sk": "EVENT", "event_id": "e1", "host_id": "host", "title": "Talk", "status": "scheduled"}
    live = {**show, "status": "live", "room_id": "r1"}
    (went_live,) = events_of(change("MODIFY", show, live))
    assert (went_live.type, went_live.data["room_id"], went_live.data["status"]) == (
        LifecycleType.SHOW_LIVE,
        "r1",
        "live",
    )
    for after in ("ended", "cancelled", "scheduled"):  # a recurring show waits for its next start
        (ended,) = events_of(change("MODIFY", live, {**live, "status": after, "room_id": None}))
        assert (ended.type, ended.data["room_id"], ended.data["status"]) == (LifecycleType.SHOW_ENDED, "r1", after)
    assert events_of(change("MODIFY", live, {**live, "expected_audience": 9})) == []  # an RSVP while live


def test_a_ticket_whose_seated_room_changed_is_a_promotion() -> None:
    seated = {"sk": "TICKET", "ticket_id": "t1", "user_id": "u1", "family_id": "r1", "room_id": "r1-p1"}
    (promoted,) = events_of(change("MODIFY", seated, {**seated, "room_id": "r1"}))
    assert promoted.type is LifecycleType.USER_PROMOTED
    assert promoted.data == {
        "user_id": "u1",
        "family_id": "r1",
        "ticket_id": "t1",
        "from_room_id": "r1-p1",
        "room_id": "r1",
    }
    # leaving the promotion queue without moving (the user left), or being seated at first, is no promotion
    assert events_of(change("MODIFY", seated, {**seated, "gsi1pk": "TICKETS#r1#3"})) == []
    assert events_of(change("MODIFY", {**seated, "room_id": None}, seated)) == []


def test_an_event_id_is_its_change_and_type_so_a_redelivery_repeats_it() -> None:
    first = events_of(change("INSERT", None, ROOM, change_id="abc"))
    again = events_of(change("INSERT", None, ROOM, change_id="abc"))
    assert first == again and first[0].id == "abc:room.opened"
    assert first[0].detail() == {
        "type": "room.opened",
        "version": 1,
        "id": "abc:room.opened",
        "at": "2026-12-03T14:00:00.000Z",
        "data": first[0].data,
    }


@pytest.mark.parametrize(
    ("old", "new", "filling"),
    [
        ({**ROOM, "occupancy": 124}, {**ROOM, "occupancy": 125}, "r1"),  # shard 0 reached its slice
        ({**ROOM, "occupancy": 123}, {**ROOM, "occupancy": 124}, None),
        ({**ROOM, "occupancy": 125}, {**ROOM, "occupancy": 124}, None),  # a leave
        ({**ROOM, "occupancy": 124}, {**ROOM, "occupancy": 125, "status": "closed"}, None),
        (
            {"sk": "SHARD", "room_id": "r1", "shard": 1, "occupancy": 124, "shard_capacity": 125, "status": "open"},
            {"sk": "SHARD", "room_id": "r1", "shard": 1, "occupancy": 125, "shard_capacity": 125, "status": "open"},
            "r1",
        ),
        (  # a one-shard room counts its capacity on the room item
            {**ROOM, "shards": None, "shard_capacity": None, "capacity": 3, "occupancy": 2},
            {**ROOM, "shards": None, "shard_capacity": None, "capacity": 3, "occupancy": 3},
            "r1",
        ),
    ],
)
def test_a_shard_filling_its_slice_names_its_room(
    old: dict[str, Any], new: dict[str, Any], filling: str | None
) -> None:
    assert filling_room(change("MODIFY", old, new)) == filling


def filled_room(capacity: int, joined: int) -> tuple[Table, FakeRoomStore]:
    table = Table()
    rooms = FakeRoomStore(table)
    rooms.create_room(
        main_room("r1", host_id="host", title="Show", capacity=capacity, seats_per_shard=125, created_at=AT)
    )
    for n in range(joined):
        rooms.admit("r1", "r1", f"u{n}", AT)
    return table, rooms


SHARD_FILLED = change("MODIFY", {**ROOM, "occupancy": 124}, {**ROOM, "occupancy": 125})


@pytest.mark.parametrize(("joined", "full"), [(250, True), (249, False)])
def test_the_relay_tells_a_room_full_only_once_every_shard_is(joined: int, full: bool) -> None:
    (_, rooms), bus = filled_room(250, joined), FakeLifecycleBus()
    told = LifecycleRelay(rooms, bus).relay(SHARD_FILLED)
    assert types(told) == (["room.full"] if full else []) and bus.published == told
    if full:
        assert told[0].data == {"room_id": "r1", "family_id": "r1", "index": 0, "capacity": 250}


def test_a_closed_or_gone_room_is_never_told_full() -> None:
    (_, rooms), bus = filled_room(250, 250), FakeLifecycleBus()
    rooms.close_room("r1")
    assert LifecycleRelay(rooms, bus).relay(SHARD_FILLED) == []
    gone = change(
        "MODIFY", {**ROOM, "room_id": "nope", "occupancy": 124}, {**ROOM, "room_id": "nope", "occupancy": 125}
    )
    assert LifecycleRelay(rooms, bus).relay(gone) == [] and bus.published == []


def test_a_change_that_tells_nothing_reads_nothing_and_publishes_nothing() -> None:
    (table, rooms), bus = filled_room(250, 0), FakeLifecycleBus()
    reads = table.count("full_capacity")
    assert LifecycleRelay(rooms, bus).relay(change("MODIFY", ROOM, {**ROOM, "occupancy": 1})) == []
    assert table.count("full_capacity") == reads and bus.published == []


def test_a_refused_publish_fails_the_change_so_it_is_retried() -> None:
    (_, rooms), bus = filled_room(250, 0), FakeLifecycleBus()
    bus.refusing = True
    with pytest.raises(RuntimeError, match="refused"):
        LifecycleRelay(rooms, bus).relay(change("INSERT", None, ROOM))


def test_a_ticket_moved_to_another_parallel_room_is_a_move_not_a_promotion() -> None:
    seated = {"sk": "TICKET", "ticket_id": "t1", "user_id": "u1", "family_id": "r1", "room_id": "r1-p3"}
    (moved,) = events_of(change("MODIFY", seated, {**seated, "room_id": "r1-p1", "moved_at": "2026-12-03"}))
    assert moved.type is LifecycleType.USER_MOVED
    assert (moved.data["from_room_id"], moved.data["room_id"]) == ("r1-p3", "r1-p1")
