"""What the scheduler function runs: the Scheduler's payload parsed, then open, close or housekeeping.
It is that function's composition root: its stores and services are built here, once per instance.

Payloads: {"action": "open" | "close", "event_id": "...", "scheduled_time": "<aws.scheduler.scheduled-time>"}
from a show's schedules, and {"action": "housekeeping"} from the every-minute schedule.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rooms.config import settings
from rooms.domain.events import Event, ScheduledAction
from rooms.events_service import ShowRunner
from rooms.housekeeping import Housekeeping

if TYPE_CHECKING:  # the adapters read their table's settings at import: they are imported when first built
    from pynamodb.connection import Connection

    from rooms.adapters.event_store import DynamoEventStore
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.ticket_store import DynamoTicketStore


class ScheduledPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")
    action: Literal["open", "close", "housekeeping"]
    event_id: str | None = Field(default=None, min_length=1, max_length=64)
    scheduled_time: datetime | None = None

    @field_validator("scheduled_time", mode="before")
    @classmethod
    def placeholder_is_absent(cls, value: Any) -> Any:
        # outside AWS nothing substitutes the context attribute: treat it as "now"
        return None if isinstance(value, str) and value.startswith("<") else value

    @model_validator(mode="after")
    def event_actions_name_an_event(self) -> ScheduledPayload:
        if self.action != ScheduledAction.HOUSEKEEPING and not self.event_id:
            raise ValueError(f"action {self.action!r} needs an event_id")
        return self


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
def _publisher() -> SqsOverflowPublisher:
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher

    return SqsOverflowPublisher()


@cache
def show_runner() -> ShowRunner:
    from rooms.service import RoomService

    return ShowRunner(
        events=_events(),
        rooms=_rooms(),
        tickets=_tickets(),
        room_service=RoomService(_rooms(), _tickets(), _publisher()),
        max_parallel_rooms=settings().max_parallel_rooms,
    )


@cache
def housekeeping() -> Housekeeping:
    from rooms.adapters.dead_letters import SqsDeadLetters
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.adapters.sweep_queue import SqsSweepQueue
    from rooms.reconciler import TicketReconciler
    from rooms.service import utcnow

    config = settings()
    budget = timedelta(seconds=config.overflow_delivery_budget_seconds)
    return Housekeeping(
        store=DynamoHousekeepingStore(_connection()),
        rooms=_rooms(),
        tickets=_tickets(),
        events=_events(),
        heartbeat_interval_seconds=config.heartbeat_interval_seconds,
        empty_room_grace_seconds=config.empty_room_grace_seconds,
        sweep_queue=SqsSweepQueue(),
        reconciler=TicketReconciler(_rooms(), _tickets(), _publisher(), budget, utcnow),
        dead_letters=SqsDeadLetters() if config.overflow_dlq_url else None,
    )


def _event_summary(event: Event | None) -> dict[str, Any]:
    if event is None:
        return {"event": None}
    return {
        "event_id": event.event_id,
        "status": event.status.value,
        "room_id": event.room_id,
        "provisioned_rooms": event.provisioned_rooms,
    }


def dispatch(raw: dict[str, Any]) -> dict[str, Any]:
    """Run one scheduled action; raise on failure so the Scheduler retries (every action is idempotent)."""
    payload = ScheduledPayload.model_validate(raw)
    if payload.action == ScheduledAction.HOUSEKEEPING:
        return {"action": payload.action, **asdict(housekeeping().run())}
    assert payload.event_id is not None
    if payload.action == ScheduledAction.OPEN:
        event = show_runner().open(payload.event_id, payload.scheduled_time)
    else:
        event = show_runner().close(payload.event_id, payload.scheduled_time)
    return {"action": payload.action, **_event_summary(event)}


def reset() -> None:
    """Forget the built stores and services (tests switch AWS mocks between cases)."""
    for built in (_connection, _rooms, _tickets, _events, _publisher, show_runner, housekeeping):
        built.cache_clear()
