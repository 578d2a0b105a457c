"""Friends together: a group is made beforehand by its leader, each member joins it with the invite
token the leader shared (their own verified identity and the token: their consent), and the leader
takes it into a room: every member is seated in the same room, or none is.

Pure: the group, its invite token, who may do what. Seating it is the use case's (rooms.groups).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

# Seated in one transaction with its members' seats, tickets and write shards: 3 x 10 + 1 items, well
# inside DynamoDB's 100; a friends' group, not an audience.
MAX_GROUP_MEMBERS = 10
GROUP_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class Group:
    group_id: str
    family_id: str
    leader_id: str
    members: tuple[str, ...]  # the leader first, then in the order they joined
    token_hash: str
    created_at: datetime
    expires_at: datetime
    taken_in_at: datetime | None = None  # when the leader took it into the room: it then takes no members

    def has(self, user_id: str) -> bool:
        return user_id in self.members

    def live(self, now: datetime) -> bool:
        return now < self.expires_at


def new_group(family_id: str, leader_id: str, now: datetime) -> tuple[Group, str]:
    """A group of one (its leader) and the invite token for its members; only the token's hash is kept."""
    token = secrets.token_urlsafe(24)
    group = Group(
        group_id=f"g_{uuid.uuid4().hex[:16]}",
        family_id=family_id,
        leader_id=leader_id,
        members=(leader_id,),
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + GROUP_LIFETIME,
    )
    return group, token


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_opens(group: Group, token: str) -> bool:
    return hmac.compare_digest(group.token_hash, token_hash(token))
