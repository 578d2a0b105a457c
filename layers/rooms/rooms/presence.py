"""The live connection's use cases (docs/live.md): a socket opens and closes, and its messages `hold` a
seat (no heartbeats while it is open) and `watch` a ticket.

A held seat's lease runs to the connection's latest possible end plus the grace. When the socket closes
its lease is cut to now + grace, only while this connection still holds it, and a release is queued,
delayed by the grace: the sweeper frees the seat then, unless a reconnect held it again meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from rooms.api.schemas import TicketOut
from rooms.domain.errors import NotSeated, RoomsError
from rooms.domain.live import SEAT_HELD, TICKET_STATUS, Connection, Frame, error_frame, frame, held_until, stamp
from rooms.ports import ConnectionStore, ReleaseQueue, SeatHolds
from rooms.service import RoomService, utcnow

logger = logging.getLogger(__name__)
# the HTTP API's code for input it cannot take (its 422)
VALIDATION_ERROR = "VALIDATION_ERROR"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Hold(_Message):
    action: Literal["hold"]
    room_id: str = Field(min_length=1, max_length=64)


class Watch(_Message):
    action: Literal["watch"]
    ticket_id: str = Field(min_length=1, max_length=64)


class Ping(_Message):
    """API Gateway absorbs it (its own route); a gateway that passes it on gets no reply."""

    action: Literal["ping"]


_MESSAGE: TypeAdapter[Hold | Watch | Ping] = TypeAdapter(Annotated[Hold | Watch | Ping, Field(discriminator="action")])


class Presence:
    def __init__(
        self,
        *,
        connections: ConnectionStore,
        holds: SeatHolds,
        rooms: RoomService,
        releases: ReleaseQueue,
        grace_seconds: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._connections = connections
        self._holds = holds
        self._rooms = rooms
        self._releases = releases
        self._grace_seconds = grace_seconds
        self._grace = timedelta(seconds=grace_seconds)
        self._clock = clock

    def connect(self, user_id: str, connection_id: str, connected_at: datetime | None = None) -> Connection:
        connection = Connection(user_id, connection_id, connected_at or self._clock())
        self._connections.record(connection)
        return connection

    def disconnect(self, user_id: str, connection_id: str) -> bool:
        """Forget the connection; a seat it held gets the grace, then the sweeper's release. True when a
        seat was let go. Never raises: API Gateway does nothing with `$disconnect`'s answer."""
        try:
            old = self._connections.forget(user_id, connection_id)
            if old is None or old.holds_room is None:
                return False
            if not self._holds.let_go(old.holds_room, user_id, connection_id, self._clock() + self._grace):
                return False  # left, kicked, or a newer connection holds it: not this socket's to let go
            # one second past the grace, so the lease has ended when the sweeper reads it
            self._releases.release_later(old.holds_room, user_id, self._grace_seconds + 1)
            return True
        except Exception:
            # the seat keeps the lease it has (the grace, or the hold's): the minute sweep frees it then
            logger.exception("disconnect left its seat to the minute sweep", extra={"connection_id": connection_id})
            return False

    def message(
        self, user_id: str, connection_id: str, body: str | None, connected_at: datetime | None
    ) -> Frame | None:
        """The reply frame to one client message (none to a ping); an `error` frame for anything that
        cannot be taken."""
        now = self._clock()
        try:
            request = _MESSAGE.validate_json(body or "")
        except ValidationError as error:
            problem = error.errors()[0]
            field = ".".join(str(part) for part in problem["loc"][1:]) or None
            return error_frame(VALIDATION_ERROR, f"{problem['msg']}.", now, field)
        try:
            if isinstance(request, Hold):
                return self._hold(user_id, connection_id, request.room_id, connected_at)
            if isinstance(request, Watch):
                return self._watch(user_id, connection_id, request.ticket_id)
            return None
        except RoomsError as error:
            return error_frame(error.code, error.message, self._clock())

    def _hold(self, user_id: str, connection_id: str, room_id: str, connected_at: datetime | None) -> Frame:
        connection = Connection(user_id, connection_id, connected_at or self._opened_at(user_id, connection_id))
        until = held_until(connection, self._grace)
        seat = self._holds.hold(room_id, user_id, connection_id, until)
        if seat is None:
            raise NotSeated(room_id, user_id)
        self._connections.set_hold(user_id, connection_id, room_id)
        data = {"room_id": seat.room_id, "user_id": user_id, "held_until": stamp(seat.expires_at)}
        return frame(SEAT_HELD, data, self._clock())

    def _watch(self, user_id: str, connection_id: str, ticket_id: str) -> Frame:
        ticket = self._rooms.ticket(ticket_id, user_id)  # TicketNotFound unless it is the caller's
        self._connections.set_watch(user_id, connection_id, ticket_id)
        return frame(TICKET_STATUS, TicketOut.of(ticket).model_dump(mode="json"), self._clock())

    def _opened_at(self, user_id: str, connection_id: str) -> datetime:
        """When the connection opened, from its record (an event without `connectedAt`); now if unknown,
        which leases the seat no longer than a connection opened now could live."""
        for connection in self._connections.connections_of(user_id):
            if connection.connection_id == connection_id:
                return connection.connected_at
        return self._clock()
