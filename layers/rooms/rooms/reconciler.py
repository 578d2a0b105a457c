"""Nobody waits for ever: what becomes of a queued ticket whose overflow request SQS gave up on.

A queued ticket waits on one SQS message, and SQS tries that message `maxReceiveCount` times, each
hidden for the visibility timeout: that product is the ticket's delivery budget. When every delivery
dies before the worker can settle it (the worker killed, or dying during init), the message is
dead-lettered and nothing would ever move the ticket again. Three paths find such tickets; all of them
end here, in `TicketReconciler`, so they take the same decisions with the same conditional writes:

- a rejoin: the user joins again while their ticket is queued past its budget, and its request is
  published again at once (RoomService);
- the dead-letter queue: every housekeeping run peeks at it; the ticket of a dead request fails with
  `overflow_failed` (a rejoin then queues it afresh, with a new message). The messages stay in the queue,
  for the depth alarm and for operators (rooms.adapters.dead_letters);
- the due index: every queued ticket is indexed (sparse, sharded gsi2) under the minute its budget
  runs out, and leaves the index as soon as it is seated, failed or ended. Housekeeping reads the
  minutes gone by: a ticket still there is published again once, then failed with `overflow_failed`.
  This also finds a ticket whose message was never sent (the API died between the two writes).

Why an index of due times rather than walking each family's tickets in arrival order (gsi1): that walk
needs a list of families (a family can queue users before it has any parallel room, so the list of
families with overflow misses it) and reads every seated ticket again on each run; the due index needs
no family at all, and holds only the tickets still waiting when they should not be: a run reads what
it has to settle and nothing else.

A user who holds a seat is never told "queued": every path first looks at the seat and, if there is
one, marks the ticket seated there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from rooms.config import settings
from rooms.domain.errors import OverflowUnavailable, RoomNotFound
from rooms.domain.live import ticket_failed, ticket_seated
from rooms.domain.model import (
    MAX_REPUBLISH,
    OVERFLOW_FAILED,
    OVERFLOW_UNAVAILABLE,
    Room,
    Ticket,
    family_closed_reason,
)
from rooms.ports import Notifier, OverflowPublisher, OverflowRequest, RoomStore, Silent, TicketStore

logger = logging.getLogger(__name__)


class Settled(StrEnum):
    SEATED = "seated"  # the user had a seat: the ticket says so now
    REPUBLISHED = "republished"  # its request is on the queue again, with a fresh budget
    FAILED = "failed"  # failed with a reason; a rejoin queues it afresh
    UNCHANGED = "unchanged"  # someone else moved it first (the worker, a rejoin, another sweep)


class TicketReconciler:
    def __init__(
        self,
        rooms: RoomStore,
        tickets: TicketStore,
        publisher: OverflowPublisher,
        delivery_budget: timedelta,
        clock: Callable[[], datetime],
        *,
        notifier: Notifier | None = None,
        heartbeat_interval_seconds: int | None = None,
    ) -> None:
        self._rooms = rooms
        self._tickets = tickets
        self._publisher = publisher
        self.delivery_budget = delivery_budget
        self._clock = clock
        self._notifier = notifier or Silent()
        # what a pushed seat says of its heartbeats (as the HTTP API's seat does)
        self._heartbeat_interval = heartbeat_interval_seconds or settings().heartbeat_interval_seconds

    def is_stale(self, ticket: Ticket) -> bool:
        return ticket.is_stale(self._clock(), self.delivery_budget)

    def republish(self, ticket: Ticket) -> Ticket | None:
        """Publish a queued ticket's request again, with a fresh budget; None if it changed meanwhile.

        OverflowUnavailable when the queue refuses it: the ticket then fails with a reason instead.
        """
        fresh = self._tickets.republish_ticket(ticket, self._clock())
        if fresh is None:
            return None
        try:
            self._publisher.publish(OverflowRequest.of(fresh))
        except Exception:
            logger.exception("overflow republish failed", extra={"ticket_id": ticket.ticket_id})
            now = self._clock()
            self._tickets.fail_ticket(fresh.ticket_id, OVERFLOW_UNAVAILABLE, now, queued_at=fresh.queued_since)
            raise OverflowUnavailable() from None
        logger.info("overflow request republished", extra={"ticket_id": ticket.ticket_id})
        return fresh

    def settle(self, ticket: Ticket, *, dead_lettered: bool) -> Settled:
        """Settle a queued ticket whose message is dead (`dead_lettered`) or ran out of budget.

        Seated if the user has a seat; failed if the family closed meanwhile, if its message is known
        dead, or if it was published again already; otherwise published again once. The user is told
        on their live connections when the ticket is seated or failed here.
        """
        now = self._clock()
        seat = self._rooms.get_seat(ticket.family_id, ticket.user_id)
        if seat is not None:
            self._tickets.mark_ticket_seated(ticket.ticket_id, seat, now)
            frame = ticket_seated(ticket.ticket_id, seat, self._heartbeat_interval, now)
            self._notifier.notify(ticket.user_id, frame)
            return Settled.SEATED
        reason = family_closed_reason(self._main_room(ticket.family_id))
        if reason is None and (dead_lettered or ticket.republished >= MAX_REPUBLISH):
            reason = OVERFLOW_FAILED
        if reason is not None:
            failed = self._tickets.fail_ticket(ticket.ticket_id, reason, now, queued_at=ticket.queued_since)
            if failed:
                logger.warning("stale overflow ticket failed", extra={"ticket_id": ticket.ticket_id, "reason": reason})
                self._tell_failed(ticket, reason)
            return Settled.FAILED if failed else Settled.UNCHANGED
        try:
            return Settled.REPUBLISHED if self.republish(ticket) else Settled.UNCHANGED
        except OverflowUnavailable:
            self._tell_failed(ticket, OVERFLOW_UNAVAILABLE)
            return Settled.FAILED

    def _tell_failed(self, ticket: Ticket, reason: str) -> None:
        self._notifier.notify(ticket.user_id, ticket_failed(ticket.ticket_id, ticket.family_id, reason, self._clock()))

    def _main_room(self, family_id: str) -> Room | None:
        try:
            return self._rooms.get_room(family_id, consistent=True)
        except RoomNotFound:
            return None
