"""The API function's composition root: its stores and services, built once per Lambda instance and
shared by every route, and the caller's identity."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from rooms.config import settings
from rooms.service import RoomService

if TYPE_CHECKING:  # the adapters read their table's settings at import: they are imported when first built
    from pynamodb.connection import Connection

    from rooms.adapters.event_store import DynamoEventStore
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.events_service import EventService


class Unauthenticated(Exception):
    """No verified subject in the request: the JWT authorizer should have refused it."""


@cache
def _connection() -> Connection:
    from rooms.adapters.dynamo import new_connection

    return new_connection()


@cache
def _rooms() -> DynamoRoomStore:
    from rooms.adapters.room_store import DynamoRoomStore

    return DynamoRoomStore(_connection())


@cache
def _tickets() -> DynamoTicketStore:
    from rooms.adapters.ticket_store import DynamoTicketStore

    return DynamoTicketStore()


@cache
def _events() -> DynamoEventStore:
    from rooms.adapters.event_store import DynamoEventStore

    return DynamoEventStore(_connection())


@cache
def room_service() -> RoomService:
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher

    return RoomService(_rooms(), _tickets(), SqsOverflowPublisher())


@cache
def event_service() -> EventService:
    from rooms.adapters.scheduler import EventBridgeShowScheduler
    from rooms.events_service import EventService, ShowRunner

    config = settings()
    runner = ShowRunner(
        events=_events(),
        rooms=_rooms(),
        tickets=_tickets(),
        room_service=room_service(),
        max_parallel_rooms=config.max_parallel_rooms,
    )
    horizon = timedelta(days=config.max_booking_days_ahead)
    return EventService(_events(), EventBridgeShowScheduler(), runner, booking_horizon=horizon)


def reset() -> None:
    """Forget what was built (tests switch AWS mocks and settings between cases)."""
    for built in (_connection, _rooms, _tickets, _events, room_service, event_service):
        built.cache_clear()


def caller_id(router: APIGatewayHttpRouter) -> str:
    """The verified token's subject. Identity never comes from the request body."""
    claims = router.current_event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated()
    return subject
