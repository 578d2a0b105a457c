"""Settings read from the environment, so the same code runs on AWS, moto or DynamoDB Local."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache


@dataclass(frozen=True)
class Settings:
    table_name: str
    idempotency_table_name: str
    overflow_queue_url: str
    region: str
    max_capacity: int
    heartbeat_interval_seconds: int
    overflow_max_receive_count: int
    max_parallel_rooms: int
    schedule_group: str = "default"
    scheduler_target_arn: str = ""
    scheduler_role_arn: str = ""
    scheduler_dlq_arn: str = ""
    empty_room_grace_seconds: int = 300
    overflow_visibility_timeout_seconds: int = 180
    overflow_dlq_url: str = ""
    # where the minute run hands expiry shards out to the sweepers
    sweep_queue_url: str = ""
    # how far ahead a show may be booked
    max_booking_days_ahead: int = 366
    # HMAC key of pagination cursors (adapters/cursors.py); never printed with the settings
    cursor_secret: str = field(default="", repr=False)
    # per-host quotas: main rooms open at once, and shows booked that have not ended
    max_open_rooms_per_host: int = 20
    max_booked_shows_per_host: int = 50
    # seats of a room per write shard (domain.model.write_shards), and how long an API instance takes a
    # room it saw full for full, sending joins straight to the overflow queue
    seats_per_write_shard: int = 125
    full_room_memory_seconds: float = 1.0

    @property
    def seat_lease_seconds(self) -> int:
        # a seat survives one missed heartbeat; the sweep of the next minute run after the lease ends frees it
        return self.heartbeat_interval_seconds * 2

    @property
    def overflow_delivery_budget_seconds(self) -> int:
        """How long SQS keeps trying one overflow message: every receive, each hidden for the visibility
        timeout. A ticket queued longer than this waits on a dead-lettered (or lost) message."""
        return self.overflow_visibility_timeout_seconds * self.overflow_max_receive_count


@cache
def settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get("ROOMS_TABLE_NAME", "rooms"),
        idempotency_table_name=env.get("ROOMS_IDEMPOTENCY_TABLE_NAME", "rooms-idempotency"),
        overflow_queue_url=env.get("ROOMS_OVERFLOW_QUEUE_URL", ""),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        max_capacity=int(env.get("ROOMS_MAX_CAPACITY", "8000")),
        heartbeat_interval_seconds=int(env.get("ROOMS_HEARTBEAT_INTERVAL_SECONDS", "30")),
        overflow_max_receive_count=int(env.get("ROOMS_OVERFLOW_MAX_RECEIVE_COUNT", "5")),
        max_parallel_rooms=int(env.get("ROOMS_MAX_PARALLEL_ROOMS", "100")),
        schedule_group=env.get("ROOMS_SCHEDULE_GROUP", "default"),
        scheduler_target_arn=env.get("ROOMS_SCHEDULER_TARGET_ARN", ""),
        scheduler_role_arn=env.get("ROOMS_SCHEDULER_ROLE_ARN", ""),
        scheduler_dlq_arn=env.get("ROOMS_SCHEDULER_DLQ_ARN", ""),
        empty_room_grace_seconds=int(env.get("ROOMS_EMPTY_ROOM_GRACE_SECONDS", "300")),
        overflow_visibility_timeout_seconds=int(env.get("ROOMS_OVERFLOW_VISIBILITY_TIMEOUT_SECONDS", "180")),
        overflow_dlq_url=env.get("ROOMS_OVERFLOW_DLQ_URL", ""),
        sweep_queue_url=env.get("ROOMS_SWEEP_QUEUE_URL", ""),
        max_booking_days_ahead=int(env.get("ROOMS_MAX_BOOKING_DAYS_AHEAD", "366")),
        cursor_secret=env.get("ROOMS_CURSOR_SECRET", ""),
        max_open_rooms_per_host=int(env.get("ROOMS_MAX_OPEN_ROOMS_PER_HOST", "20")),
        max_booked_shows_per_host=int(env.get("ROOMS_MAX_BOOKED_SHOWS_PER_HOST", "50")),
        seats_per_write_shard=int(env.get("ROOMS_SEATS_PER_WRITE_SHARD", "125")),
        full_room_memory_seconds=float(env.get("ROOMS_FULL_ROOM_MEMORY_SECONDS", "1.0")),
    )
