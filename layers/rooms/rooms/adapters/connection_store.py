"""The live connections on DynamoDB (the ConnectionStore port): one item per connection under its user's
partition key, so a push finds a user's connections with one Query."""

from __future__ import annotations

from pynamodb.constants import ALL_OLD
from pynamodb.expressions.update import Action

from rooms.adapters.dynamo import update_if
from rooms.adapters.models import ConnectionItem, connection_key
from rooms.adapters.overload import overload_is_busy
from rooms.domain.live import Connection


def _connection(item: ConnectionItem) -> Connection:
    return Connection(
        user_id=item.user_id,
        connection_id=item.sk,
        connected_at=item.connected_at,
        holds_room=item.holds_room,
        watches_ticket=item.watches_ticket,
    )


@overload_is_busy
class DynamoConnectionStore:
    def __init__(self) -> None:
        # its DynamoDB client, made now: pynamodb makes it on first use, where a bulk push's threads would
        # race and each make one (a service model loaded each: seconds on the first seats of a storm)
        ConnectionItem._get_connection().connection.client  # noqa: B018

    def record(self, connection: Connection) -> None:
        ConnectionItem(
            pk=connection_key(connection.user_id),
            sk=connection.connection_id,
            user_id=connection.user_id,
            connected_at=connection.connected_at,
            holds_room=connection.holds_room,
            watches_ticket=connection.watches_ticket,
            ttl=connection.expires_at,
        ).save()

    def forget(self, user_id: str, connection_id: str) -> Connection | None:
        """DeleteItem answering with the item it deleted, so `$disconnect` learns what it held in one call."""
        answer = ConnectionItem._get_connection().delete_item(
            connection_key(user_id), range_key=connection_id, return_values=ALL_OLD
        )
        old = answer.get("Attributes")
        return _connection(ConnectionItem.from_raw_data(old)) if old else None

    def connections_of(self, user_id: str) -> list[Connection]:
        return [_connection(item) for item in ConnectionItem.query(connection_key(user_id))]

    def set_hold(self, user_id: str, connection_id: str, room_id: str) -> None:
        self._set(user_id, connection_id, ConnectionItem.holds_room.set(room_id))

    def set_watch(self, user_id: str, connection_id: str, ticket_id: str) -> None:
        self._set(user_id, connection_id, ConnectionItem.watches_ticket.set(ticket_id))

    @staticmethod
    def _set(user_id: str, connection_id: str, action: Action) -> None:
        # only on a connection still recorded: a late message after `$disconnect` must not revive it
        item = ConnectionItem(pk=connection_key(user_id), sk=connection_id)
        update_if(item, [action], ConnectionItem.pk.exists())
