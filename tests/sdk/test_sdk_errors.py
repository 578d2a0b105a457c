"""Every API error code maps to its own exception class, under the class of its HTTP status."""

from __future__ import annotations

import httpx
import pytest

from rooms_client import (
    NO_RETRY,
    BadRequestError,
    ConflictError,
    ContentionError,
    EventNotEditableError,
    EventNotFoundError,
    ForbiddenError,
    InternalError,
    InvalidCursorError,
    InvalidJsonError,
    InvalidScheduleError,
    NotFoundError,
    NotHostError,
    NotSeatedError,
    OverflowUnavailableError,
    QuotaExceededError,
    RoomClosedError,
    RoomFullError,
    RoomNotFoundError,
    RoomsApiError,
    RoomsClient,
    SchedulerUnavailableError,
    ServiceUnavailableError,
    ThrottledError,
    TicketNotFoundError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from rooms_client.errors import error_from_response
from tests.sdk.sdk_fakes import error_body


@pytest.mark.parametrize(
    ("status", "code", "cls", "family"),
    [
        (422, "VALIDATION_ERROR", ValidationError, RoomsApiError),
        (400, "INVALID_JSON", InvalidJsonError, BadRequestError),
        (400, "INVALID_CURSOR", InvalidCursorError, BadRequestError),
        (401, "UNAUTHENTICATED", UnauthenticatedError, RoomsApiError),
        (403, "NOT_HOST", NotHostError, ForbiddenError),
        (404, "ROOM_NOT_FOUND", RoomNotFoundError, NotFoundError),
        (404, "TICKET_NOT_FOUND", TicketNotFoundError, NotFoundError),
        (404, "NOT_FOUND", NotFoundError, RoomsApiError),
        (409, "ROOM_CLOSED", RoomClosedError, ConflictError),
        (409, "ROOM_FULL", RoomFullError, ConflictError),
        (409, "NOT_SEATED", NotSeatedError, ConflictError),
        (503, "CONTENTION", ContentionError, ServiceUnavailableError),
        (503, "OVERFLOW_UNAVAILABLE", OverflowUnavailableError, ServiceUnavailableError),
        (500, "INTERNAL", InternalError, RoomsApiError),
        (404, "EVENT_NOT_FOUND", EventNotFoundError, NotFoundError),
        (409, "EVENT_NOT_EDITABLE", EventNotEditableError, ConflictError),
        (409, "QUOTA_EXCEEDED", QuotaExceededError, ConflictError),
        (422, "INVALID_SCHEDULE", InvalidScheduleError, ValidationError),
        (503, "SCHEDULER_UNAVAILABLE", SchedulerUnavailableError, ServiceUnavailableError),
        (415, "UNSUPPORTED_MEDIA_TYPE", UnsupportedMediaTypeError, RoomsApiError),
    ],
)
def test_each_code_has_its_class(status: int, code: str, cls: type, family: type) -> None:
    # GIVEN an error answer in the API's shape
    response = httpx.Response(status, json=error_body(code, "what went wrong", "capacity"))
    # WHEN it is mapped
    error = error_from_response(response, retry_after=1.0)
    # THEN the class is the code's, under its status family, with every field kept
    assert type(error) is cls
    assert isinstance(error, family)
    assert (error.status, error.code, error.message, error.field) == (
        status,
        code,
        "what went wrong",
        "capacity",
    )
    assert error.retry_after == 1.0
    assert code in str(error) and "capacity" in str(error)


@pytest.mark.parametrize(
    ("status", "body", "cls", "code", "message"),
    [
        (401, {"message": "Unauthorized"}, UnauthenticatedError, "UNAUTHENTICATED", "Unauthorized"),
        (429, {"message": "Too Many Requests"}, ThrottledError, "THROTTLED", "Too Many Requests"),
        (404, {"message": "Not Found"}, NotFoundError, "NOT_FOUND", "Not Found"),
        (403, {"message": "Forbidden"}, ForbiddenError, "FORBIDDEN", "Forbidden"),
    ],
)
def test_api_gateway_own_answers(status: int, body: dict, cls: type, code: str, message: str) -> None:
    error = error_from_response(httpx.Response(status, json=body))
    assert type(error) is cls
    assert (error.code, error.message) == (code, message)


def test_a_code_this_sdk_does_not_know_gets_its_status_class() -> None:
    error = error_from_response(httpx.Response(404, json=error_body("PLAYLIST_NOT_FOUND")))
    assert type(error) is NotFoundError
    assert error.code == "PLAYLIST_NOT_FOUND"


def test_a_non_json_answer_keeps_status_and_text() -> None:
    error = error_from_response(httpx.Response(502, text="<html>Bad Gateway</html>"))
    assert isinstance(error, InternalError)
    assert error.status == 502 and "Bad Gateway" in error.message
    odd = error_from_response(httpx.Response(418, text=""))
    assert type(odd) is RoomsApiError and odd.code == "HTTP_418"


def test_the_client_raises_the_typed_error() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(409, json=error_body("ROOM_CLOSED", "closed")))
    with (
        RoomsClient("http://api.test", "tok", transport=transport, retry=NO_RETRY) as rooms,
        pytest.raises(RoomClosedError) as raised,
    ):
        rooms.join("r_1")
    assert raised.value.status == 409


def test_every_code_the_api_answers_with_has_its_own_class() -> None:
    # GIVEN every code the server can put in an error body: the domain's errors and the resolver's own
    import inspect
    import re

    from rooms.api import resolver
    from rooms.domain import errors as domain_errors
    from rooms_client.errors import error_class

    domain_codes = {
        cls.code
        for _, cls in inspect.getmembers(domain_errors, inspect.isclass)
        if issubclass(cls, domain_errors.RoomsError) and cls is not domain_errors.RoomsError
    }
    resolver_codes = set(re.findall(r'error_response\(\s*\d{3},\s*"([A-Z_]+)"', inspect.getsource(resolver)))
    assert {"VALIDATION_ERROR", "INTERNAL", "IDEMPOTENCY_KEY_REUSED"} <= resolver_codes and "BUSY" in domain_codes
    # THEN the SDK knows each one by name, not only by its status
    unknown = {code for code in domain_codes | resolver_codes if error_class(500, code).code != code}
    assert unknown == set()
