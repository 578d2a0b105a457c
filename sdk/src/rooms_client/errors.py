"""Typed errors: one class per API error code, grouped under a class per HTTP status.

Catch a status class (``NotFoundError``) to handle a family of codes, or a code class
(``RoomNotFoundError``) to handle one. A code this SDK does not know yet still gets the
class of its status, so a newer server never turns into an untyped failure.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from rooms_client.models import Ticket


class RoomsError(Exception):
    """Base of every error this SDK raises."""


class RoomsApiError(RoomsError):
    """The API answered with an error: its HTTP status and the body's code, message and field."""

    status_code = 0
    code = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status if status is not None else self.status_code
        self.code = code or self.code
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        return f"{self.status} {self.code}: {self.message}{where}"


class BadRequestError(RoomsApiError):
    status_code, code = 400, "BAD_REQUEST"


class InvalidJsonError(BadRequestError):
    code = "INVALID_JSON"


class InvalidCursorError(BadRequestError):
    code = "INVALID_CURSOR"


class UnauthenticatedError(RoomsApiError):
    status_code, code = 401, "UNAUTHENTICATED"


class ForbiddenError(RoomsApiError):
    status_code, code = 403, "FORBIDDEN"


class NotHostError(ForbiddenError):
    code = "NOT_HOST"


class NotModeratorError(ForbiddenError):
    code = "NOT_MODERATOR"


class ProtectedUserError(ForbiddenError):
    code = "PROTECTED_USER"


class BannedError(ForbiddenError):
    """The caller is banned from this room family (the message says until when)."""

    code = "BANNED"


class NotFoundError(RoomsApiError):
    status_code, code = 404, "NOT_FOUND"


class NotGroupMemberError(ForbiddenError):
    """A wrong invite token, or not the group's member (its leader, to take it into a room)."""

    code = "NOT_GROUP_MEMBER"


class GroupNotFoundError(NotFoundError):
    """No such group in this room's family, or it expired (a day after it was made)."""

    code = "GROUP_NOT_FOUND"


class RoomNotFoundError(NotFoundError):
    code = "ROOM_NOT_FOUND"


class TicketNotFoundError(NotFoundError):
    code = "TICKET_NOT_FOUND"


class EventNotFoundError(NotFoundError):
    code = "EVENT_NOT_FOUND"


class ConflictError(RoomsApiError):
    status_code, code = 409, "CONFLICT"


class RoomClosedError(ConflictError):
    code = "ROOM_CLOSED"


class GroupClosedError(ConflictError):
    """The group takes no more members: it is full, or its leader took it into the room."""

    code = "GROUP_CLOSED"


class GroupMemberElsewhereError(ConflictError):
    """A member holds or waits for a seat of the family on their own: the group cannot sit together."""

    code = "GROUP_MEMBER_ELSEWHERE"


class StageFullError(ConflictError):
    """Every speaker seat of the main room is taken (or it keeps none)."""

    code = "STAGE_FULL"


class RoomFullError(ConflictError):
    code = "ROOM_FULL"


class NotSeatedError(ConflictError):
    code = "NOT_SEATED"


class EventNotEditableError(ConflictError):
    code = "EVENT_NOT_EDITABLE"


class QuotaExceededError(ConflictError):
    """The host already has as many open rooms (or booked shows) as one host may: close or cancel one."""

    code = "QUOTA_EXCEEDED"


class RequestInProgressError(ConflictError):
    """A create with the same Idempotency-Key is still running; retry after Retry-After."""

    code = "REQUEST_IN_PROGRESS"


class ValidationError(RoomsApiError):
    status_code, code = 422, "VALIDATION_ERROR"


class IdempotencyKeyReusedError(ValidationError):
    """The Idempotency-Key was used before with a different body: use a new key for a new request."""

    code = "IDEMPOTENCY_KEY_REUSED"


class InvalidScheduleError(ValidationError):
    """A show's times cannot be booked: ends before it starts, starts in the past, unknown zone."""

    code = "INVALID_SCHEDULE"


class UnsupportedMediaTypeError(RoomsApiError):
    """415: a body that is not application/json. The SDK always sends JSON; a hand-made request may not."""

    status_code, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class ThrottledError(RoomsApiError):
    """429 from API Gateway's throttling: retried by the client before it reaches you."""

    status_code, code = 429, "THROTTLED"


class InternalError(RoomsApiError):
    status_code, code = 500, "INTERNAL"


class ServiceUnavailableError(RoomsApiError):
    """503: nothing was recorded; the client retries it after Retry-After."""

    status_code, code = 503, "SERVICE_UNAVAILABLE"


class ContentionError(ServiceUnavailableError):
    code = "CONTENTION"


class BusyError(ServiceUnavailableError):
    """The service was throttled; nothing was done."""

    code = "BUSY"


class OverflowUnavailableError(ServiceUnavailableError):
    code = "OVERFLOW_UNAVAILABLE"


class SchedulerUnavailableError(ServiceUnavailableError):
    code = "SCHEDULER_UNAVAILABLE"


class RoomsConnectionError(RoomsError):
    """The API could not be reached (after the retries): connection refused, reset or timed out."""


class TicketFailedError(RoomsError):
    """An overflow ticket ended failed; ``reason`` says why (room_closed, family_full, cancelled...)."""

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"ticket {ticket.ticket_id} failed: {ticket.reason or 'no reason given'}")
        self.ticket = ticket
        self.reason = ticket.reason


class JoinTimeoutError(RoomsError):
    """The ticket was still queued when the caller's timeout ran out; it stays valid on the server."""

    def __init__(self, ticket: Ticket, timeout: float) -> None:
        super().__init__(f"ticket {ticket.ticket_id} still {ticket.status} after {timeout:g} s")
        self.ticket = ticket
        self.timeout = timeout


# The class of each HTTP status, and of each code the API documents under one (docs/openapi.json).
STATUS_CLASSES: tuple[type[RoomsApiError], ...] = (
    BadRequestError,
    UnauthenticatedError,
    ForbiddenError,
    NotFoundError,
    ConflictError,
    ValidationError,
    UnsupportedMediaTypeError,
    ThrottledError,
    InternalError,
    ServiceUnavailableError,
)
CODE_CLASSES: tuple[type[RoomsApiError], ...] = (
    InvalidJsonError,
    InvalidCursorError,
    NotHostError,
    NotModeratorError,
    ProtectedUserError,
    BannedError,
    NotGroupMemberError,
    RoomNotFoundError,
    GroupNotFoundError,
    TicketNotFoundError,
    EventNotFoundError,
    RoomClosedError,
    RoomFullError,
    NotSeatedError,
    EventNotEditableError,
    RequestInProgressError,
    QuotaExceededError,
    GroupClosedError,
    GroupMemberElsewhereError,
    StageFullError,
    InvalidScheduleError,
    IdempotencyKeyReusedError,
    ContentionError,
    BusyError,
    OverflowUnavailableError,
    SchedulerUnavailableError,
)
_BY_STATUS = {cls.status_code: cls for cls in STATUS_CLASSES}
_BY_CODE = {cls.code: cls for cls in (*STATUS_CLASSES, *CODE_CLASSES)}


def error_class(status: int, code: str | None) -> type[RoomsApiError]:
    """The most specific class for a code, else the class of its status, else the base class."""
    if code and code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return InternalError
    return RoomsApiError


def error_from_response(response: httpx.Response, retry_after: float | None = None) -> RoomsApiError:
    """Map an error response to its typed exception.

    Understands the API's ``{"error": {code, message, field}}`` and API Gateway's own
    ``{"message": "Unauthorized"}`` / ``{"message": "Too Many Requests"}``; anything else
    (an HTML 502 from a proxy) keeps its status and a trimmed body as the message.
    """
    status = response.status_code
    body: Any
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = response.text
    code: str | None = None
    field: str | None = None
    message = response.reason_phrase or f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        detail = body["error"]
        code = str(detail.get("code") or "") or None
        message = str(detail.get("message") or message)
        field = detail.get("field") if isinstance(detail.get("field"), str) else None
    elif isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:200]
    cls = error_class(status, code)
    code = code or (cls.code if cls is not RoomsApiError else f"HTTP_{status}")
    return cls(message, status=status, code=code, field=field, retry_after=retry_after, body=body)
