"""Wiring: the services the routes use, built once per Lambda instance, and the caller's identity."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from rooms.service import RoomService


class Unauthenticated(Exception):
    """No verified subject in the request: the JWT authorizer should have refused it."""


@cache
def room_service() -> RoomService:
    from rooms.adapters.dynamo_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher

    return RoomService(DynamoRoomStore(), SqsOverflowPublisher())


def caller_id(router: APIGatewayHttpRouter) -> str:
    """The verified token's subject. Identity never comes from the request body."""
    claims = router.current_event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated()
    return subject
