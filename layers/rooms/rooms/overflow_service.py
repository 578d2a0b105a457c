"""The overflow worker's use case: seat queued users of a family in its parallel rooms, creating them as they fill."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rooms.config import settings
from rooms.domain.errors import Contention, RoomNotFound
from rooms.domain.live import Frame, ticket_failed, ticket_seated
from rooms.domain.model import (
    BANNED,
    ROOM_CLOSED,
    Room,
    RoomStatus,
    Seat,
    family_closed_reason,
    parallel_room_id,
    ticket_id_for,
)
from rooms.domain.overflow import room_to_fill, take_for_room
from rooms.ports import BanStore, GroupStore, Notifier, OverflowRequest, RoomStore, Silent, TicketStore
from rooms.service import utcnow

logger = logging.getLogger(__name__)
_MAX_ROUNDS = 400
# How long an instance seats by the main room it read (its status and parallel rooms): read at every batch,
# consistently with all its shards, it was the family's hottest read at 10,000 joins/s. A stale read is
# safe: the seat transaction checks each parallel room open, and a batch that finds a room changed or
# creates one reads the main room afresh.
MAIN_ROOM_MEMORY = timedelta(seconds=1)


@dataclass
class FamilyResult:
    seated: dict[str, Seat]
    failed: dict[str, str]  # ticket id -> reason the ticket was failed with (final, not retried)
    unfinished: list[OverflowRequest]  # left for SQS to deliver again
    new_seats: int = 0  # seats this call created (redelivered requests answer with existing ones)


class OverflowService:
    def __init__(
        self,
        rooms: RoomStore,
        tickets: TicketStore,
        max_parallel_rooms: int,
        clock: Callable[[], datetime] = utcnow,
        *,
        notifier: Notifier | None = None,
        heartbeat_interval_seconds: int | None = None,
        bans: BanStore | None = None,
        groups: GroupStore | None = None,
    ) -> None:
        self._rooms = rooms
        self._groups = groups
        self._tickets = tickets
        self._max_parallel = max_parallel_rooms
        self._clock = clock
        self._notifier = notifier or Silent()
        self._bans = bans
        # what a pushed seat says of its heartbeats (as the HTTP API's seat does)
        self._heartbeat_interval = heartbeat_interval_seconds or settings().heartbeat_interval_seconds
        self._main_rooms: dict[str, tuple[Room, datetime]] = {}  # family -> its main room, and when read

    def seat_family(self, family_id: str, requests: Sequence[OverflowRequest]) -> FamilyResult:
        """Seat every request of one family, in arrival order, filling the lowest open parallel room first.

        Duplicates of a user (at-least-once delivery) collapse into one request; a user who already holds
        a seat is answered with it; a ticket no longer queued (left, kicked, ended) is skipped. Once the
        writes are done, each user seated or failed is told on their live connections.
        """
        pushes: list[tuple[str, Frame]] = []
        result = self._seat_family(family_id, requests, pushes)
        tickets = {r.user_id: r.ticket_id for r in requests}
        now = self._clock()
        for user_id, seat in result.seated.items():  # a group's members beside the requests' users
            ticket_id = tickets.get(user_id) or ticket_id_for(family_id, user_id)
            pushes.append((user_id, ticket_seated(ticket_id, seat, self._heartbeat_interval, now)))
        self._notifier.notify_many(pushes)
        return result

    def _seat_family(
        self, family_id: str, requests: Sequence[OverflowRequest], pushes: list[tuple[str, Frame]]
    ) -> FamilyResult:
        pending = list({r.user_id: r for r in reversed(requests)}.values())[::-1]
        result = FamilyResult(seated={}, failed={}, unfinished=[])
        pending, groups = self._groups_apart(family_id, pending)
        for group in groups:
            members = self._without_banned(family_id, group, result, pushes)
            result.unfinished += self._seat_group(family_id, members, result, pushes)
        pending = self._without_banned(family_id, pending, result, pushes)
        parallel: list[Room] | None = None
        main: Room | None = None
        for round_ in range(_MAX_ROUNDS):
            if not pending:
                return result
            if main is None or parallel is None:
                main = self._main_room(family_id, remembered=round_ == 0)
                if main is None or main.status is RoomStatus.CLOSED:
                    self._fail(family_id, pending, _closed_reason(main), result, pushes)
                    return result
                ids = [parallel_room_id(family_id, i) for i in range(1, main.parallel_count + 1)]
                parallel = self._rooms.get_rooms(ids)
            target = room_to_fill(parallel)
            if target is None:
                index = main.parallel_count + 1
                if index > self._max_parallel:
                    self._fail(family_id, pending, "family_full", result, pushes)
                    return result
                self._rooms.create_parallel_room(main, index, self._clock())
                parallel = None
                continue
            batch = take_for_room(target, pending)
            outcome = self._rooms.seat_batch(target, batch, self._clock())
            done = {seat.user_id for seat in outcome.seated} | set(outcome.not_waiting)
            result.new_seats += len(outcome.seated)
            for seat in outcome.seated:
                result.seated[seat.user_id] = seat
            for user_id, seat in outcome.already_seated.items():
                request = next(r for r in batch if r.user_id == user_id)
                self._tickets.mark_ticket_seated(request.ticket_id, seat, self._clock())
                result.seated[user_id] = seat
                done.add(user_id)
            pending = [r for r in pending if r.user_id not in done]
            if outcome.room_changed:
                parallel = None  # another worker took seats or closed it: look again
            elif outcome.seated:
                filled = replace(target, occupancy=target.occupancy + len(outcome.seated))
                parallel = [filled if room.index == target.index else room for room in parallel]
        logger.warning("overflow rounds exhausted", extra={"family_id": family_id, "pending": len(pending)})
        result.unfinished = pending
        return result

    def _groups_apart(
        self, family_id: str, pending: list[OverflowRequest]
    ) -> tuple[list[OverflowRequest], list[list[OverflowRequest]]]:
        """The requests of users waiting alone, and a request per member of each group waited with: a
        group's message is its leader's (or, republished, any member's); its members are the group's."""
        alone = [request for request in pending if request.group_id is None]
        grouped: dict[str, list[OverflowRequest]] = {}
        for request in pending:
            if request.group_id is not None:
                grouped.setdefault(request.group_id, []).append(request)
        groups = []
        for group_id, asked in grouped.items():
            group = self._groups.get_group(group_id) if self._groups is not None else None
            if group is None:  # expired, a day after it was made: its members are seated as they come
                alone += [replace(request, group_id=None) for request in asked]
                continue
            queued_at = {request.user_id: request.queued_at for request in asked}
            groups.append(
                [
                    OverflowRequest(ticket_id_for(family_id, user), family_id, user, queued_at.get(user), group_id)
                    for user in group.members
                ]
            )
        return alone, groups

    def _seat_group(
        self, family_id: str, members: list[OverflowRequest], result: FamilyResult, pushes: list[tuple[str, Frame]]
    ) -> list[OverflowRequest]:
        """Seat a group's members still waiting in one parallel room, all in one transaction: the lowest
        open one with seats for all of them, else a new one. The members left for SQS to deliver again."""
        parallel: list[Room] | None = None
        for round_ in range(_MAX_ROUNDS):
            if not members:
                return []
            main = self._main_room(family_id, remembered=round_ == 0)
            if main is None or main.status is RoomStatus.CLOSED:
                self._fail(family_id, members, _closed_reason(main), result, pushes)
                return []
            if parallel is None:
                ids = [parallel_room_id(family_id, i) for i in range(1, main.parallel_count + 1)]
                parallel = self._rooms.get_rooms(ids)
            target = room_to_fill(parallel, len(members))
            if target is None:
                index = main.parallel_count + 1
                if index > self._max_parallel:
                    self._fail(family_id, members, "family_full", result, pushes)
                    return []
                self._rooms.create_parallel_room(main, index, self._clock())
                parallel = None  # the next round reads the main room afresh
                continue
            outcome = self._rooms.seat_batch(target, members, self._clock(), whole=True)
            result.new_seats += len(outcome.seated)
            for seat in outcome.seated:
                result.seated[seat.user_id] = seat
            for user_id, seat in outcome.already_seated.items():  # on their own, or by this group's earlier message
                request = next(r for r in members if r.user_id == user_id)
                self._tickets.mark_ticket_seated(request.ticket_id, seat, self._clock())
                result.seated[user_id] = seat
            done = {seat.user_id for seat in outcome.seated} | set(outcome.already_seated) | set(outcome.not_waiting)
            members = [r for r in members if r.user_id not in done]
            if outcome.room_changed or not outcome.seated:
                parallel = None  # filled or closed meanwhile, or a member gone: look again for the rest
        logger.warning("group rounds exhausted", extra={"family_id": family_id, "pending": len(members)})
        return members

    def _without_banned(
        self,
        family_id: str,
        pending: list[OverflowRequest],
        result: FamilyResult,
        pushes: list[tuple[str, Frame]],
    ) -> list[OverflowRequest]:
        """The requests of users the family does not keep out; the others' tickets fail `banned`. Read
        consistently before seating: a ban written after it finds the ticket still queued (and fails it),
        or the seat (and frees it): the seating transaction holds only while the ticket is queued."""
        if self._bans is None or not pending:
            return pending
        now = self._clock()
        bans = self._bans.bans_of(family_id, [request.user_id for request in pending])
        banned = [request for request in pending if (ban := bans.get(request.user_id)) and ban.holds(now)]
        if banned:
            self._fail(family_id, banned, BANNED, result, pushes)
        return [request for request in pending if request not in banned]

    def _main_room(self, family_id: str, *, remembered: bool) -> Room | None:
        """The family's main room: the one this instance read within MAIN_ROOM_MEMORY if `remembered`."""
        now = self._clock()
        known = self._main_rooms.get(family_id)
        if remembered and known is not None and now - known[1] < MAIN_ROOM_MEMORY:
            return known[0]
        try:
            main = self._rooms.get_room(family_id, consistent=True)
        except RoomNotFound:
            self._main_rooms.pop(family_id, None)
            return None
        if len(self._main_rooms) > 1000:  # an instance serves few families at a time
            self._main_rooms.clear()
        self._main_rooms[family_id] = (main, now)
        return main

    def _fail(
        self,
        family_id: str,
        requests: Sequence[OverflowRequest],
        reason: str,
        result: FamilyResult,
        pushes: list[tuple[str, Frame]],
    ) -> None:
        now = self._clock()
        for request in requests:
            if self._tickets.fail_ticket(request.ticket_id, reason, now):  # not one cancelled meanwhile
                pushes.append((request.user_id, ticket_failed(request.ticket_id, family_id, reason, now)))
            result.failed[request.ticket_id] = reason

    def fail_ticket(self, request: OverflowRequest, reason: str) -> bool:
        """Fail the ticket of a request that will not be delivered again, unless it was queued afresh since."""
        now = self._clock()
        failed = self._tickets.fail_ticket(request.ticket_id, reason, now, queued_at=request.queueing)
        if failed:
            self._notifier.notify(request.user_id, ticket_failed(request.ticket_id, request.family_id, reason, now))
        return failed


def _closed_reason(main: Room | None) -> str:
    return family_closed_reason(main) or ROOM_CLOSED


__all__ = ["Contention", "FamilyResult", "OverflowService"]
