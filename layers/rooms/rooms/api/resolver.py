"""The API resolver: routers, one JSON error shape for every failure, and the OpenAPI document."""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from rooms.api import events_routes, groups_routes, rooms_routes, tickets_routes
from rooms.api.deps import Unauthenticated
from rooms.api.gateway_event import JSON_MEDIA_TYPE, GatewayResolver
from rooms.api.idempotency import KeyInProgress, KeyReused
from rooms.api.responses import document_errors
from rooms.api.schemas import ErrorDetail, ErrorResponse
from rooms.domain import errors

logger = logging.getLogger(__name__)

API_TITLE = "Rooms API"
API_VERSION = "1.0.0"
# The document changes only with a deploy: clients and caches may keep it a while.
OPENAPI_CACHE_CONTROL = "public, max-age=300"

_STATUS: dict[type[errors.RoomsError], int] = {
    errors.RoomNotFound: 404,
    errors.TicketNotFound: 404,
    errors.NotHost: 403,
    errors.Banned: 403,
    errors.NotModerator: 403,
    errors.ProtectedUser: 403,
    errors.RoomClosed: 409,
    errors.RoomFull: 409,
    errors.NotSeated: 409,
    errors.Contention: 503,
    errors.Busy: 503,
    errors.OverflowUnavailable: 503,
    errors.InvalidCursor: 400,
    errors.EventNotFound: 404,
    errors.NotEventHost: 403,
    errors.EventNotEditable: 409,
    errors.InvalidSchedule: 422,
    errors.SchedulerUnavailable: 503,
    errors.QuotaExceeded: 409,
    errors.GroupNotFound: 404,
    errors.NotGroupMember: 403,
    errors.GroupClosed: 409,
    errors.GroupMemberElsewhere: 409,
    errors.StageFull: 409,
}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response[str]:
    body = ErrorResponse(error=ErrorDetail(code=code, message=message, field=field))
    return Response(status, "application/json", body.model_dump_json(exclude_none=True), headers=headers)


def _field_of(location: tuple[Any, ...]) -> str:
    # ("body", "capacity") -> "capacity"; ("query", "limit") -> "limit"
    parts = [str(part) for part in location[1:]] or [str(part) for part in location]
    return ".".join(parts)


def build_resolver() -> APIGatewayHttpResolver:
    app = GatewayResolver()
    app.include_router(rooms_routes.router)
    app.include_router(groups_routes.router)
    app.include_router(tickets_routes.router)
    app.include_router(events_routes.router)

    @cache
    def document() -> str:
        # built once per instance, on first use: the same text as the committed docs/openapi.json
        return openapi_json(app)

    @app.get("/openapi.json", include_in_schema=False, cache_control=OPENAPI_CACHE_CONTROL)
    def openapi() -> Response[str]:
        return Response(200, "application/json", document())

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[str]:
        first = error.errors()[0] if error.errors() else {}
        location = tuple(first.get("loc", ()))
        field = _field_of(location) if location else None
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")  # pydantic's prefix
        if first.get("type") == "json_invalid":
            return error_response(400, "INVALID_JSON", "The request body is not valid JSON.", "body")
        detail = f"{field}: {message}" if field else message
        return error_response(422, "VALIDATION_ERROR", detail, field)

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_media_type(_: RequestUnsupportedContentType) -> Response[str]:
        message = "Send the body as application/json (or without a Content-Type, it is then read as JSON)."
        return error_response(415, "UNSUPPORTED_MEDIA_TYPE", message, "body", headers={"Accept": JSON_MEDIA_TYPE})

    @app.exception_handler(errors.RoomsError)
    def domain_error(error: errors.RoomsError) -> Response[str]:
        status = _STATUS.get(type(error), 400)
        headers = {"Retry-After": "1"} if status == 503 else None
        field = error.field if isinstance(error, errors.InvalidSchedule) else None
        return error_response(status, error.code, error.message, field, headers=headers)

    @app.exception_handler(errors.Busy)
    def busy(error: errors.Busy) -> Response[str]:
        logger.warning("overloaded", exc_info=error)
        return domain_error(error)

    @app.exception_handler(KeyReused)
    def key_reused(_: Exception) -> Response[str]:
        message = "This Idempotency-Key was already used with a different body; use a new key for a new request."
        return error_response(422, "IDEMPOTENCY_KEY_REUSED", message, "Idempotency-Key")

    @app.exception_handler(KeyInProgress)
    def key_in_progress(_: Exception) -> Response[str]:
        message = "A request with this Idempotency-Key is still in progress; retry shortly."
        return error_response(409, "REQUEST_IN_PROGRESS", message, headers={"Retry-After": "1"})

    @app.exception_handler(Unauthenticated)
    def unauthenticated(_: Unauthenticated) -> Response[str]:
        return error_response(401, "UNAUTHENTICATED", "A valid bearer token with a subject is required.")

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return error_response(500, "INTERNAL", "Something failed on our side; it was logged. Retry later.")

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return error_response(404, "NOT_FOUND", "No such route; see GET /openapi.json.")

    return app


def openapi_json(app: APIGatewayHttpResolver) -> str:
    # the OpenAPI document's own models: only this route needs them
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    spec = json.loads(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            description="Room orchestration for live audio: per-room caps, overflow to parallel rooms, shows. "
            "Every route but this document needs a bearer JWT; the caller is its `sub`. Request bodies are JSON "
            "objects, sent as application/json (or without a Content-Type). Path parameters are percent-encoded "
            "segments: user `auth0|abc` is `/participants/auth0%7Cabc`.",
            security_schemes={"bearerJwt": HTTPBearer(bearerFormat="JWT")},
            security=[{"bearerJwt": []}],
        )
    )
    return json.dumps(document_errors(spec), indent=2)
