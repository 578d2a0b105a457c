"""The live connection (docs/live.md): pushes of seats and tickets, and presence without heartbeats."""

from rooms_client.live.aio import AsyncLiveConnection
from rooms_client.live.errors import LiveConnectionError, LiveTimeoutError
from rooms_client.live.events import (
    GroupSeated,
    LiveError,
    LiveEvent,
    SeatFreed,
    SeatHeld,
    SeatMoved,
    TicketFailed,
    TicketSeated,
    TicketStatus,
    UnknownEvent,
    parse_frame,
)
from rooms_client.live.state import LiveOptions, LiveStats, ReconnectPolicy
from rooms_client.live.sync import LiveConnection

__all__ = [
    "AsyncLiveConnection",
    "GroupSeated",
    "LiveConnection",
    "LiveConnectionError",
    "LiveError",
    "LiveEvent",
    "LiveOptions",
    "LiveStats",
    "LiveTimeoutError",
    "ReconnectPolicy",
    "SeatFreed",
    "SeatHeld",
    "SeatMoved",
    "TicketFailed",
    "TicketSeated",
    "TicketStatus",
    "UnknownEvent",
    "parse_frame",
]
