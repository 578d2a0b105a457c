"""What the scheduler function runs: the Scheduler's payload parsed, then open, close or housekeeping, on
the services the function builds once per instance (ScheduledServices, in functions/scheduler/app.py).

Payloads: {"action": "open" | "close", "event_id": "...", "scheduled_time": "<aws.scheduler.scheduled-time>"}
from a show's schedules, and {"action": "housekeeping"} from the every-minute schedule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rooms.config import settings
from rooms.domain.events import Event, ScheduledAction
from rooms.events_service import ShowRunner
from rooms.housekeeping import Housekeeping
from rooms.wiring import Adapters


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


class ScheduledServices:
    """The scheduler function's use cases, each built on first use over one set of adapters and one clock
    (None: the wall clock)."""

    def __init__(self, adapters: Adapters | None = None, clock: Callable[[], datetime] | None = None) -> None:
        self._adapters = adapters or Adapters()
        self._clock = clock

    @cached_property
    def show_runner(self) -> ShowRunner:
        from rooms.service import RoomService

        adapters = self._adapters
        return ShowRunner(
            events=adapters.events,
            rooms=adapters.rooms,
            tickets=adapters.tickets,
            room_service=RoomService(adapters.rooms, adapters.tickets, adapters.publisher, notifier=adapters.notifier),
            max_parallel_rooms=settings().max_parallel_rooms,
        )

    @cached_property
    def housekeeping(self) -> Housekeeping:
        from rooms.adapters.dead_letters import SqsDeadLetters
        from rooms.adapters.sweep_queue import SqsSweepQueue
        from rooms.rebalance import Rebalancer
        from rooms.reconciler import TicketReconciler
        from rooms.service import utcnow

        config, adapters, clock = settings(), self._adapters, self._clock or utcnow
        budget = timedelta(seconds=config.overflow_delivery_budget_seconds)
        return Housekeeping(
            store=adapters.housekeeping,
            rooms=adapters.rooms,
            tickets=adapters.tickets,
            events=adapters.events,
            heartbeat_interval_seconds=config.heartbeat_interval_seconds,
            empty_room_grace_seconds=config.empty_room_grace_seconds,
            sweep_queue=SqsSweepQueue(),
            reconciler=TicketReconciler(
                adapters.rooms, adapters.tickets, adapters.publisher, budget, clock, notifier=adapters.notifier
            ),
            dead_letters=SqsDeadLetters() if config.overflow_dlq_url else None,
            clock=clock,
            notifier=adapters.notifier,
            rebalancer=Rebalancer(
                adapters.rooms,
                clock,
                min_stay=timedelta(seconds=config.rebalance_min_stay_seconds),
                move_interval=timedelta(seconds=config.rebalance_move_interval_seconds),
                notifier=adapters.notifier,
            ),
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


def dispatch(raw: dict[str, Any], services: ScheduledServices) -> dict[str, Any]:
    """Run one scheduled action; raise on failure so the Scheduler retries (every action is idempotent)."""
    payload = ScheduledPayload.model_validate(raw)
    if payload.action == ScheduledAction.HOUSEKEEPING:
        return {"action": payload.action, **asdict(services.housekeeping.run())}
    assert payload.event_id is not None
    if payload.action == ScheduledAction.OPEN:
        event = services.show_runner.open(payload.event_id, payload.scheduled_time)
    else:
        event = services.show_runner.close(payload.event_id, payload.scheduled_time)
    return {"action": payload.action, **_event_summary(event)}
