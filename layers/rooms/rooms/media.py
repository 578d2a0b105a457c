"""Media access: a seat is permission to join an audio room on a media server elsewhere.

The provider mints the caller's credentials for the media room of the seat's room (a parallel room is a
media room of its own). No roles yet: every grant listens (subscribes) and nobody publishes through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rooms.domain.model import Seat


@dataclass(frozen=True)
class MediaAccess:
    provider: str
    url: str
    token: str
    expires_at: datetime


class MediaProvider(Protocol):
    def grant(self, seat: Seat, now: datetime) -> MediaAccess | None:
        """The seat holder's credentials for its room's media room; None when there is no provider."""
        ...


class NoMedia:
    """The default: rooms carry no media, join answers carry none."""

    def grant(self, seat: Seat, now: datetime) -> MediaAccess | None:
        return None
