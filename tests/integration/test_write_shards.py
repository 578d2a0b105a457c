"""Rooms whose capacity is split over write shards (moto): exactly `capacity` admitted, occupancy the sum
of the shards, every path that counts a seat (join, leave, close, overflow batch, promotion, empty-room
close) moving the count of the shard the seat is on.

Before: every admission of a room updated its one room item, about 500 joins/s on AWS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

CallApi = Callable[..., tuple[int, Any]]
TABLE = "rooms-test-RoomsTable"
SEATS_PER_SHARD = 5


@pytest.fixture
def api(call_api: CallApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[CallApi]:
    """The API with 5 seats per write shard: a room of 40 has 8 shards."""
    from rooms.config import settings
    from tests.conftest import fresh_api_services

    monkeypatch.setenv("ROOMS_SEATS_PER_WRITE_SHARD", str(SEATS_PER_SHARD))
    settings.cache_clear()
    fresh_api_services()
    yield call_api
    settings.cache_clear()
    fresh_api_services()


def shard_counts(room_id: str) -> list[int]:
    """Each write shard's stored occupancy, shard 0 (the room item) first."""
    client = boto3.client("dynamodb")
    room = client.get_item(TableName=TABLE, Key={"pk": {"S": f"ROOM#{room_id}"}, "sk": {"S": "ROOM"}})["Item"]
    counts = [int(room["occupancy"]["N"])]
    for shard in range(1, int(room["shards"]["N"])):
        key = {"pk": {"S": f"ROOM#{room_id}#{shard}"}, "sk": {"S": "SHARD"}}
        counts.append(int(client.get_item(TableName=TABLE, Key=key)["Item"]["occupancy"]["N"]))
    return counts


def participants(api: CallApi, room_id: str, limit: int = 7) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, page = api("list_participants", path={"room_id": room_id}, query=query)
        assert status == 200, page
        seen += page["participants"]
        cursor = page.get("next_cursor")
        if not cursor:
            return seen


def join(api: CallApi, room_id: str, user: str) -> tuple[int, Any]:
    return api("join_room", path={"room_id": room_id}, sub=user)


def test_a_sharded_room_admits_exactly_its_capacity_and_counts_it_on_its_shards(api: CallApi) -> None:
    status, room = api("create_room", sub="host", body={"title": "Storm", "capacity": 40})
    assert status == 201
    statuses = [join(api, room["room_id"], f"u{n}")[0] for n in range(50)]
    assert statuses.count(200) == 40 and statuses.count(202) == 10
    # every shard holds its slice, no more: the sum is the capacity (I1)
    assert shard_counts(room["room_id"]) == [SEATS_PER_SHARD] * 8
    assert api("get_room", path={"room_id": room["room_id"]})[1]["occupancy"] == 40
    # the participants, listed shard after shard through the cursor, are the 40 seated, once each
    listed = participants(api, room["room_id"])
    assert len(listed) == 40 and len({seat["user_id"] for seat in listed}) == 40
    # a repeated join answers the same seat and counts nobody twice
    assert join(api, room["room_id"], "u3")[0] == 200
    assert sum(shard_counts(room["room_id"])) == 40


def test_a_seat_freed_on_any_shard_goes_to_the_next_join(api: CallApi) -> None:
    room_id = api("create_room", sub="host", body={"title": "Churn", "capacity": 40})[1]["room_id"]
    for n in range(40):
        assert join(api, room_id, f"u{n}")[0] == 200
    assert join(api, room_id, "late")[0] == 202  # every shard is full, and known so
    assert api("leave_room", path={"room_id": room_id}, sub="u17")[0] == 200
    before = shard_counts(room_id)
    assert sum(before) == 39 and min(before) == SEATS_PER_SHARD - 1
    status, body = join(api, room_id, "next")
    assert status == 200 and body["seat"]["user_id"] == "next"
    assert shard_counts(room_id) == [SEATS_PER_SHARD] * 8


def test_a_join_into_a_room_known_full_writes_nothing(api: CallApi, monkeypatch: pytest.MonkeyPatch) -> None:
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.config import settings
    from tests.conftest import fresh_api_services

    # an instance that remembers a full room for an hour: no probe happens during the test, however slow
    monkeypatch.setenv("ROOMS_FULL_ROOM_MEMORY_SECONDS", "3600")
    settings.cache_clear()
    fresh_api_services()
    room_id = api("create_room", sub="host", body={"title": "Full", "capacity": 40})[1]["room_id"]
    for n in range(40):
        join(api, room_id, f"u{n}")
    assert join(api, room_id, "first-turned-away")[0] == 202  # tries the shards, learns they are full
    tries: list[int] = []
    admit_through = DynamoRoomStore._admit_through

    def counted(self: DynamoRoomStore, shard: int, *args: Any) -> Any:
        tries.append(shard)
        return admit_through(self, shard, *args)

    monkeypatch.setattr(DynamoRoomStore, "_admit_through", counted)
    statuses = [join(api, room_id, f"more{n}")[0] for n in range(20)]
    assert statuses == [202] * 20 and tries == []
    # and someone already seated still gets their seat back
    status, body = join(api, room_id, "u5")
    assert status == 200 and body["seat"]["user_id"] == "u5"


def test_closing_a_sharded_room_frees_every_seat_on_every_shard(api: CallApi) -> None:
    room_id = api("create_room", sub="host", body={"title": "Close", "capacity": 40})[1]["room_id"]
    for n in range(33):
        join(api, room_id, f"u{n}")
    status, closed = api("close_room", path={"room_id": room_id}, sub="host")
    assert status == 200 and closed["status"] == "closed" and closed["occupancy"] == 0
    assert shard_counts(room_id) == [0] * 8
    assert participants(api, room_id) == []
    status, body = join(api, room_id, "after")
    assert status == 409 and body["error"]["code"] == "ROOM_CLOSED"


def test_a_cursor_naming_a_shard_the_room_does_not_have_is_a_400(api: CallApi) -> None:
    from rooms.adapters.cursors import seal

    room_id = api("create_room", sub="host", body={"title": "Cursor", "capacity": 40})[1]["room_id"]
    for cursor in (seal(f"seats/{room_id}", ["8", "", ""]), seal(f"seats/{room_id}", ["x", "", ""])):
        query = {"cursor": cursor}
        status, body = api("list_participants", path={"room_id": room_id}, query=query)
        assert status == 400 and body["error"]["code"] == "INVALID_CURSOR", body


# ------------------------------------------------------------- the stores' other counting paths
def _stores() -> tuple[Any, Any]:
    """The rooms and tickets stores, imported once moto is up."""
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.ticket_store import DynamoTicketStore

    return DynamoRoomStore(), DynamoTicketStore()


def _queued(tickets: Any, family_id: str, user: str, now: datetime, promote: bool = False) -> Any:
    from rooms.domain.model import Ticket, TicketStatus, ticket_id_for
    from rooms.ports import OverflowRequest

    ticket = Ticket(ticket_id_for(family_id, user), family_id, user, TicketStatus.QUEUED, family_id, now, now)
    ticket = Ticket(**{**ticket.__dict__, "promote": promote})
    tickets.put_ticket(ticket)
    return OverflowRequest.of(ticket)


def test_an_overflow_batch_spreads_over_the_shards_with_free_seats(api: CallApi) -> None:
    (rooms, tickets), now = _stores(), datetime.now(UTC)
    family_id = api("create_room", sub="host", body={"title": "Batch", "capacity": 40})[1]["room_id"]
    main = rooms.get_room(family_id, consistent=True)
    rooms.create_parallel_room(main, 1, now)
    parallel = rooms.get_room(f"{family_id}-p1", consistent=True)
    assert parallel.shards == 8 and parallel.occupancy == 0
    # WHEN 12 queued users are seated in one batch: more than one shard's slice of 5
    requests = [_queued(tickets, family_id, f"q{n}", now) for n in range(12)]
    outcome = rooms.seat_batch(parallel, requests, now)
    # THEN all 12 are seated in one transaction, over the shards that had room, each counted where it sits
    assert len(outcome.seated) == 12 and not outcome.room_changed
    counts = shard_counts(parallel.room_id)
    assert sum(counts) == 12 and max(counts) == SEATS_PER_SHARD
    by_shard: dict[int, int] = {}
    for seat in outcome.seated:
        by_shard[seat.shard] = by_shard.get(seat.shard, 0) + 1
    assert [by_shard.get(shard, 0) for shard in range(8)] == counts
    # AND a later batch larger than what is free seats what fits, and the room then reads full
    more = [_queued(tickets, family_id, f"r{n}", now) for n in range(40)]
    seated = 0
    while more:
        room = rooms.get_room(parallel.room_id, consistent=True)
        if room.free_seats == 0:
            break
        outcome = rooms.seat_batch(room, more[: room.free_seats], now)
        done = {seat.user_id for seat in outcome.seated}
        seated += len(done)
        more = [request for request in more if request.user_id not in done]
    assert seated == 28 and shard_counts(parallel.room_id) == [SEATS_PER_SHARD] * 8


def test_promotion_moves_a_seat_between_shards_of_two_sharded_rooms(api: CallApi) -> None:
    from rooms.ports import Promotion

    (rooms, tickets), now = _stores(), datetime.now(UTC)
    family_id = api("create_room", sub="host", body={"title": "Promote", "capacity": 40})[1]["room_id"]
    for n in range(39):
        join(api, family_id, f"u{n}")
    main = rooms.get_room(family_id, consistent=True)
    rooms.create_parallel_room(main, 1, now)
    parallel = rooms.get_room(f"{family_id}-p1", consistent=True)
    request = _queued(tickets, family_id, "climber", now, promote=True)
    (seat,) = rooms.seat_batch(parallel, [request], now).seated
    ticket = tickets.get_ticket(request.ticket_id)
    free_shard = shard_counts(family_id).index(SEATS_PER_SHARD - 1)
    # WHEN the user is promoted into the main room's one free seat
    assert rooms.promote(ticket, family_id, now) is Promotion.PROMOTED
    # THEN the parallel room's shard lost the seat, the main room's free shard gained it, and the seat
    # is listed in the main room
    assert sum(shard_counts(parallel.room_id)) == 0
    assert shard_counts(family_id) == [SEATS_PER_SHARD] * 8
    moved = rooms.get_seat(family_id, "climber")
    assert (moved.room_id, moved.shard) == (family_id, free_shard) and seat.room_id == parallel.room_id
    assert "climber" in {s["user_id"] for s in participants(api, family_id)}
    # AND a second promotion finds the main room full
    other = _queued(tickets, family_id, "second", now, promote=True)
    rooms.seat_batch(rooms.get_room(parallel.room_id, consistent=True), [other], now)
    assert rooms.promote(tickets.get_ticket(other.ticket_id), family_id, now) is Promotion.MAIN_FULL


def test_an_empty_sharded_room_closes_with_all_its_shards_and_an_occupied_one_does_not(api: CallApi) -> None:
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore

    (rooms, _tickets), housekeeping, now = _stores(), DynamoHousekeepingStore(), datetime.now(UTC)
    family_id = api("create_room", sub="host", body={"title": "Empty", "capacity": 40})[1]["room_id"]
    main = rooms.get_room(family_id, consistent=True)
    rooms.create_parallel_room(main, 1, now)
    rooms.create_parallel_room(rooms.get_room(family_id, consistent=True), 2, now)
    occupied = rooms.get_room(f"{family_id}-p2", consistent=True)
    # six users on shards 3 and 5, none on shard 0 (the room item)
    for n in range(6):
        assert rooms._admit_through(3 if n % 2 else 5, occupied.room_id, family_id, f"stay{n}", now) is not None
    assert shard_counts(occupied.room_id)[0] == 0 and sum(shard_counts(occupied.room_id)) == 6
    for room_id in (f"{family_id}-p1", f"{family_id}-p2"):
        housekeeping.mark_empty(room_id, now)  # the room item (shard 0) of each counts nobody
    since = housekeeping.empty_since([f"{family_id}-p1", f"{family_id}-p2"])
    p1_since, p2_since = since[f"{family_id}-p1"], since[f"{family_id}-p2"]
    assert p1_since is not None and p2_since is not None
    assert housekeeping.close_if_empty(f"{family_id}-p1", p1_since) is True
    client = boto3.client("dynamodb")
    for shard in range(1, 8):
        key = {"pk": {"S": f"ROOM#{family_id}-p1#{shard}"}, "sk": {"S": "SHARD"}}
        assert client.get_item(TableName=TABLE, Key=key)["Item"]["status"]["S"] == "closed"
    # the room with seats on its other shards is not empty, whatever its room item counts
    assert housekeeping.close_if_empty(f"{family_id}-p2", p2_since) is False
    assert rooms.get_room(f"{family_id}-p2", consistent=True).status.value == "open"


def test_joins_fill_the_shards_evenly_so_none_is_left_to_take_every_join(api: CallApi) -> None:
    """Each join reads two random shards and tries the emptier first, so the shards fill up together:
    no shard is full while most of the room is still empty, which would leave the last few open shards
    to take every join of a nearly full room."""
    room_id = api("create_room", sub="host", body={"title": "Even", "capacity": 40})[1]["room_id"]
    joined = 0
    while max(shard_counts(room_id)) < SEATS_PER_SHARD:
        assert join(api, room_id, f"u{joined}")[0] == 200
        joined += 1
    # 8 shards of 5: picking the emptier of two draws, the first shard fills after 18 to 40 joins (2,000
    # simulated rooms: 1% before 23), picking one shard at random after 6 to 19 (median 19)
    assert joined >= 16, shard_counts(room_id)
    assert sum(shard_counts(room_id)) == joined


def test_a_shard_read_full_is_skipped_without_a_transaction(api: CallApi) -> None:
    from rooms.adapters.room_store import DynamoRoomStore

    room_id = api("create_room", sub="host", body={"title": "Skip", "capacity": 40})[1]["room_id"]
    store = DynamoRoomStore()
    now = datetime.now(UTC)
    for n in range(SEATS_PER_SHARD):  # shard 2 full, shard 1 one seat in, the others empty
        assert store._admit_through(2, room_id, room_id, f"full{n}", now) is not None
    assert store._admit_through(1, room_id, room_id, "one", now) is not None
    assert store._two_choices(room_id, 8, [1, 0, 5, 2]) == [0, 1, 5, 2]
    assert store._two_choices(room_id, 8, [2, 1, 0, 5]) == [1, 0, 5]
    assert 2 not in store._full.open_shards(room_id, 8)  # taken for full: no join bills it for a while
