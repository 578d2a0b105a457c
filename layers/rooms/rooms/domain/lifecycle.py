"""Lifecycle events: what integrators are told happened to rooms, shows and users (docs in the README,
"Lifecycle events"). They are read off the table's changes, one DynamoDB stream record at a time, so a
write that committed is never left untold and no writer pays for telling it. Pure: images are the
items' attributes, already deserialized.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from rooms.domain.model import MAIN_INDEX, RoomStatus, family_of

LIFECYCLE_VERSION = 1
LIFECYCLE_SOURCE = "rooms"
_LIVE = "live"


class LifecycleType(StrEnum):
    ROOM_OPENED = "room.opened"
    ROOM_CLOSED = "room.closed"
    ROOM_FULL = "room.full"
    PARALLEL_ROOM_CREATED = "parallel_room.created"
    PARALLEL_ROOM_CLOSED = "parallel_room.closed"
    SHOW_LIVE = "show.live"
    SHOW_ENDED = "show.ended"
    USER_PROMOTED = "user.promoted"
    USER_MOVED = "user.moved"


@dataclass(frozen=True)
class ItemChange:
    """One committed change of a table item: `kind` is the stream's INSERT, MODIFY or REMOVE, `change_id`
    the stream record's id (the same on every delivery of it), `old`/`new` the item before and after."""

    change_id: str
    kind: str
    at: datetime
    old: Mapping[str, Any]
    new: Mapping[str, Any]

    @property
    def sort_key(self) -> str:
        return str((self.new or self.old).get("sk", ""))


@dataclass(frozen=True)
class LifecycleEvent:
    type: LifecycleType
    id: str  # stable across redeliveries of the change it came from: consumers deduplicate on it
    at: datetime
    data: dict[str, Any]

    def detail(self) -> dict[str, Any]:
        """The EventBridge event's `detail`: the live connection's event shape, plus the id."""
        return {
            "type": self.type.value,
            "version": LIFECYCLE_VERSION,
            "id": self.id,
            "at": self.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": self.data,
        }


def events_of(change: ItemChange) -> list[LifecycleEvent]:
    """The lifecycle events one change says happened (most changes say none). A room filling up is not
    among them: whether the room is full takes its other shards (see `filling_room`)."""
    match change.sort_key:
        case "ROOM":
            found = _room_events(change)
        case "EVENT":
            found = _show_events(change)
        case "TICKET":
            found = _move_events(change)
        case _:
            found = []
    return [LifecycleEvent(kind, f"{change.change_id}:{kind.value}", change.at, data) for kind, data in found]


def filling_room(change: ItemChange) -> str | None:
    """The room one of whose write shards this change filled to its slice of the capacity, if any: the
    room may be full now (each shard counts its own seats; the room item is shard 0)."""
    if change.kind != "MODIFY" or change.sort_key not in ("ROOM", "SHARD"):
        return None
    new, old = change.new, change.old
    if new.get("status") != RoomStatus.OPEN.value:
        return None
    seats = int(new.get("shard_capacity") or new.get("capacity") or 0)
    if seats and int(old.get("occupancy", 0)) < seats <= int(new.get("occupancy", 0)):
        return str(new["room_id"])
    return None


def room_full(change: ItemChange, room_id: str, family_id: str, index: int, capacity: int) -> LifecycleEvent:
    kind = LifecycleType.ROOM_FULL
    data = {"room_id": room_id, "family_id": family_id, "index": index, "capacity": capacity}
    return LifecycleEvent(kind, f"{change.change_id}:{kind.value}", change.at, data)


def _room_data(room: Mapping[str, Any]) -> dict[str, Any]:
    data = {
        "room_id": str(room["room_id"]),
        "family_id": str(room["family_id"]),
        "index": int(room["index"]),
        "host_id": str(room["host_id"]),
        "title": str(room["title"]),
        "capacity": int(room["capacity"]),
    }
    if room.get("event_id"):
        data["event_id"] = str(room["event_id"])
    return data


def _room_events(change: ItemChange) -> list[tuple[LifecycleType, dict[str, Any]]]:
    room, closed = change.new, RoomStatus.CLOSED.value
    if not room or "room_id" not in room:
        return []
    if change.kind == "INSERT":
        kind = LifecycleType.ROOM_OPENED if _is_main(room) else LifecycleType.PARALLEL_ROOM_CREATED
        return [(kind, _room_data(room))]
    if change.kind == "MODIFY" and room.get("status") == closed and change.old.get("status") != closed:
        kind = LifecycleType.ROOM_CLOSED if _is_main(room) else LifecycleType.PARALLEL_ROOM_CLOSED
        return [(kind, _room_data(room))]
    return []


def _is_main(room: Mapping[str, Any]) -> bool:
    return int(room["index"]) == MAIN_INDEX


def _show_data(show: Mapping[str, Any], room_id: Any) -> dict[str, Any]:
    data = {
        "event_id": str(show["event_id"]),
        "host_id": str(show["host_id"]),
        "title": str(show["title"]),
        "status": str(show["status"]),
    }
    if room_id:
        data["room_id"] = str(room_id)
    return data


def _show_events(change: ItemChange) -> list[tuple[LifecycleType, dict[str, Any]]]:
    if change.kind != "MODIFY":
        return []
    was_live, is_live = change.old.get("status") == _LIVE, change.new.get("status") == _LIVE
    if is_live and not was_live:
        return [(LifecycleType.SHOW_LIVE, _show_data(change.new, change.new.get("room_id")))]
    if was_live and not is_live:  # ended, cancelled, or a recurring show waiting for its next start
        return [(LifecycleType.SHOW_ENDED, _show_data(change.new, change.old.get("room_id")))]
    return []


def _move_events(change: ItemChange) -> list[tuple[LifecycleType, dict[str, Any]]]:
    """A seated ticket whose room changed: its user was moved up to the main room (a promotion) or to
    another parallel room (rebalancing); each moves the seat and its ticket in one transaction."""
    old_room, new_room = change.old.get("room_id"), change.new.get("room_id")
    if change.kind != "MODIFY" or not old_room or not new_room or old_room == new_room:
        return []
    data = {
        "user_id": str(change.new["user_id"]),
        "family_id": str(change.new["family_id"]),
        "ticket_id": str(change.new["ticket_id"]),
        "from_room_id": str(old_room),
        "room_id": str(new_room),
    }
    promoted = family_of(str(new_room))[1] == MAIN_INDEX
    return [(LifecycleType.USER_PROMOTED if promoted else LifecycleType.USER_MOVED, data)]
