"""Reads the true final state of a room family straight from DynamoDB Local, with consistent reads,
so invariants are checked against the store rather than against what the API says."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any


@dataclass
class FamilyState:
    rooms: dict[str, dict[str, Any]]  # room id -> item (plain values)
    seats: list[dict[str, Any]]
    tickets: list[dict[str, Any]]
    slices: list[tuple[str, int, int]]  # each room counter item: (pk, occupancy, the seats it may count)

    def occupancy(self, room_id: str) -> int:
        return int(self.rooms[room_id]["occupancy"])

    def seats_in(self, room_id: str) -> int:
        return sum(1 for seat in self.seats if seat["room_id"] == room_id)

    def assert_invariants(self) -> None:
        """I1 and I2 on the stored items: occupancy == seats <= capacity, one seat per user."""
        for room_id, room in self.rooms.items():
            assert self.occupancy(room_id) == self.seats_in(room_id), f"I1 broken in {room_id}"
            assert self.occupancy(room_id) <= int(room["capacity"]), f"{room_id} over capacity"
        users = Counter(seat["user_id"] for seat in self.seats)
        twice = [user for user, count in users.items() if count > 1]
        assert not twice, f"I2 broken: {twice[:5]}"

    def assert_within_capacity(self) -> None:
        """The part of I1 a read taken while writes run can check. A scan is no snapshot: it may read a
        room's counter before a leave or a promotion and the seat after it, so occupancy == seats holds
        only at a quiescent point. But each counter item is read whole, and none ever counts more than
        its slice of the room's capacity (the slices sum to the capacity), so no room is ever over."""
        over = [(pk, occupancy, limit) for pk, occupancy, limit in self.slices if occupancy > limit]
        assert not over, f"counters over their slice of capacity: {over[:5]}"

    def assert_answers_match(self, results: list[tuple[str, int, Any]]) -> None:
        """Every join was answered with a seat (200) or a ticket (202), never an error, and each answer
        agrees with the stored seat. A count of 200s is not the main room's occupancy: a join retried
        after the gateway's integration timeout (the first attempt may have queued the user) answers
        200 with the seat the overflow worker gave it, so seats are counted from the table, not answers.
        """
        assert {status for _, status, _ in results} <= {200, 202}, [r for r in results if r[1] not in (200, 202)][:5]
        seated_in = {seat["user_id"]: seat["room_id"] for seat in self.seats}
        tickets = {ticket["user_id"]: ticket for ticket in self.tickets}
        for user, status, body in results:
            if status == 200:
                assert body["seat"]["room_id"] == seated_in.get(user), f"{user}: answered seat is not stored"
            else:
                assert tickets[user]["status"] == "seated" and tickets[user]["room_id"] == seated_in.get(user), user

    def by_index(self) -> dict[int, dict[str, Any]]:
        return {int(room["index"]): room for room in self.rooms.values()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        ((kind, raw),) = value.items()
        out[key] = int(raw) if kind == "N" else raw
    return out


def read_family(dynamodb: Any, table: str, family_id: str) -> FamilyState:
    """Scan (a test-only read) with consistent reads, keeping what belongs to `family_id`."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=table, ConsistentRead=True):
        for raw in page["Items"]:
            item = _plain(raw)
            if item.get("family_id") != family_id:
                continue
            groups[str(item["pk"]).split("#", 1)[0]].append(item)
    rooms = {str(item["room_id"]): item for item in groups["ROOM"] if item["sk"] == "ROOM"}
    slices = [
        (str(item["pk"]), int(item["occupancy"]), int(item.get("shard_capacity") or item["capacity"]))
        for item in groups["ROOM"]
        if item["sk"] in ("ROOM", "SHARD")
    ]
    for shard in (item for item in groups["ROOM"] if item["sk"] == "SHARD"):  # a room counts on its shards
        room = rooms[str(shard["room_id"])]
        room["occupancy"] = int(room["occupancy"]) + int(shard["occupancy"])
    return FamilyState(rooms=rooms, seats=groups["SEAT"], tickets=groups["TICKET"], slices=slices)
