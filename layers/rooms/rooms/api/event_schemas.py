"""Request and response bodies of /events. Their field docs become the OpenAPI spec."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from rooms.api.fields import IsoDateTime, Title
from rooms.api.schemas import Strict
from rooms.config import settings
from rooms.domain.events import Event


def _within_platform_maximum(capacity: int | None) -> int | None:
    maximum = settings().max_capacity
    if capacity is not None and capacity > maximum:
        raise ValueError(f"capacity must be at most {maximum}, the platform maximum")
    return capacity


class CreateEventRequest(Strict):
    title: Title = Field(description="Shown to listeners; also the rooms' title. Trimmed, in NFC.")
    starts_at: IsoDateTime = Field(
        description="ISO 8601 with an offset, in the future, within the booking horizon (a year by default). "
        "Seconds are dropped."
    )
    ends_at: IsoDateTime = Field(description="ISO 8601 with an offset; after starts_at, at most 24 hours later.")
    timezone: str = Field(
        min_length=1, max_length=64, description="IANA zone, e.g. Europe/Paris: a recurring show keeps its wall time."
    )
    capacity: int = Field(ge=1, description="Seats of the main room and of each parallel room.")
    expected_audience: int = Field(
        default=0, ge=0, le=10_000_000, description="Parallel rooms for this many are ready at the start."
    )
    recurrence: Literal["daily", "weekly"] | None = Field(default=None, description="Repeat the show, or null.")

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("timezone must be an IANA time zone name, e.g. Europe/Paris") from None
        return timezone

    @field_validator("capacity")
    @classmethod
    def within_platform_maximum(cls, capacity: int) -> int:
        _within_platform_maximum(capacity)
        return capacity


class UpdateEventRequest(Strict):
    title: Title | None = Field(default=None)
    starts_at: IsoDateTime | None = Field(default=None, description="Move the start (not once it started).")
    ends_at: IsoDateTime | None = Field(default=None, description="Move the end.")
    capacity: int | None = Field(default=None, ge=1, description="Rooms opened from now on get this capacity.")
    expected_audience: int | None = Field(default=None, ge=0, le=10_000_000)

    @field_validator("capacity")
    @classmethod
    def within_platform_maximum(cls, capacity: int | None) -> int | None:
        return _within_platform_maximum(capacity)

    @model_validator(mode="after")
    def changes_something(self) -> UpdateEventRequest:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class EventOut(BaseModel):
    event_id: str
    host_id: str
    title: str
    starts_at: datetime = Field(description="Start of the next (or current) occurrence, UTC.")
    ends_at: datetime
    timezone: str
    capacity: int
    expected_audience: int = Field(description="As booked, plus one per RSVP.")
    recurrence: Literal["daily", "weekly"] | None
    status: Literal["scheduled", "live", "ended", "cancelled"]
    room_id: str | None = Field(description="Main room of the current (or last) occurrence: join it.")
    occurrence: str | None = Field(description="Local start date (YYYYMMDD) of that occurrence.")
    provisioned_rooms: int = Field(description="Parallel rooms made ready at the occurrence's start.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            event_id=event.event_id,
            host_id=event.host_id,
            title=event.title,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            timezone=event.timezone,
            capacity=event.capacity,
            expected_audience=event.expected_audience,
            recurrence=event.recurrence.value if event.recurrence else None,
            status=event.status.value,
            room_id=event.room_id,
            occurrence=event.occurrence,
            provisioned_rooms=event.provisioned_rooms,
            created_at=event.created_at,
            updated_at=event.updated_at,
        )


class EventsOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


class RsvpOut(BaseModel):
    event_id: str
    user_id: str
    counted: bool = Field(description="True when this call counted the caller; a repeated RSVP counts nothing.")
    expected_audience: int
