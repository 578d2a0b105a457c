"""Groups on the Rooms table (the GroupStore port): one item per group, its members changed under a
condition on how many it had, so concurrent joins neither overfill it nor lose one."""

from __future__ import annotations

from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import size

from rooms.adapters.dynamo import MAX_CONFLICT_RETRIES, backoff, update_if
from rooms.adapters.models import GroupItem, group_key
from rooms.adapters.overload import overload_is_busy
from rooms.domain.errors import Contention, GroupClosed, GroupNotFound
from rooms.domain.groups import MAX_GROUP_MEMBERS, Group

_KEPT_AFTER_EXPIRY = timedelta(days=1)


@overload_is_busy
class DynamoGroupStore:
    def put_group(self, group: Group) -> None:
        GroupItem(
            pk=group_key(group.group_id),
            group_id=group.group_id,
            family_id=group.family_id,
            leader_id=group.leader_id,
            members=list(group.members),
            token_hash=group.token_hash,
            created_at=group.created_at,
            expires_at=group.expires_at,
            ttl=group.expires_at + _KEPT_AFTER_EXPIRY,
        ).save(condition=GroupItem.pk.does_not_exist())

    def get_group(self, group_id: str) -> Group | None:
        item = self._item(group_id)
        return _group(item) if item is not None else None

    def add_member(self, group_id: str, user_id: str, now: datetime) -> Group:
        for tries in range(MAX_CONFLICT_RETRIES):
            item = self._live_item(group_id, now)
            group = _group(item)
            if group.has(user_id):
                return group
            if group.taken_in_at is not None:
                raise GroupClosed(group_id, "its leader took it into the room")
            if len(group.members) >= MAX_GROUP_MEMBERS:
                raise GroupClosed(group_id, f"it has {MAX_GROUP_MEMBERS} members, the most a group may have")
            as_read = (size(GroupItem.members) == len(group.members)) & GroupItem.taken_in_at.does_not_exist()
            if update_if(item, [GroupItem.members.set(GroupItem.members.append([user_id]))], as_read):
                return _group(item)
            backoff(tries)  # another member joined (or the leader took it in) since the read: look again
        raise Contention(f"group {group_id}")

    def take_in(self, group_id: str, now: datetime) -> Group:
        item = self._live_item(group_id, now)
        if item.taken_in_at is None:
            update_if(item, [GroupItem.taken_in_at.set(now)], GroupItem.taken_in_at.does_not_exist())
            item = self._live_item(group_id, now)  # a member who joined meantime is in it, or was refused
        return _group(item)

    def _live_item(self, group_id: str, now: datetime) -> GroupItem:
        item = self._item(group_id)
        if item is None or now >= item.expires_at:
            raise GroupNotFound(group_id)
        return item

    @staticmethod
    def _item(group_id: str) -> GroupItem | None:
        try:
            return GroupItem.get(group_key(group_id), "GROUP", consistent_read=True)
        except DoesNotExist:
            return None


def _group(item: GroupItem) -> Group:
    return Group(
        group_id=item.group_id,
        family_id=item.family_id,
        leader_id=item.leader_id,
        members=tuple(dict.fromkeys(str(member) for member in item.members)),
        token_hash=item.token_hash,
        created_at=item.created_at,
        expires_at=item.expires_at,
        taken_in_at=item.taken_in_at,
    )
