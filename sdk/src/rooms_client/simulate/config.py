"""What a storm replays: how many users, how they arrive, how many leave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Arrival = Literal["burst", "linear", "poisson"]
ARRIVALS: tuple[Arrival, ...] = ("burst", "linear", "poisson")
# How the users learn they are seated and keep their seats: polling tickets and heartbeating over HTTP,
# or the live connection (pushes, and holds instead of heartbeats).
Transport = Literal["polling", "socket"]
TRANSPORTS: tuple[Transport, ...] = ("polling", "socket")


@dataclass(frozen=True)
class StormConfig:
    users: int = 500
    capacity: int = 100
    concurrency: int = 50  # joins in flight at once; ticket polls and heartbeats are not capped
    arrival: Arrival = "burst"
    duration: float = 10.0  # seconds over which linear and poisson arrivals spread
    leave_rate: float = 0.0  # fraction of seated users that leave again
    leave_after: float = 2.0  # mean seconds a leaving user stays seated
    sample_interval: float = 0.5  # seconds between two reads of the family's occupancy
    join_timeout: float = 120.0  # a user still queued after this counts as timed out
    seed: int | None = None
    title: str = "Celebrity storm"
    close_at_end: bool = False
    transport: Transport = "polling"

    def __post_init__(self) -> None:
        if self.users < 1 or self.capacity < 1 or self.concurrency < 1:
            raise ValueError("users, capacity and concurrency must be at least 1")
        if not 0.0 <= self.leave_rate <= 1.0:
            raise ValueError("leave_rate is a fraction between 0 and 1")
        if self.arrival not in ARRIVALS:
            raise ValueError(f"arrival must be one of {', '.join(ARRIVALS)}")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}")
        if self.duration < 0 or self.sample_interval <= 0 or self.join_timeout <= 0:
            raise ValueError("duration must be >= 0, sample_interval and join_timeout > 0")
