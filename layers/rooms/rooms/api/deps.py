"""The API function's composition root: its use cases, built once per Lambda instance over one set of
adapters and handed to the routes by Powertools' Depends (tests swap them: app.dependency_overrides),
and the caller's identity."""

from __future__ import annotations

from datetime import timedelta
from functools import cache, cached_property
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from rooms.config import settings
from rooms.events_service import EventService
from rooms.groups import GroupService
from rooms.media import MediaProvider, NoMedia
from rooms.service import RoomService
from rooms.wiring import Adapters


class Unauthenticated(Exception):
    """No verified subject in the request: the JWT authorizer should have refused it."""


class ApiServices:
    """The routes' use cases, each built on its first request (the event routes' only when they are used)."""

    def __init__(self, adapters: Adapters | None = None) -> None:
        self._adapters = adapters or Adapters()

    @cached_property
    def rooms(self) -> RoomService:
        adapters = self._adapters
        return RoomService(
            adapters.rooms,
            adapters.tickets,
            adapters.publisher,
            notifier=adapters.notifier,
            promotions=adapters.sweep_queue,
            bans=adapters.bans,
        )

    @cached_property
    def groups(self) -> GroupService:
        adapters = self._adapters
        return GroupService(
            adapters.groups,
            adapters.rooms,
            adapters.tickets,
            adapters.publisher,
            bans=adapters.bans,
            notifier=adapters.notifier,
        )

    @cached_property
    def media(self) -> MediaProvider:
        config = settings()
        if config.media_provider == "livekit":  # imported only then: livekit-api and aiohttp take 0.2 s
            from rooms.adapters.livekit_media import LiveKitMedia

            ttl = timedelta(seconds=config.media_token_ttl_seconds)
            return LiveKitMedia(config.livekit_url, config.livekit_api_key, config.livekit_api_secret, ttl)
        return NoMedia()

    @cached_property
    def events(self) -> EventService:
        from rooms.adapters.scheduler import EventBridgeShowScheduler
        from rooms.events_service import ShowRunner

        config, adapters = settings(), self._adapters
        runner = ShowRunner(
            events=adapters.events,
            rooms=adapters.rooms,
            tickets=adapters.tickets,
            room_service=self.rooms,
            max_parallel_rooms=config.max_parallel_rooms,
        )
        horizon = timedelta(days=config.max_booking_days_ahead)
        return EventService(adapters.events, EventBridgeShowScheduler(), runner, booking_horizon=horizon)


@cache
def api_services() -> ApiServices:
    """The instance's services: Depends caches a dependency for one request only, this keeps them."""
    return ApiServices()


def room_service(services: Annotated[ApiServices, Depends(api_services)]) -> RoomService:
    return services.rooms


def group_service(services: Annotated[ApiServices, Depends(api_services)]) -> GroupService:
    return services.groups


def media_provider(services: Annotated[ApiServices, Depends(api_services)]) -> MediaProvider:
    return services.media


def event_service(services: Annotated[ApiServices, Depends(api_services)]) -> EventService:
    return services.events


# What a route declares to be handed its use cases
Rooms = Annotated[RoomService, Depends(room_service)]
Groups = Annotated[GroupService, Depends(group_service)]
Shows = Annotated[EventService, Depends(event_service)]
Media = Annotated[MediaProvider, Depends(media_provider)]


def caller_id(router: APIGatewayHttpRouter) -> str:
    """The verified token's subject. Identity never comes from the request body."""
    claims = router.current_event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated()
    return subject
