"""Use cases of the Rooms API: create, join (or queue), leave, heartbeat, kick, close, family, tickets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rooms.domain.errors import NotHost, NotSeated, OverflowUnavailable, RoomFull, TicketNotFound
from rooms.domain.model import (
    MAIN_INDEX,
    Family,
    Page,
    Room,
    RoomStatus,
    Seat,
    Ticket,
    TicketStatus,
    family_of,
    new_room_id,
    parallel_room_id,
    ticket_id_for,
)
from rooms.ports import OverflowPublisher, OverflowRequest, RoomStore

logger = logging.getLogger(__name__)
# Closing frees seats for at most this long in the request (API Gateway gives up at 29 s); the rest is
# freed by housekeeping within a minute.
CLOSE_BUDGET_SECONDS = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LeaveResult:
    left: bool
    room_id: str | None
    ticket_cancelled: bool


class RoomService:
    def __init__(self, store: RoomStore, publisher: OverflowPublisher, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock

    def create_room(
        self, host_id: str, title: str, capacity: int, metadata: dict[str, str], event_id: str | None = None
    ) -> Room:
        room_id = new_room_id()
        room = Room(
            room_id=room_id,
            family_id=room_id,
            index=MAIN_INDEX,
            host_id=host_id,
            title=title,
            capacity=capacity,
            occupancy=0,
            status=RoomStatus.OPEN,
            created_at=self._clock(),
            metadata=metadata,
            event_id=event_id,
        )
        self._store.create_room(room)
        return room

    def get_room(self, room_id: str) -> Room:
        return self._store.get_room(room_id)

    def family(self, room_id: str) -> Family:
        family_id, _ = family_of(room_id)
        main = self._store.get_room(family_id, consistent=True)
        ids = [parallel_room_id(family_id, index) for index in range(1, main.parallel_count + 1)]
        return Family(main=main, parallel=self._store.get_rooms(ids) if ids else [])

    def join(self, room_id: str, user_id: str, promote: bool = False) -> Seat | Ticket:
        """A seat when the room has one (or the user already holds one in the family), else a queued ticket."""
        family_id, _ = family_of(room_id)
        try:
            return self._store.admit(room_id, family_id, user_id, self._clock())
        except RoomFull:
            return self._enqueue(room_id, family_id, user_id, promote)

    def _enqueue(self, room_id: str, family_id: str, user_id: str, promote: bool) -> Seat | Ticket:
        # The failed admission proved the user had no seat in the family (DynamoDB reports every failed
        # condition of a cancelled transaction), so the common path is one put and one message.
        now = self._clock()
        ticket = Ticket(
            ticket_id=ticket_id_for(family_id, user_id),
            family_id=family_id,
            user_id=user_id,
            status=TicketStatus.QUEUED,
            requested_room_id=room_id,
            created_at=now,
            updated_at=now,
            promote=promote,
        )
        prior = self._store.put_ticket(ticket)
        if prior is not None:
            if prior.status is TicketStatus.QUEUED:
                return prior  # already waiting: the same ticket, no second message
            seat = self._store.get_seat(family_id, user_id)
            if seat is not None:
                return seat  # seated by the worker since the admission failed
            if not self._store.requeue_ticket(prior, now):
                return self._ticket_or_raise(ticket.ticket_id)
        try:
            self._publisher.publish(OverflowRequest(ticket.ticket_id, family_id, user_id))
        except Exception:
            logger.exception("overflow publish failed", extra={"ticket_id": ticket.ticket_id})
            self._store.fail_ticket(ticket.ticket_id, "overflow_unavailable", self._clock())
            raise OverflowUnavailable() from None
        return self._ticket_or_raise(ticket.ticket_id) if prior is not None else ticket

    def _ticket_or_raise(self, ticket_id: str) -> Ticket:
        ticket = self._store.get_ticket(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    def leave(self, room_id: str, user_id: str) -> LeaveResult:
        """Free the user's seat in the family, or withdraw their queued ticket. Repeating it frees nothing."""
        family_id, _ = family_of(room_id)
        seat = self._store.get_seat(family_id, user_id)
        if seat is not None:
            return LeaveResult(left=self._store.release(seat), room_id=seat.room_id, ticket_cancelled=False)
        now = self._clock()
        if self._store.fail_ticket(ticket_id_for(family_id, user_id), "cancelled", now):
            return LeaveResult(left=False, room_id=None, ticket_cancelled=True)
        # the worker may have seated the user between the two reads
        seat = self._store.get_seat(family_id, user_id)
        if seat is not None:
            return LeaveResult(left=self._store.release(seat), room_id=seat.room_id, ticket_cancelled=False)
        return LeaveResult(left=False, room_id=None, ticket_cancelled=False)

    def heartbeat(self, room_id: str, user_id: str) -> Seat:
        family_id, _ = family_of(room_id)
        seat = self._store.get_seat(family_id, user_id)
        if seat is None:
            raise NotSeated(room_id, user_id)
        return self._store.touch(seat, self._clock())

    def participants(self, room_id: str, limit: int, cursor: str | None) -> Page[Seat]:
        self._store.get_room(room_id)
        return self._store.list_seats(room_id, limit, cursor)

    def kick(self, room_id: str, host_id: str, user_id: str) -> bool:
        room = self._hosted_room(room_id, host_id)
        seat = self._store.get_seat(room.family_id, user_id)
        kicked = seat is not None and self._store.release(seat)
        self._store.fail_ticket(ticket_id_for(room.family_id, user_id), "kicked", self._clock())
        return kicked

    def close(self, room_id: str, host_id: str) -> Room:
        """Close a room (a main room closes its whole family) and free its seats."""
        return self.close_unchecked(self._hosted_room(room_id, host_id))

    def close_unchecked(self, room: Room, budget_seconds: float | None = None) -> Room:
        """Close without the host check: for the host above, and for the show scheduler at a show's end.

        Every room is closed first, so nobody else gets in; seats are then freed within the time budget
        and housekeeping frees whatever a very large family still holds after it.
        """
        room_id = room.room_id
        targets = self.family(room_id).rooms if room.is_main else [room]
        for target in targets:
            self._store.close_room(target.room_id)
        deadline = time.monotonic() + (CLOSE_BUDGET_SECONDS if budget_seconds is None else budget_seconds)
        for target in targets:
            if not self._store.evict_all(target.room_id, deadline):
                logger.info("seats left for housekeeping to free", extra={"room_id": target.room_id})
                break
        return self._store.get_room(room_id, consistent=True)

    def ticket(self, ticket_id: str, user_id: str) -> Ticket:
        ticket = self._store.get_ticket(ticket_id)
        if ticket is None or ticket.user_id != user_id:
            raise TicketNotFound(ticket_id)
        return ticket

    def _hosted_room(self, room_id: str, host_id: str) -> Room:
        room = self._store.get_room(room_id)
        if room.host_id != host_id:
            raise NotHost(room_id)
        return room
