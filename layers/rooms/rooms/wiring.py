"""The adapters every function wires alike: the stores on the Rooms table over one DynamoDB connection,
and the overflow queue's publisher, each built on first use and then kept (one set per Lambda instance).

Each function has one composition root that builds its services over one of these: functions/*/app.py
(the scheduler's services are rooms.scheduled.ScheduledServices), and rooms.api.deps for the API. The
adapters read their table's settings at import, so each is imported when first built: a function loads
only the adapters it uses.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pynamodb.connection import Connection

    from rooms.adapters.ban_store import DynamoBanStore
    from rooms.adapters.connection_store import DynamoConnectionStore
    from rooms.adapters.event_store import DynamoEventStore
    from rooms.adapters.group_store import DynamoGroupStore
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.sweep_queue import SqsSweepQueue
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.ports import Notifier


class Adapters:
    def __init__(self, *, bulk_push_seconds: float | None = None) -> None:
        # how long one bulk push may take (None: the notifier's default, sized for a caller waiting on it)
        self._bulk_push_seconds = bulk_push_seconds

    @cached_property
    def connection(self) -> Connection:
        from rooms.adapters.dynamo import new_connection

        return new_connection()

    @cached_property
    def rooms(self) -> DynamoRoomStore:
        from rooms.adapters.room_store import DynamoRoomStore

        return DynamoRoomStore(self.connection)

    @cached_property
    def tickets(self) -> DynamoTicketStore:
        from rooms.adapters.ticket_store import DynamoTicketStore

        return DynamoTicketStore()

    @cached_property
    def events(self) -> DynamoEventStore:
        from rooms.adapters.event_store import DynamoEventStore

        return DynamoEventStore(self.connection)

    @cached_property
    def housekeeping(self) -> DynamoHousekeepingStore:
        from rooms.adapters.housekeeping_store import DynamoHousekeepingStore

        return DynamoHousekeepingStore(self.connection)

    @cached_property
    def bans(self) -> DynamoBanStore:
        from rooms.adapters.ban_store import DynamoBanStore

        return DynamoBanStore(self.connection)

    @cached_property
    def groups(self) -> DynamoGroupStore:
        from rooms.adapters.group_store import DynamoGroupStore

        return DynamoGroupStore()

    @cached_property
    def publisher(self) -> SqsOverflowPublisher:
        from rooms.adapters.sqs_publisher import SqsOverflowPublisher

        return SqsOverflowPublisher()

    @cached_property
    def sweep_queue(self) -> SqsSweepQueue:
        from rooms.adapters.sweep_queue import SqsSweepQueue

        return SqsSweepQueue()

    @cached_property
    def connections(self) -> DynamoConnectionStore:
        from rooms.adapters.connection_store import DynamoConnectionStore

        return DynamoConnectionStore()

    @cached_property
    def notifier(self) -> Notifier:
        """Pushes to the live connections; nothing on a stack without a WebSocket endpoint."""
        from rooms.config import settings
        from rooms.ports import Silent

        if not settings().websocket_endpoint:
            return Silent()
        from rooms.adapters.push import ApiGatewayNotifier

        return ApiGatewayNotifier(self.connections, bulk_seconds=self._bulk_push_seconds)
