"""Promotion the moment a main-room seat frees (rooms.promotion): a leave or a kick asks a sweeper for it
(a promote message), and an expired lease or a closed socket's release is refilled by the sweeper that
freed it; the first opted-in overflow user moves up, in arrival order, with I1/I2 held; a race or a
failure never fails the write that freed the seat. In-memory fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rooms.domain.expiry import expiry_bucket, expiry_shard
from rooms.domain.live import seat_moved
from rooms.domain.model import Ticket, TicketStatus, parallel_room_id, ticket_id_for
from tests.unit.fakes import Fakes, main_room

FAMILY = "r_main"
P1 = parallel_room_id(FAMILY, 1)


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY, capacity=2), seated=["m1", "m2"])  # full
    fakes.add_room(main_room(FAMILY, capacity=4, room_id=P1, index=1))
    return fakes


def seated_in_p1(fakes: Fakes, user: str, *, promote: bool = True) -> Ticket:
    fakes.clock.advance(timedelta(seconds=1))  # arrival order
    seat = fakes.seat(P1, user, ticketed=True)
    now = fakes.clock()
    ticket = Ticket(
        ticket_id_for(FAMILY, user), FAMILY, user, TicketStatus.SEATED, FAMILY, now, now, seat.room_id, promote=promote
    )
    return fakes.put_ticket(ticket)


def room_of(fakes: Fakes, user: str) -> str:
    return fakes.table.seats[(FAMILY, user)].room_id


def test_a_leave_from_the_main_room_moves_the_first_opted_in_user_up(fakes: Fakes) -> None:
    seated_in_p1(fakes, "stays", promote=False)
    first, second = seated_in_p1(fakes, "first"), seated_in_p1(fakes, "second")
    # WHEN a main-room listener leaves
    assert fakes.room_service().leave(FAMILY, "m1").left
    # THEN the leave asked for the seat's promotion, and the sweeper moves the oldest opted-in user up
    assert fakes.releases.promotions == [(FAMILY, 1)]
    assert fakes.deliver_promotions() == 1
    assert (room_of(fakes, "first"), room_of(fakes, "second"), room_of(fakes, "stays")) == (FAMILY, P1, P1)
    assert fakes.ticket(first.ticket_id).room_id == FAMILY
    assert fakes.notifier.pushed == [("first", seat_moved(FAMILY, P1, FAMILY, fakes.clock()))]
    assert (fakes.occupancy(FAMILY), fakes.occupancy(P1)) == (2, 2)
    # and a kick frees the next seat for the next in line
    fakes.room_service().kick(FAMILY, "host", "m2")
    assert fakes.deliver_promotions() == 1
    assert room_of(fakes, "second") == FAMILY and fakes.ticket(second.ticket_id).room_id == FAMILY
    fakes.table.check()


def test_a_leave_from_a_parallel_room_asks_for_no_promotion(fakes: Fakes) -> None:
    seated_in_p1(fakes, "a")
    seated_in_p1(fakes, "b", promote=False)
    assert fakes.room_service().leave(P1, "b").left
    assert fakes.releases.promotions == [] and room_of(fakes, "a") == P1


def test_a_candidate_promoted_by_a_concurrent_sweeper_passes_the_seat_to_the_next(fakes: Fakes) -> None:
    # GIVEN two leaves, and their two promote messages delivered to two sweepers at once: the second
    # lands between the first's read of the candidates and its move
    seated_in_p1(fakes, "a")
    seated_in_p1(fakes, "b")
    service = fakes.room_service()
    service.leave(FAMILY, "m1")
    service.leave(FAMILY, "m2")
    first, second = fakes.sweeper(), fakes.sweeper()
    fakes.table.before("promote", lambda: second.promote(FAMILY))
    first.promote(FAMILY)
    # THEN both freed seats are filled by the first two in line, and nobody holds two seats
    assert (room_of(fakes, "a"), room_of(fakes, "b")) == (FAMILY, FAMILY)
    assert fakes.occupancy(FAMILY) == 2 and fakes.occupancy(P1) == 0
    fakes.table.check()


def test_a_lost_promotion_request_never_fails_the_leave(fakes: Fakes) -> None:
    seated_in_p1(fakes, "a")
    fakes.releases.broken = True
    assert fakes.room_service().leave(FAMILY, "m1").left
    assert room_of(fakes, "a") == P1
    # the minute run promotes what the lost message did not
    assert fakes.housekeeping().run().promoted == 1 and room_of(fakes, "a") == FAMILY
    fakes.table.check()


def test_a_failed_promotion_never_fails_its_sweeper(fakes: Fakes) -> None:
    seated_in_p1(fakes, "a")
    fakes.room_service().leave(FAMILY, "m1")

    def broken() -> None:
        raise RuntimeError("DynamoDB is down")

    fakes.table.before("promotion_candidates", broken)
    assert fakes.deliver_promotions() == 0
    assert room_of(fakes, "a") == P1  # left to the minute run
    fakes.table.check()


def test_an_expired_main_room_seat_is_refilled_by_its_sweeper(fakes: Fakes) -> None:
    seat = fakes.table.seats[(FAMILY, "m1")]
    fakes.clock.advance(fakes.rooms.lease)
    seated_in_p1(fakes, "a")  # seated after: its own lease runs on
    bucket = expiry_bucket(seat.expires_at, fakes.interval_seconds)
    assert fakes.sweeper().sweep_shard(bucket, expiry_shard(f"SEAT#{FAMILY}#m1")) == 1
    assert room_of(fakes, "a") == FAMILY
    fakes.table.check()


def test_a_closed_sockets_main_room_seat_is_refilled_when_its_grace_ends(fakes: Fakes) -> None:
    seat = fakes.table.seats[(FAMILY, "m1")]
    fakes.clock.advance(seat.expires_at - fakes.clock() + timedelta(seconds=1))
    seated_in_p1(fakes, "a")
    assert fakes.sweeper().release(FAMILY, "m1") == 1
    assert room_of(fakes, "a") == FAMILY
    fakes.table.check()


def test_each_freeing_call_fills_the_seats_it_freed_not_every_free_seat(fakes: Fakes) -> None:
    # GIVEN both main-room seats freed without a promotion (a closing shard, a crash), three waiting
    for user in ("m1", "m2"):
        fakes.table.release(fakes.table.seats[(FAMILY, user)])
    for user in ("a", "b", "c"):
        seated_in_p1(fakes, user)
    promoter = fakes.promoter()
    # WHEN a call that freed one seat promotes, THEN one user moves up, the oldest; one that freed two, two
    assert promoter.seats_freed(FAMILY) == 1 and room_of(fakes, "a") == FAMILY
    fakes.table.release(fakes.table.seats[(FAMILY, "a")])
    assert promoter.seats_freed(FAMILY, 2) == 2
    assert (room_of(fakes, "b"), room_of(fakes, "c")) == (FAMILY, FAMILY)
    fakes.table.check()


def test_a_family_without_parallel_rooms_is_not_searched_for_candidates() -> None:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY, capacity=2), seated=["m1", "m2"])
    fakes.room_service().leave(FAMILY, "m1")
    assert fakes.deliver_promotions() == 0
    assert fakes.table.count("promotion_candidates") == 0


def test_the_sweep_batch_takes_a_promote_message(fakes: Fakes) -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from rooms.sweeper import PromoteMessage, SweepBatch
    from tests.conftest import load_event

    seated_in_p1(fakes, "a")
    fakes.room_service().leave(FAMILY, "m1")
    ((family_id, seats),) = fakes.releases.promotions
    record = load_event("sweeper/sweep_batch")["Records"][0]
    record["body"] = PromoteMessage.of(family_id, seats).model_dump_json()
    batch = SweepBatch(fakes.sweeper())
    batch.settle(SQSRecord(record))
    assert batch.promoted == 1 and room_of(fakes, "a") == FAMILY
