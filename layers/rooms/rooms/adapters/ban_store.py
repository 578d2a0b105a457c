"""Bans on the Rooms table (the BanStore port): one item per (family, user)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError

from rooms.adapters.dynamo import CONDITIONAL_CHECK_FAILED, batch_get_raw, new_connection
from rooms.adapters.models import BanItem, ban_key
from rooms.adapters.overload import overload_is_busy
from rooms.domain.model import Ban

# how long after its end a ban item stays (a family-life ban: after it was made; no family lives that long)
_KEPT_AFTER_END = timedelta(days=1)
_FAMILY_LIFE = timedelta(days=30)


@overload_is_busy
class DynamoBanStore:
    def __init__(self, connection: Connection | None = None) -> None:
        self._connection = connection or new_connection()

    def put_ban(self, ban: Ban) -> None:
        ends = ban.until + _KEPT_AFTER_END if ban.until is not None else ban.created_at + _FAMILY_LIFE
        BanItem(
            pk=ban_key(ban.family_id, ban.user_id),
            family_id=ban.family_id,
            user_id=ban.user_id,
            until=ban.until,
            banned_by=ban.banned_by,
            created_at=ban.created_at,
            ttl=ends,
        ).save()

    def lift_ban(self, family_id: str, user_id: str) -> bool:
        item = BanItem(pk=ban_key(family_id, user_id), sk="BAN")
        try:
            item.delete(condition=BanItem.pk.exists())
        except DeleteError as error:
            if error.cause_response_code == CONDITIONAL_CHECK_FAILED:
                return False  # there was no ban
            raise
        return True

    def get_ban(self, family_id: str, user_id: str, *, consistent: bool = True) -> Ban | None:
        return self._read(family_id, [user_id], consistent).get(user_id)

    def bans_of(self, family_id: str, user_ids: Sequence[str]) -> dict[str, Ban]:
        return self._read(family_id, user_ids, consistent=True)

    def _read(self, family_id: str, user_ids: Sequence[str], consistent: bool) -> dict[str, Ban]:
        keys = [(ban_key(family_id, user), "BAN") for user in dict.fromkeys(user_ids)]
        found = {}
        for raw in batch_get_raw(self._connection, keys, consistent=consistent) if keys else []:
            item = BanItem.from_raw_data(raw)
            found[item.user_id] = Ban(item.family_id, item.user_id, item.until, item.banned_by, item.created_at)
        return found
