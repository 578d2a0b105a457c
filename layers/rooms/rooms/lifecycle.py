"""The lifecycle relay: turns the table's changes into lifecycle events on the bus (rooms.domain.lifecycle)."""

from __future__ import annotations

from rooms.domain.lifecycle import ItemChange, LifecycleEvent, events_of, filling_room, room_full
from rooms.domain.model import family_of
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
        # One shard reached its slice: the room is full once all have (the store reads consistently, so
        # the last two shards filling at once both see each other: told full twice, never not at all).
        capacity = self._rooms.full_capacity(room_id)
        if capacity is None:
            return None
        family_id, index = family_of(room_id)
        return room_full(change, room_id, family_id, index, capacity)
