"""The lifecycle relay: turns the table's changes into lifecycle events on the bus (rooms.domain.lifecycle)."""

from __future__ import annotations

from rooms.domain.errors import RoomNotFound
from rooms.domain.lifecycle import ItemChange, LifecycleEvent, events_of, filling_room, room_full
from rooms.domain.model import RoomStatus
from rooms.ports import LifecycleBus, RoomStore


class LifecycleRelay:
    def __init__(self, rooms: RoomStore, bus: LifecycleBus) -> None:
        self._rooms = rooms
        self._bus = bus

    def relay(self, change: ItemChange) -> list[LifecycleEvent]:
        """Publish what `change` says happened; returns it. Raises if the bus did not take it all."""
        events = events_of(change)
        room_id = filling_room(change)
        if room_id is not None and (full := self._full_event(change, room_id)) is not None:
            events.append(full)
        if events:
            self._bus.publish(events)
        return events

    def _full_event(self, change: ItemChange, room_id: str) -> LifecycleEvent | None:
        # One shard reached its slice: the room is full once all have. Read consistently, so the last two
        # shards filling at once both see each other (the room may then be told full twice, never not at all).
        try:
            room = self._rooms.get_room(room_id, consistent=True)
        except RoomNotFound:
            return None
        if room.status is not RoomStatus.OPEN or room.free_seats > 0:
            return None
        return room_full(change, room.room_id, room.family_id, room.index, room.capacity)
