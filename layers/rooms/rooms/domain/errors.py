"""Domain errors. Each carries a stable code that clients switch on; HTTP mapping lives in the API."""

from __future__ import annotations

from datetime import datetime


class RoomsError(Exception):
    code = "ROOMS_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RoomNotFound(RoomsError):
    code = "ROOM_NOT_FOUND"

    def __init__(self, room_id: str) -> None:
        super().__init__(f"Room {room_id!r} does not exist.")
        self.room_id = room_id


class RoomClosed(RoomsError):
    code = "ROOM_CLOSED"

    def __init__(self, room_id: str) -> None:
        super().__init__(f"Room {room_id!r} is closed; it admits nobody.")
        self.room_id = room_id


class RoomFull(RoomsError):
    code = "ROOM_FULL"

    def __init__(self, room_id: str, capacity: int) -> None:
        super().__init__(f"Room {room_id!r} is full ({capacity} participants).")
        self.room_id = room_id
        self.capacity = capacity


class NotHost(RoomsError):
    code = "NOT_HOST"

    def __init__(self, room_id: str) -> None:
        super().__init__(f"Only the host of room {room_id!r} may do this.")


class NotSeated(RoomsError):
    code = "NOT_SEATED"

    def __init__(self, room_id: str, user_id: str) -> None:
        super().__init__(f"User {user_id!r} holds no seat in room {room_id!r}; join it first.")


class TicketNotFound(RoomsError):
    code = "TICKET_NOT_FOUND"

    def __init__(self, ticket_id: str) -> None:
        super().__init__(f"Ticket {ticket_id!r} does not exist or is not yours.")


class Contention(RoomsError):
    """Too many concurrent writers on one item; safe to retry (every write is idempotent)."""

    code = "CONTENTION"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is under heavy contention; retry shortly.")


class Busy(RoomsError):
    """AWS throttled the request (or concurrent transactions outlasted every retry): nothing was done,
    the same request is safe to repeat after a short wait. Adapters raise it; callers never see AWS's errors."""

    code = "BUSY"

    def __init__(self) -> None:
        super().__init__("The service is busy (throttled); nothing was done. Retry after the Retry-After delay.")


class OverflowUnavailable(RoomsError):
    """The overflow queue could not take the ticket; nothing was recorded, retry is safe."""

    code = "OVERFLOW_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("The overflow queue is unavailable; retry the join shortly.")


class InvalidCursor(RoomsError):
    code = "INVALID_CURSOR"

    def __init__(self) -> None:
        super().__init__("cursor is not one this API returned; start again without it.")


class EventNotFound(RoomsError):
    code = "EVENT_NOT_FOUND"

    def __init__(self, event_id: str) -> None:
        super().__init__(f"Event {event_id!r} does not exist.")
        self.event_id = event_id


class InvalidSchedule(RoomsError):
    """Times that cannot be booked: ends before it starts, starts in the past, unknown zone."""

    code = "INVALID_SCHEDULE"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotEventHost(RoomsError):
    code = "NOT_HOST"

    def __init__(self, event_id: str) -> None:
        super().__init__(f"Only the host of event {event_id!r} may do this.")


class EventNotEditable(RoomsError):
    code = "EVENT_NOT_EDITABLE"

    def __init__(self, event_id: str, status: str, what: str = "changed") -> None:
        super().__init__(f"Event {event_id!r} is {status}; it cannot be {what}.")


class SchedulerUnavailable(RoomsError):
    """The Scheduler refused or failed; nothing was booked (or changed), retry is safe."""

    code = "SCHEDULER_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__("The show scheduler is unavailable; retry shortly.")


class QuotaExceeded(RoomsError):
    """The host already has as many open rooms (or booked shows) as one host may; nothing was created."""

    code = "QUOTA_EXCEEDED"

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"You already have {limit} {what}, the most one host may have; close or cancel one first.")
        self.limit = limit


class Banned(RoomsError):
    code = "BANNED"

    def __init__(self, family_id: str, user_id: str, until: datetime | None) -> None:
        self.until = until
        ends = f"until {until.isoformat()}" if until is not None else "for the life of the room"
        super().__init__(f"User {user_id!r} is banned from room {family_id!r} and its parallel rooms {ends}.")


class NotModerator(RoomsError):
    code = "NOT_MODERATOR"

    def __init__(self, room_id: str) -> None:
        super().__init__(f"Only the host or a moderator of room {room_id!r} may do this.")


class ProtectedUser(RoomsError):
    code = "PROTECTED_USER"

    def __init__(self, user_id: str) -> None:
        super().__init__(f"User {user_id!r} cannot be kicked or banned: the host never, a moderator only by the host.")


class GroupNotFound(RoomsError):
    code = "GROUP_NOT_FOUND"

    def __init__(self, group_id: str) -> None:
        super().__init__(f"Group {group_id!r} does not exist in this room's family, or has expired.")


class NotGroupMember(RoomsError):
    """The invite token is wrong, or the caller is not in the group (or, to seat it, not its leader)."""

    code = "NOT_GROUP_MEMBER"

    def __init__(self, group_id: str, what: str) -> None:
        super().__init__(f"Group {group_id!r}: {what}.")


class GroupClosed(RoomsError):
    """The group takes no more members: it is full, or its leader already took it into the room."""

    code = "GROUP_CLOSED"

    def __init__(self, group_id: str, why: str) -> None:
        super().__init__(f"Group {group_id!r} takes no more members: {why}.")


class GroupMemberElsewhere(RoomsError):
    """A member holds a seat of the family apart from the group, or waits for one on their own: the group
    cannot sit together."""

    code = "GROUP_MEMBER_ELSEWHERE"

    def __init__(self, group_id: str, user_ids: list[str]) -> None:
        super().__init__(
            f"Group {group_id!r} cannot be seated together: {', '.join(sorted(user_ids))} already hold or wait "
            "for a seat in this room's family on their own; they leave it first."
        )
        self.user_ids = user_ids


class StageFull(RoomsError):
    """Every speaker seat of the main room is taken (or it has none)."""

    code = "STAGE_FULL"

    def __init__(self, room_id: str, seats: int) -> None:
        super().__init__(f"Room {room_id!r} has no free speaker seat (it keeps {seats}); a speaker steps down first.")
