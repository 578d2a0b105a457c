"""Settings read from the environment, so the same code runs on AWS, moto or DynamoDB Local.

Each setting is validated against its type and range; a bad value fails with the variable's name and the
value it had (a SettingsError), not with a bare ValueError from deep inside a function's import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails


class SettingsError(ValueError):
    """An environment variable with a value the functions cannot run with."""


class Settings(BaseModel):
    # each field reads the variable named by its alias; tests and tools may also pass fields by name
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    table_name: str = Field("rooms", alias="ROOMS_TABLE_NAME")
    idempotency_table_name: str = Field("rooms-idempotency", alias="ROOMS_IDEMPOTENCY_TABLE_NAME")
    overflow_queue_url: str = Field("", alias="ROOMS_OVERFLOW_QUEUE_URL")
    region: str = Field("us-east-1", validation_alias=AliasChoices("region", "AWS_REGION", "AWS_DEFAULT_REGION"))
    max_capacity: int = Field(8000, gt=0, alias="ROOMS_MAX_CAPACITY")
    heartbeat_interval_seconds: int = Field(30, gt=0, alias="ROOMS_HEARTBEAT_INTERVAL_SECONDS")
    overflow_max_receive_count: int = Field(5, gt=0, alias="ROOMS_OVERFLOW_MAX_RECEIVE_COUNT")
    max_parallel_rooms: int = Field(100, ge=0, alias="ROOMS_MAX_PARALLEL_ROOMS")
    schedule_group: str = Field("default", alias="ROOMS_SCHEDULE_GROUP")
    scheduler_target_arn: str = Field("", alias="ROOMS_SCHEDULER_TARGET_ARN")
    scheduler_role_arn: str = Field("", alias="ROOMS_SCHEDULER_ROLE_ARN")
    scheduler_dlq_arn: str = Field("", alias="ROOMS_SCHEDULER_DLQ_ARN")
    empty_room_grace_seconds: int = Field(300, ge=0, alias="ROOMS_EMPTY_ROOM_GRACE_SECONDS")
    overflow_visibility_timeout_seconds: int = Field(180, ge=0, alias="ROOMS_OVERFLOW_VISIBILITY_TIMEOUT_SECONDS")
    overflow_dlq_url: str = Field("", alias="ROOMS_OVERFLOW_DLQ_URL")
    # where the minute run hands expiry shards out to the sweepers
    sweep_queue_url: str = Field("", alias="ROOMS_SWEEP_QUEUE_URL")
    # how far ahead a show may be booked
    max_booking_days_ahead: int = Field(366, ge=0, alias="ROOMS_MAX_BOOKING_DAYS_AHEAD")
    # HMAC key of pagination cursors (adapters/cursors.py); never printed with the settings
    cursor_secret: str = Field("", alias="ROOMS_CURSOR_SECRET", repr=False)
    # per-host quotas: main rooms open at once, and shows booked that have not ended
    max_open_rooms_per_host: int = Field(20, ge=0, alias="ROOMS_MAX_OPEN_ROOMS_PER_HOST")
    max_booked_shows_per_host: int = Field(50, ge=0, alias="ROOMS_MAX_BOOKED_SHOWS_PER_HOST")
    # seats of a room per write shard (domain.model.write_shards), and how long an API instance takes a
    # room it saw full for full, sending joins straight to the overflow queue
    seats_per_write_shard: int = Field(125, gt=0, alias="ROOMS_SEATS_PER_WRITE_SHARD")
    full_room_memory_seconds: float = Field(1.0, ge=0, alias="ROOMS_FULL_ROOM_MEMORY_SECONDS")
    # the live connection (docs/live.md): how long a closed socket's held seat outlives it (SQS delays
    # its release, 15 minutes at most), and the @connections endpoint pushes go to (empty: no pushes)
    presence_grace_seconds: int = Field(20, ge=1, le=890, alias="ROOMS_PRESENCE_GRACE_SECONDS")
    websocket_endpoint: str = Field("", alias="ROOMS_WEBSOCKET_ENDPOINT")
    # what the WebSocket authorizer checks a token against: the HTTP API's issuer and audience
    jwks_url: str = Field("", alias="ROOMS_JWKS_URL")
    jwt_issuer: str = Field("", alias="ROOMS_JWT_ISSUER")
    jwt_audience: str = Field("", alias="ROOMS_JWT_AUDIENCE")
    # rebalancing (rooms.rebalance): how long a listener sits before it may be moved, and between two moves
    rebalance_min_stay_seconds: int = Field(120, ge=0, alias="ROOMS_REBALANCE_MIN_STAY_SECONDS")
    rebalance_move_interval_seconds: int = Field(600, ge=0, alias="ROOMS_REBALANCE_MOVE_INTERVAL_SECONDS")
    # the EventBridge bus the lifecycle relay publishes to (rooms.domain.lifecycle)
    event_bus_name: str = Field("default", alias="ROOMS_EVENT_BUS_NAME")
    # who mints a seat's media credentials (rooms.media); livekit needs its server's URL, an API key and its secret
    media_provider: Literal["none", "livekit"] = Field("none", alias="ROOMS_MEDIA_PROVIDER")
    livekit_url: str = Field("", alias="ROOMS_LIVEKIT_URL")
    livekit_api_key: str = Field("", alias="ROOMS_LIVEKIT_API_KEY")
    livekit_api_secret: str = Field("", alias="ROOMS_LIVEKIT_API_SECRET", repr=False)
    media_token_ttl_seconds: int = Field(6 * 3600, ge=60, le=24 * 3600, alias="ROOMS_MEDIA_TOKEN_TTL_SECONDS")
    # tries of one DynamoDB call (botocore's standard mode); a user-facing function takes fewer, so that
    # its backoff on a throttled key ends well inside its Lambda timeout with a 503 BUSY the client waits out
    dynamodb_max_attempts: int = Field(5, ge=1, le=10, alias="ROOMS_DYNAMODB_MAX_ATTEMPTS")

    @property
    def dynamodb_retries(self) -> dict[str, Any]:
        """botocore's retry configuration for every DynamoDB client of the function."""
        return {"mode": "standard", "total_max_attempts": self.dynamodb_max_attempts}

    @model_validator(mode="after")
    def _livekit_is_complete(self) -> Settings:
        livekit = {"URL": self.livekit_url, "API_KEY": self.livekit_api_key, "API_SECRET": self.livekit_api_secret}
        missing = [f"ROOMS_LIVEKIT_{name}" for name, value in livekit.items() if not value]
        if self.media_provider == "livekit" and missing:
            raise ValueError(f"ROOMS_MEDIA_PROVIDER=livekit needs {', '.join(missing)}")
        return self

    @property
    def seat_lease_seconds(self) -> int:
        # a seat survives one missed heartbeat; the sweep of the next minute run after the lease ends frees it
        return self.heartbeat_interval_seconds * 2

    @property
    def overflow_delivery_budget_seconds(self) -> int:
        """How long SQS keeps trying one overflow message: every receive, each hidden for the visibility
        timeout. A ticket queued longer than this waits on a dead-lettered (or lost) message."""
        return self.overflow_visibility_timeout_seconds * self.overflow_max_receive_count

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """The settings `environ` gives; SettingsError naming each bad variable and its value."""
        # an empty region variable counts as unset (Lambda sets AWS_REGION; local runs may leave it blank)
        values = {name: value for name, value in environ.items() if value or not name.startswith("AWS_")}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = [_described(problem) for problem in error.errors()]
            raise SettingsError("Bad settings in the environment: " + "; ".join(problems)) from None


def _described(problem: ErrorDetails) -> str:
    # a check across settings has no one variable to name, and its input (every value) may hold secrets
    if not problem["loc"]:
        return problem["msg"].removeprefix("Value error, ")
    return f"{problem['loc'][0]}={problem['input']!r}: {problem['msg']}"


@cache
def settings() -> Settings:
    return Settings.from_environment(os.environ)
