"""Routes under /events: book, read, list, move and cancel scheduled shows, and RSVP to them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from rooms.api.deps import Shows, caller_id
from rooms.api.event_schemas import CreateEventRequest, EventOut, EventsOut, RsvpOut, UpdateEventRequest
from rooms.api.idempotency import IdempotencyKey, run_once, run_once_context
from rooms.api.responses import answers
from rooms.domain.events import Recurrence
from rooms.events_service import EventChanges

router = APIGatewayHttpRouter()
metrics = Metrics()

EventId = Annotated[str, Path(min_length=1, max_length=64, description="An event id, e.g. e_0123456789abcdef.")]


@router.post(
    "/events",
    summary="Book a show; the caller is its host.",
    description="Schedules open the show's main room (and the parallel rooms its expected audience needs) "
    "at starts_at and close them at ends_at. Send an `Idempotency-Key` header to make retries safe.",
    tags=["events"],
    responses=answers(
        EventOut, 400, 409, 415, status=201, description="The show, booked (or the one this key booked)."
    ),
)
def create_event(
    request: CreateEventRequest, service: Shows, idempotency_key: IdempotencyKey = None
) -> Response[EventOut]:
    host_id = caller_id(router)

    def book() -> EventOut:
        event = service.create(
            host_id=host_id,
            title=request.title,
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            timezone=request.timezone,
            capacity=request.capacity,
            expected_audience=request.expected_audience,
            recurrence=Recurrence(request.recurrence) if request.recurrence else None,
        )
        metrics.add_metric(name="EventsBooked", unit=MetricUnit.Count, value=1)
        return EventOut.of(event)

    run_once_context(router.lambda_context)
    payload = request.model_dump(mode="json")
    event = run_once(
        idempotency_key, operation="create_event", caller=host_id, payload=payload, model=EventOut, work=book
    )
    return Response(201, "application/json", event, headers={"Location": f"/events/{event.event_id}"})


@router.get(
    "/events",
    summary="The caller's shows that are not over yet, by start time.",
    tags=["events"],
    responses=answers(EventsOut, 400),
)
def list_events(
    service: Shows,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> EventsOut:
    page = service.upcoming(caller_id(router), limit, cursor)
    return EventsOut(events=[EventOut.of(event) for event in page.items], next_cursor=page.next_cursor)


@router.get(
    "/events/<event_id>",
    summary="Read a show; room_id is where to join once it is live.",
    tags=["events"],
    responses=answers(EventOut, 404),
)
def get_event(event_id: EventId, service: Shows) -> EventOut:
    caller_id(router)
    return EventOut.of(service.get(event_id))


@router.patch(
    "/events/<event_id>",
    summary="Move a show or change it (host only).",
    tags=["events"],
    responses=answers(EventOut, 400, 403, 404, 409, 415),
)
def update_event(event_id: EventId, request: UpdateEventRequest, service: Shows) -> EventOut:
    changes = EventChanges(
        title=request.title,
        starts_at=request.starts_at,
        ends_at=request.ends_at,
        capacity=request.capacity,
        expected_audience=request.expected_audience,
    )
    return EventOut.of(service.update(event_id, caller_id(router), changes))


@router.delete(
    "/events/<event_id>",
    summary="Cancel a show (host only); a live show's rooms close now.",
    tags=["events"],
    responses=answers(EventOut, 403, 404, 409),
)
def cancel_event(event_id: EventId, service: Shows) -> EventOut:
    return EventOut.of(service.cancel(event_id, caller_id(router)))


@router.post(
    "/events/<event_id>/rsvp",
    summary="Say you will come: counts once per user.",
    tags=["events"],
    responses=answers(RsvpOut, 404, 409),
)
def rsvp_event(event_id: EventId, service: Shows) -> RsvpOut:
    user_id = caller_id(router)
    counted, event = service.rsvp(event_id, user_id)
    return RsvpOut(event_id=event_id, user_id=user_id, counted=counted, expected_audience=event.expected_audience)
