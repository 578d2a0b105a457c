"""Use cases of the Rooms API: create, join (or queue), leave, heartbeat, kick, close, family, tickets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from rooms.config import settings
from rooms.domain.errors import (
    Banned,
    NotHost,
    NotModerator,
    NotSeated,
    OverflowUnavailable,
    ProtectedUser,
    RoomFull,
    RoomNotFound,
    StageFull,
    TicketNotFound,
)
from rooms.domain.live import seat_freed, seat_moved
from rooms.domain.model import (
    KICKED,
    OVERFLOW_UNAVAILABLE,
    ROOM_CLOSED,
    STEPPED_DOWN,
    Ban,
    Family,
    Page,
    Room,
    RoomStatus,
    Seat,
    Ticket,
    TicketStatus,
    family_of,
    main_room,
    may_moderate,
    new_room_id,
    parallel_room_id,
    protected_from,
    ticket_id_for,
)
from rooms.ports import (
    BanStore,
    Notifier,
    OverflowPublisher,
    OverflowRequest,
    Promotion,
    PromotionQueue,
    RoomStore,
    Silent,
    TicketStore,
)
from rooms.reconciler import TicketReconciler

logger = logging.getLogger(__name__)
# Closing frees seats for at most this long in the request (API Gateway gives up at 29 s); the rest is
# freed by housekeeping within a minute.
CLOSE_BUDGET_SECONDS = 5.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LeaveResult:
    left: bool
    room_id: str | None
    ticket_cancelled: bool


class RoomService:
    def __init__(
        self,
        rooms: RoomStore,
        tickets: TicketStore,
        publisher: OverflowPublisher,
        clock: Callable[[], datetime] = utcnow,
        *,
        delivery_budget: timedelta | None = None,
        notifier: Notifier | None = None,
        promotions: PromotionQueue | None = None,
        bans: BanStore | None = None,
    ) -> None:
        """`notifier` tells users on their live connections that their seat was freed (kick, close);
        `promotions` takes a freed main-room seat's promotion (a sweeper moves the first in line up);
        `bans` keeps banned users out (none: nobody is ever banned, and banning is refused)."""
        self._rooms = rooms
        self._tickets = tickets
        self._publisher = publisher
        self._clock = clock
        self._notifier = notifier or Silent()
        budget = delivery_budget or timedelta(seconds=settings().overflow_delivery_budget_seconds)
        self._reconciler = TicketReconciler(rooms, tickets, publisher, budget, clock, notifier=self._notifier)
        self._promotions = promotions
        self._bans = bans

    def create_room(
        self,
        host_id: str,
        title: str,
        capacity: int,
        metadata: dict[str, str],
        event_id: str | None = None,
        *,
        rebalance: bool = False,
        speaker_seats: int = 0,
    ) -> Room:
        room = main_room(
            new_room_id(),
            host_id=host_id,
            title=title,
            capacity=capacity,
            seats_per_shard=settings().seats_per_write_shard,
            created_at=self._clock(),
            metadata=metadata,
            event_id=event_id,
            rebalance=rebalance,
            stage_seats=speaker_seats,
        )
        self._rooms.create_room(room)
        return room

    def get_room(self, room_id: str) -> Room:
        return self._rooms.get_room(room_id)

    def family(self, room_id: str) -> Family:
        family_id, _ = family_of(room_id)
        main = self._rooms.get_room(family_id, consistent=True)
        ids = [parallel_room_id(family_id, index) for index in range(1, main.parallel_count + 1)]
        return Family(main=main, parallel=self._rooms.get_rooms(ids) if ids else [])

    def join(self, room_id: str, user_id: str, promote: bool = False) -> Seat | Ticket:
        """A seat when the room has one (or the user already holds one in the family), else a queued ticket;
        Banned for a user the family keeps out."""
        family_id, _ = family_of(room_id)
        # a cheap look first (half a read unit): it keeps nearly every banned user from taking a seat
        self._refuse_banned(family_id, user_id, consistent=False)
        try:
            seat = self._rooms.admit(room_id, family_id, user_id, self._clock())
        except RoomFull:
            return self._enqueue(room_id, family_id, user_id, promote)
        # The look that holds: a ban written while this join was admitted (or missed by the cheap look),
        # whose writer may have looked for the seat before it existed. Read consistently after the seat's
        # write, one of the two sees the other.
        try:
            self._refuse_banned(family_id, user_id)
        except Banned:
            self._leave_seat(seat, KICKED)
            raise
        return seat

    def _refuse_banned(self, family_id: str, user_id: str, *, consistent: bool = True) -> None:
        ban = self._bans.get_ban(family_id, user_id, consistent=consistent) if self._bans is not None else None
        if ban is not None and ban.holds(self._clock()):
            raise Banned(family_id, user_id, ban.until)

    def _enqueue(self, room_id: str, family_id: str, user_id: str, promote: bool) -> Seat | Ticket:
        # The failed admission proved the user had no seat in the family (RoomStore.admit's contract),
        # so the common path is one put and one message.
        now = self._clock()
        ticket = Ticket(
            ticket_id=ticket_id_for(family_id, user_id),
            family_id=family_id,
            user_id=user_id,
            status=TicketStatus.QUEUED,
            requested_room_id=room_id,
            created_at=now,
            updated_at=now,
            promote=promote,
        )
        prior = self._tickets.put_ticket(ticket)
        if prior is not None:
            if prior.status is TicketStatus.QUEUED:
                if not self._reconciler.is_stale(prior):
                    return prior  # already waiting: the same ticket, no second message
                # its message outlived every delivery SQS gives it (dead-lettered, or never sent)
                return self._reconciler.republish(prior) or self._ticket_or_raise(ticket.ticket_id)
            seat = self._rooms.get_seat(family_id, user_id)
            if seat is not None:
                return seat  # seated by the worker since the admission failed
            # queued afresh for this join: its room and its wish to move up, not the finished ticket's
            again = replace(prior, requested_room_id=room_id, promote=promote, group_id=None)
            if not self._tickets.requeue_ticket(again, now):
                return self._ticket_or_raise(ticket.ticket_id)
        queued = self._ticket_or_raise(ticket.ticket_id) if prior is not None else ticket
        try:
            self._publisher.publish(OverflowRequest.of(queued))
        except Exception:
            logger.exception("overflow publish failed", extra={"ticket_id": ticket.ticket_id})
            self._tickets.fail_ticket(
                ticket.ticket_id, OVERFLOW_UNAVAILABLE, self._clock(), queued_at=queued.queued_since
            )
            raise OverflowUnavailable() from None
        return queued

    def _ticket_or_raise(self, ticket_id: str) -> Ticket:
        ticket = self._tickets.get_ticket(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    def leave(self, room_id: str, user_id: str) -> LeaveResult:
        """Free the user's seat in the family, or withdraw their queued ticket. Repeating it frees nothing."""
        family_id, _ = family_of(room_id)
        seat = self._rooms.get_seat(family_id, user_id)
        if seat is not None:
            return self._leave_seat(seat)
        now = self._clock()
        if self._tickets.fail_ticket(ticket_id_for(family_id, user_id), "cancelled", now):
            return LeaveResult(left=False, room_id=None, ticket_cancelled=True)
        # the worker may have seated the user between the two reads
        seat = self._rooms.get_seat(family_id, user_id)
        if seat is not None:
            return self._leave_seat(seat)
        return LeaveResult(left=False, room_id=None, ticket_cancelled=False)

    def _leave_seat(self, seat: Seat, reason: str | None = None) -> LeaveResult:
        """Free a seat, then tell the ticket that led to it (or still waits beside it): `left`.

        The ticket's write comes after the release, on its own key; the request in flight for a ticket
        still queued then finds it ended and seats nobody.
        """
        left = self._rooms.release(seat)
        if left:
            self._tickets.end_ticket(seat, TicketStatus.LEFT, reason, self._clock())
            if seat.room_id == seat.family_id and not seat.speaker:  # a listener seat: the first opted-in moves up
                self._ask_promotion(seat.family_id)
        return LeaveResult(left=left, room_id=seat.room_id, ticket_cancelled=False)

    def _ask_promotion(self, family_id: str) -> None:
        """Best effort: a lost request leaves the seat to the minute run's promotion, never fails the leave."""
        if self._promotions is None:
            return
        try:
            self._promotions.promote_later(family_id)
        except Exception:
            logger.exception("promotion left to the minute run", extra={"family_id": family_id})

    def heartbeat(self, room_id: str, user_id: str) -> Seat:
        family_id, _ = family_of(room_id)
        seat = self._rooms.touch(family_id, user_id, self._clock())
        if seat is None:
            raise NotSeated(room_id, user_id)
        return seat

    def participants(self, room_id: str, limit: int, cursor: str | None) -> Page[Seat]:
        return self._rooms.list_seats(self._rooms.get_room(room_id), limit, cursor)

    def kick(self, room_id: str, actor: str, user_id: str) -> bool:
        """The host or a moderator frees a user's seat in the family (or fails their queued ticket)."""
        room = self._moderated_room(room_id, actor, user_id)
        return self._evict(room.family_id, user_id)

    def _evict(self, family_id: str, user_id: str) -> bool:
        """Free the user's seat, else fail their queued ticket; True if a seat was freed. Twice: the worker
        may seat them between the look for a seat and the ticket's fail (which then finds it seated)."""
        for _ in range(2):
            seat = self._rooms.get_seat(family_id, user_id)
            if seat is not None and self._leave_seat(seat, KICKED).left:
                self._notifier.notify(user_id, seat_freed(seat.room_id, KICKED, self._clock()))
                return True
            if self._tickets.fail_ticket(ticket_id_for(family_id, user_id), KICKED, self._clock()):
                return False
        return False

    def ban(self, room_id: str, actor: str, user_id: str, duration: timedelta | None) -> Ban:
        """Keep a user out of the family (for `duration`, or its life) and free their seat: the ban is
        written before the seat is looked for, so a join or a seating in flight sees one or the other."""
        room = self._moderated_room(room_id, actor, user_id)
        if self._bans is None:
            raise RuntimeError("this service was built without a ban store")
        now = self._clock()
        ban = Ban(room.family_id, user_id, now + duration if duration is not None else None, actor, now)
        self._bans.put_ban(ban)
        self._evict(room.family_id, user_id)
        return ban

    def lift_ban(self, room_id: str, actor: str, user_id: str) -> bool:
        room = self._moderated_room(room_id, actor, user_id)
        return self._bans.lift_ban(room.family_id, user_id) if self._bans is not None else False

    def bring_up(self, room_id: str, host_id: str, user_id: str) -> Seat:
        """The host brings a user seated anywhere in the family up to speak: their seat moves to a speaker
        seat of the main room (its stage), where nothing moves it again, and they are told `seat.moved`."""
        main = self._hosted_room(family_of(room_id)[0], host_id)
        for _ in range(2):  # the seat may move (promotion, rebalancing) between its read and the move
            seat = self._rooms.get_seat(main.family_id, user_id)
            if seat is None:
                raise NotSeated(main.room_id, user_id)
            if seat.speaker:
                return seat
            outcome = self._rooms.bring_up(seat, main, self._clock())
            if outcome is Promotion.MAIN_FULL:
                raise StageFull(main.room_id, main.stage_seats)
            if outcome is Promotion.PROMOTED:
                self._notifier.notify(user_id, seat_moved(main.family_id, seat.room_id, main.room_id, self._clock()))
                if seat.room_id == main.room_id:
                    self._ask_promotion(main.family_id)  # the listener seat it left is free
                moved = self._rooms.get_seat(main.family_id, user_id)
                if moved is not None:
                    return moved
        raise NotSeated(main.room_id, user_id)

    def step_down(self, room_id: str, actor: str, user_id: str) -> LeaveResult:
        """A speaker leaves the stage (or the host takes them off it): their speaker seat is freed, and they
        join again as a listener if they stay. Only the host or the speaker themself."""
        main = self._rooms.get_room(family_of(room_id)[0])
        if actor not in (main.host_id, user_id):
            raise NotHost(main.room_id)
        seat = self._rooms.get_seat(main.family_id, user_id)
        if seat is None or not seat.speaker:
            return LeaveResult(left=False, room_id=None, ticket_cancelled=False)
        result = self._leave_seat(seat, STEPPED_DOWN)
        if result.left and actor != user_id:
            self._notifier.notify(user_id, seat_freed(seat.room_id, STEPPED_DOWN, self._clock()))
        return result

    def set_moderator(self, room_id: str, host_id: str, user_id: str, named: bool) -> Room:
        """The host names (or un-names) a moderator of the whole family."""
        room = self._hosted_room(family_of(room_id)[0], host_id)
        self._rooms.set_moderator(room.family_id, user_id, named)
        return self._rooms.get_room(room_id, consistent=True)

    def _moderated_room(self, room_id: str, actor: str, target: str) -> Room:
        # the family's main room holds its host; its metadata item, read with any room, the moderators
        room = self._rooms.get_room(room_id)
        if not may_moderate(room, actor):
            raise NotModerator(room_id)
        if protected_from(room, actor, target):
            raise ProtectedUser(target)
        return room

    def close(self, room_id: str, host_id: str) -> Room:
        """Close a room (a main room closes its whole family) and free its seats."""
        return self.close_unchecked(self._hosted_room(room_id, host_id))

    def close_unchecked(self, room: Room, budget_seconds: float | None = None) -> Room:
        """Close without the host check: for the host above, and for the show scheduler at a show's end.

        Every room is closed first, so nobody else gets in; seats are then freed within the time budget
        and housekeeping frees whatever a very large family still holds after it. The users whose seats
        were freed are told on their live connections, once every step within the budget is done.
        """
        freed: list[Seat] = []
        room_id = room.room_id
        targets = self.family(room_id).rooms if room.is_main else [room]
        for target in targets:
            self._rooms.close_room(target.room_id)
        deadline = time.monotonic() + (CLOSE_BUDGET_SECONDS if budget_seconds is None else budget_seconds)
        for target in targets:
            if not self._rooms.evict_all(target.room_id, deadline, freed.extend):
                logger.info("seats left for housekeeping to free", extra={"room_id": target.room_id})
                break
        closed = self._rooms.get_room(room_id, consistent=True)
        now = self._clock()
        self._notifier.notify_many([(seat.user_id, seat_freed(seat.room_id, ROOM_CLOSED, now)) for seat in freed])
        return closed

    def ticket(self, ticket_id: str, user_id: str) -> Ticket:
        """The caller's ticket, as it stands against their seat in the family (Ticket.seen_with).

        Releases write the ticket too (left, expired), but the seat is the truth: reading it here (one
        more read per poll, nothing on the join path) keeps the answer right whatever path moved the
        seat, a promotion, a rejoin into a free main-room seat, a closing room, or a crash in between.
        """
        ticket = self._tickets.get_ticket(ticket_id)
        if ticket is None or ticket.user_id != user_id:
            raise TicketNotFound(ticket_id)
        seat = self._rooms.get_seat(ticket.family_id, user_id)
        room_closed = False
        if seat is None and ticket.status is TicketStatus.SEATED and ticket.room_id:
            room_closed = self._room_closed(ticket.room_id)
        return ticket.seen_with(seat, room_closed=room_closed)

    def _room_closed(self, room_id: str) -> bool:
        try:
            return self._rooms.get_room(room_id).status is RoomStatus.CLOSED
        except RoomNotFound:
            return True

    def _hosted_room(self, room_id: str, host_id: str) -> Room:
        room = self._rooms.get_room(room_id)
        if room.host_id != host_id:
            raise NotHost(room_id)
        return room
