"""What each operation documents it answers: its success, its own error statuses, and those every route shares.

Routes declare their success and the statuses their use case can raise (`answers(RoomOut, 403, 404)`);
`document_errors` then adds what any authenticated route can answer (401, 422, 429, 503, and the rest),
including the bodies API Gateway writes itself, which are not the API's error shape.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

from rooms.api.schemas import ErrorResponse


class GatewayError(BaseModel):
    """The body API Gateway writes itself (its authorizer, throttling, timeouts), before or instead of the API."""

    message: str = Field(description="e.g. Unauthorized, Too Many Requests, Service Unavailable.")


# Every code the API writes in an error body, by the status it comes with. The document lists them in
# each response's `x-error-codes`, so a client checks its error classes against the document.
ERROR_CODES: dict[str, tuple[str, ...]] = {
    "400": ("INVALID_JSON", "INVALID_CURSOR"),
    "401": ("UNAUTHENTICATED",),
    "403": ("NOT_HOST", "NOT_MODERATOR", "PROTECTED_USER", "BANNED", "NOT_GROUP_MEMBER"),
    "404": ("ROOM_NOT_FOUND", "TICKET_NOT_FOUND", "EVENT_NOT_FOUND", "GROUP_NOT_FOUND"),
    "409": (
        "ROOM_CLOSED",
        "ROOM_FULL",
        "NOT_SEATED",
        "EVENT_NOT_EDITABLE",
        "QUOTA_EXCEEDED",
        "REQUEST_IN_PROGRESS",
        "GROUP_CLOSED",
        "GROUP_MEMBER_ELSEWHERE",
        "STAGE_FULL",
    ),
    "415": ("UNSUPPORTED_MEDIA_TYPE",),
    "422": ("VALIDATION_ERROR", "INVALID_SCHEDULE", "IDEMPOTENCY_KEY_REUSED"),
    "503": ("BUSY", "CONTENTION", "OVERFLOW_UNAVAILABLE", "SCHEDULER_UNAVAILABLE"),
    "default": ("INTERNAL",),
}
_ERROR_RESPONSE_REF = {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"}

_ERRORS: dict[int, str] = {
    400: "INVALID_JSON: the body is not JSON (or nested too deep to parse); INVALID_CURSOR: the cursor is not one "
    "this listing returned.",
    403: "NOT_HOST: only the host may do this; NOT_MODERATOR: only the host or a moderator may; PROTECTED_USER: "
    "the host cannot be kicked or banned, a moderator only by the host; BANNED: the caller is banned from this "
    "room family (the message says until when); NOT_GROUP_MEMBER: a wrong invite token, or not the group's "
    "member (its leader, to take it into a room).",
    404: "ROOM_NOT_FOUND, TICKET_NOT_FOUND, EVENT_NOT_FOUND or GROUP_NOT_FOUND (also an expired group).",
    409: "Conflicts with the current state: ROOM_CLOSED, ROOM_FULL, NOT_SEATED, EVENT_NOT_EDITABLE, QUOTA_EXCEEDED "
    "(the host already has as many open rooms or booked shows as one host may: close or cancel one), "
    "REQUEST_IN_PROGRESS (a request with the same Idempotency-Key is still running; retry after Retry-After), "
    "GROUP_CLOSED (the group is full, or was taken into the room) or GROUP_MEMBER_ELSEWHERE (a member holds or "
    "waits for a seat of the family on their own: the group cannot sit together) or STAGE_FULL (every speaker "
    "seat is taken).",
    415: "UNSUPPORTED_MEDIA_TYPE: send the body as application/json (a body without a Content-Type is read as JSON).",
}
_SHARED: dict[str, tuple[str, tuple[type[BaseModel], ...]]] = {
    "401": (
        "No valid bearer token. API Gateway's JWT authorizer answers with its own body, "
        '`{"message": "Unauthorized"}`, and a WWW-Authenticate header; a verified token without a subject '
        "gets UNAUTHENTICATED in the API's error shape.",
        (GatewayError, ErrorResponse),
    ),
    "422": (
        "Invalid input, `field` names it: VALIDATION_ERROR, INVALID_SCHEDULE, IDEMPOTENCY_KEY_REUSED.",
        (ErrorResponse,),
    ),
    "429": ('API Gateway\'s throttling, `{"message": "Too Many Requests"}`: retry with backoff.', (GatewayError,)),
    "503": (
        "Nothing was done; retry after Retry-After: BUSY, CONTENTION, OVERFLOW_UNAVAILABLE, SCHEDULER_UNAVAILABLE. "
        'API Gateway answers `{"message": "Service Unavailable"}` when the function did not answer in time: '
        "then the work may have been done, so retry with the same Idempotency-Key.",
        (ErrorResponse, GatewayError),
    ),
    "default": (
        "Anything else: 500 INTERNAL, or API Gateway's own message (413 Request Entity Too Large, "
        "500 Internal Server Error).",
        (ErrorResponse, GatewayError),
    ),
}


# Statuses API Gateway may answer itself on any route, beside what the route answers with the same status.
_GATEWAY_TOO: dict[str, str] = {
    "400": 'API Gateway answers `{"message": "Bad Request"}` itself to a request it cannot route: a malformed '
    "percent-escape or a path that is not UTF-8.",
}


def errors(*statuses: int) -> dict[int, OpenAPIResponse]:
    """The documented error answers of these statuses, in the API's error shape."""
    return {
        status: {"description": _ERRORS[status], "content": {"application/json": {"model": ErrorResponse}}}
        for status in statuses
    }


def answers(
    model: type[BaseModel], *error_statuses: int, status: int = 200, description: str = "Success."
) -> dict[int, OpenAPIResponse]:
    """A route's documented answers: `status` with `model`, and its own error statuses."""
    success: OpenAPIResponse = {"description": description, "content": {"application/json": {"model": model}}}
    return {status: success, **errors(*error_statuses)}


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Add the answers every route shares, and the error schemas, in place of Powertools' default 422 body."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorResponse, GatewayError):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):  # Powertools' own bodies
        schemas.pop(unused, None)
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, (description, models) in _SHARED.items():
                responses[status] = {"description": description, "content": _content(models)}
            for status, description in _GATEWAY_TOO.items():
                own = responses.get(status)
                if own is None:
                    responses[status] = {"description": description, "content": _content((GatewayError,))}
                else:
                    text = f"{own['description']} {description}"
                    responses[status] = {"description": text, "content": _content((ErrorResponse, GatewayError))}
            _list_error_codes(responses)
    return spec


def _list_error_codes(responses: dict[str, Any]) -> None:
    for status, response in responses.items():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if status in ERROR_CODES and _ERROR_RESPONSE_REF in schema.get("anyOf", [schema]):
            response["x-error-codes"] = list(ERROR_CODES[status])


def _content(models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    refs = [{"$ref": f"#/components/schemas/{model.__name__}"} for model in models]
    return {"application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}}
