"""Pushes frames to users' live connections through API Gateway's @connections API (the Notifier port).

Best effort, as docs/live.md promises: a push goes to every open connection of the user, a connection
API Gateway answers as gone (410) is forgotten (unless it holds a seat: its `$disconnect` lets the seat
go), and any other failure is logged and swallowed, so a push never fails the write that caused it.
Timeouts are short: a push waits on nothing that matters.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from rooms.adapters import aws_session
from rooms.config import settings
from rooms.domain.live import Connection, Frame
from rooms.ports import ConnectionStore

logger = logging.getLogger(__name__)
# users pushed to at once by notify_many (a room's close tells each of its users): bounded, so a close
# of thousands neither opens thousands of threads nor outruns the HTTP pool
MAX_PUSH_THREADS = 8
# how long one bulk push may take by default: a host's close answers within the API's time limit whatever
# the family's size, and the users not told by then read their seat's end over HTTP (as after a lost push)
BULK_PUSH_SECONDS = 2.0
_GONE = "GoneException"


def management_client(endpoint: str) -> Any:
    return aws_session.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name=settings().region,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 2},
            connect_timeout=2,
            read_timeout=2,
            max_pool_connections=MAX_PUSH_THREADS * 2,
        ),
    )


class ApiGatewayNotifier:
    def __init__(
        self,
        connections: ConnectionStore,
        endpoint: str = "",
        client: Any = None,
        *,
        bulk_seconds: float | None = None,
    ) -> None:
        self._connections = connections
        self._client = client or management_client(endpoint or settings().websocket_endpoint)
        self._bulk_seconds = bulk_seconds  # None: BULK_PUSH_SECONDS

    def notify(self, user_id: str, frame: Frame) -> None:
        try:
            open_connections = self._connections.connections_of(user_id)
        except Exception:
            logger.exception("push skipped: the user's connections could not be read", extra={"user_id": user_id})
            return
        data = json.dumps(frame, separators=(",", ":")).encode()
        for connection in open_connections:
            self._post(connection, data, frame)

    def notify_many(self, pushes: Sequence[tuple[str, Frame]]) -> None:
        """Each push, a few at a time, for at most the bulk budget; the ones left then are dropped."""
        budget = BULK_PUSH_SECONDS if self._bulk_seconds is None else self._bulk_seconds
        deadline = time.monotonic() + budget

        def push(user_id: str, frame: Frame) -> bool:
            if time.monotonic() >= deadline:
                return False
            self.notify(user_id, frame)
            return True

        if len(pushes) <= 1:
            done = [push(user_id, frame) for user_id, frame in pushes]
        else:
            with ThreadPoolExecutor(max_workers=min(MAX_PUSH_THREADS, len(pushes))) as pool:
                done = list(pool.map(lambda entry: push(*entry), pushes))
        if not all(done):
            logger.warning("bulk push out of time", extra={"dropped": done.count(False), "pushes": len(pushes)})

    def _post(self, connection: Connection, data: bytes, frame: Frame) -> None:
        try:
            self._client.post_to_connection(ConnectionId=connection.connection_id, Data=data)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == _GONE:
                # a connection that holds a seat is left to its `$disconnect`, which cuts the seat's
                # lease to the grace: forgotten here, the seat would stay held until its long lease ends
                if connection.holds_room is None:
                    self._forget(connection)
                return
            logger.warning(
                "push failed",
                extra={"connection_id": connection.connection_id, "type": frame.get("type"), "error": str(error)},
            )
        except Exception:
            logger.exception("push failed", extra={"connection_id": connection.connection_id})

    def _forget(self, connection: Connection) -> None:
        """The socket closed without its `$disconnect` reaching us yet: its record goes now."""
        try:
            self._connections.forget(connection.user_id, connection.connection_id)
        except Exception:
            logger.exception("a gone connection was not forgotten", extra={"connection_id": connection.connection_id})
