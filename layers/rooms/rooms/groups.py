"""Friends together (rooms.domain.groups): make a group, join it with its invite token, and take it into a
room: every member seated in the room in one transaction when it has the seats, else every member queued
with the group, which the overflow worker seats together in one parallel room."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from rooms.config import settings
from rooms.domain.errors import (
    Banned,
    GroupMemberElsewhere,
    GroupNotFound,
    NotGroupMember,
    OverflowUnavailable,
    RoomClosed,
    RoomFull,
)
from rooms.domain.groups import Group, new_group, token_opens
from rooms.domain.live import group_seated
from rooms.domain.model import (
    OVERFLOW_UNAVAILABLE,
    RoomStatus,
    Seat,
    Ticket,
    TicketStatus,
    family_of,
    ticket_id_for,
)
from rooms.ports import (
    BanStore,
    GroupStore,
    Notifier,
    OverflowPublisher,
    OverflowRequest,
    RoomStore,
    Silent,
    TicketStore,
)
from rooms.service import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupSeating:
    """A group taken into a room: its members' seats (all in one room), or their queued tickets."""

    group: Group
    seats: list[Seat]
    tickets: list[Ticket]


class GroupService:
    def __init__(
        self,
        groups: GroupStore,
        rooms: RoomStore,
        tickets: TicketStore,
        publisher: OverflowPublisher,
        clock: Callable[[], datetime] = utcnow,
        *,
        bans: BanStore | None = None,
        notifier: Notifier | None = None,
        heartbeat_interval_seconds: int | None = None,
    ) -> None:
        self._groups = groups
        self._notifier = notifier or Silent()
        self._heartbeat_interval = heartbeat_interval_seconds or settings().heartbeat_interval_seconds
        self._rooms = rooms
        self._tickets = tickets
        self._publisher = publisher
        self._clock = clock
        self._bans = bans

    def create(self, room_id: str, leader_id: str) -> tuple[Group, str]:
        """A group of the room's family led by the caller, and the invite token they share with friends."""
        room = self._rooms.get_room(room_id)
        if room.status is RoomStatus.CLOSED:
            raise RoomClosed(room_id)
        self._refuse_banned(room.family_id, [leader_id])
        group, token = new_group(room.family_id, leader_id, self._clock())
        self._groups.put_group(group)
        return group, token

    def join(self, room_id: str, group_id: str, user_id: str, token: str) -> Group:
        """The caller joins with the token: their verified identity and the token are their consent."""
        group = self._group(room_id, group_id)
        if not token_opens(group, token):
            raise NotGroupMember(group_id, "this invite token does not open it")
        self._refuse_banned(group.family_id, [user_id])
        return self._groups.add_member(group_id, user_id, self._clock())

    def get(self, room_id: str, group_id: str, user_id: str) -> Group:
        group = self._group(room_id, group_id)
        if not group.has(user_id):
            raise NotGroupMember(group_id, "only its members may read it")
        return group

    def take_in(self, room_id: str, group_id: str, leader_id: str) -> GroupSeating:
        """The leader takes the group into the room: it takes no more members, and every member is seated
        there together or, the room lacking the seats, queued together for one parallel room."""
        group = self._group(room_id, group_id)
        if group.leader_id != leader_id:
            raise NotGroupMember(group_id, "only its leader takes it into a room")
        group = self._groups.take_in(group_id, self._clock())
        self._refuse_banned(group.family_id, list(group.members))
        try:
            seats = self._rooms.admit_group(room_id, group, self._clock())
        except RoomFull:
            return self._enqueue(room_id, group)
        now = self._clock()  # the members are told on their live connections; the leader has the answer
        pushes = [(s.user_id, group_seated(group_id, s, self._heartbeat_interval, now)) for s in seats]
        self._notifier.notify_many([(user, frame) for user, frame in pushes if user != leader_id])
        return GroupSeating(group, seats, [])

    def _enqueue(self, room_id: str, group: Group) -> GroupSeating:
        seats = {user: self._rooms.get_seat(group.family_id, user) for user in group.members}
        apart = [user for user, seat in seats.items() if seat is not None and seat.group_id != group.group_id]
        if apart:
            raise GroupMemberElsewhere(group.group_id, apart)
        if any(seats.values()):  # seated together since by the worker (this is a retry)
            return GroupSeating(group, [seat for seat in seats.values() if seat is not None], [])
        now = self._clock()
        priors = {user: self._tickets.get_ticket(ticket_id_for(group.family_id, user)) for user in group.members}
        waiting = [
            user
            for user, prior in priors.items()
            if prior is not None and prior.status is TicketStatus.QUEUED and prior.group_id != group.group_id
        ]
        if waiting:
            raise GroupMemberElsewhere(group.group_id, waiting)
        tickets = [self._queue(room_id, group, user, priors[user], now) for user in group.members]
        if all(prior is not None and prior.status is TicketStatus.QUEUED for prior in priors.values()):
            return GroupSeating(group, [], tickets)  # a retry: the group's message is on its way (or republished)
        leader = next(ticket for ticket in tickets if ticket.user_id == group.leader_id)
        try:
            self._publisher.publish(OverflowRequest.of(leader))  # one message: the worker seats the whole group
        except Exception:
            logger.exception("overflow publish failed", extra={"group_id": group.group_id})
            for ticket in tickets:
                self._tickets.fail_ticket(ticket.ticket_id, OVERFLOW_UNAVAILABLE, self._clock())
            raise OverflowUnavailable() from None
        return GroupSeating(group, [], tickets)

    def _queue(self, room_id: str, group: Group, user: str, prior: Ticket | None, now: datetime) -> Ticket:
        """The member's ticket queued with the group: new, already so (a retry), or an ended one queued afresh."""
        if prior is not None and prior.status is TicketStatus.QUEUED:
            return prior
        ticket = Ticket(
            ticket_id=ticket_id_for(group.family_id, user),
            family_id=group.family_id,
            user_id=user,
            status=TicketStatus.QUEUED,
            requested_room_id=room_id,
            created_at=now,
            updated_at=now,
            group_id=group.group_id,
        )
        if prior is None and self._tickets.put_ticket(ticket) is None:
            return ticket
        again = replace(prior or ticket, requested_room_id=room_id, promote=False, group_id=group.group_id)
        self._tickets.requeue_ticket(again, now)
        return self._tickets.get_ticket(ticket.ticket_id) or ticket

    def _group(self, room_id: str, group_id: str) -> Group:
        group = self._groups.get_group(group_id)
        if group is None or group.family_id != family_of(room_id)[0] or not group.live(self._clock()):
            raise GroupNotFound(group_id)
        return group

    def _refuse_banned(self, family_id: str, user_ids: list[str]) -> None:
        if self._bans is None:
            return
        now = self._clock()
        for user, ban in self._bans.bans_of(family_id, user_ids).items():
            if ban.holds(now):
                raise Banned(family_id, user, ban.until)
