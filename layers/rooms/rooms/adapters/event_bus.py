"""Puts lifecycle events on the EventBridge bus (the LifecycleBus port), ten to a PutEvents call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from botocore.config import Config

from rooms.adapters import aws_session
from rooms.config import settings
from rooms.domain.lifecycle import LIFECYCLE_SOURCE, LifecycleEvent

_ENTRIES_MAX = 10  # per PutEvents call


class LifecycleUnpublished(RuntimeError):
    """EventBridge refused some entries (throttled, or failing inside): the change is retried whole."""


class EventBridgeBus:
    def __init__(self, bus_name: str | None = None, client: Any = None) -> None:
        self._bus_name = bus_name or settings().event_bus_name
        if client is not None:
            self._client = client

    @cached_property
    def _client(self) -> Any:
        return aws_session.client(
            "events",
            region_name=settings().region,
            config=Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=2, read_timeout=5),
        )

    def publish(self, events: Sequence[LifecycleEvent]) -> None:
        for start in range(0, len(events), _ENTRIES_MAX):
            entries = [
                {
                    "Source": LIFECYCLE_SOURCE,
                    "DetailType": event.type.value,
                    "Detail": json.dumps(event.detail()),
                    "EventBusName": self._bus_name,
                    "Time": event.at,
                }
                for event in events[start : start + _ENTRIES_MAX]
            ]
            answer = self._client.put_events(Entries=entries)
            if answer.get("FailedEntryCount"):
                codes = sorted({entry["ErrorCode"] for entry in answer["Entries"] if entry.get("ErrorCode")})
                raise LifecycleUnpublished(f"{answer['FailedEntryCount']} of {len(entries)} events refused: {codes}")
