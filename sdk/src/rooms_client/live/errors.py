"""Errors of the live connection; both are ``RoomsConnectionError``, as an unreachable HTTP API is."""

from __future__ import annotations

from rooms_client.errors import RoomsConnectionError
from rooms_client.live.events import LiveError, LiveEvent


class LiveConnectionError(RoomsConnectionError):
    """The socket could not be opened (refused, unauthorised, timed out), or was closed for good."""


class LiveTimeoutError(RoomsConnectionError):
    """A ``hold`` or ``watch`` got no reply in time (the socket may be reconnecting)."""


def reply_error(event: LiveEvent) -> Exception:
    """What a request raises when its reply is not the one it asked for: the error frame's typed error."""
    if isinstance(event, LiveError):
        return event.exception()
    return LiveConnectionError(f"unexpected reply {event.type!r}")
