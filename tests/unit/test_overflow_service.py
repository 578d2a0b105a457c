"""The overflow worker's use case on the in-memory fakes: seat a family's queued users in its parallel
rooms (I4, I5), every branch of seat_family, races with other workers and closes included, and the SQS
batch settled record by record. No AWS, no socket: milliseconds."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from rooms.domain.model import OVERFLOW_FAILED, RoomStatus, Ticket, TicketStatus, parallel_room_id, ticket_id_for
from rooms.ports import OverflowRequest
from rooms.worker import OverflowBatch, PoisonMessage
from tests.conftest import LambdaContext, load_event
from tests.unit.fakes import START, Fakes, main_room

FAMILY = "r_main"


def p(index: int) -> str:
    return parallel_room_id(FAMILY, index)


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes()
    fakes.add_room(main_room(FAMILY, capacity=3), seated=["m1", "m2", "m3"])  # full
    return fakes


def waiting(fakes: Fakes, *users: str, family: str = FAMILY) -> list[OverflowRequest]:
    """Queued tickets for `users`, one second apart, as the API wrote them; their requests in order."""
    requests = []
    for user in users:
        now = fakes.clock.advance(timedelta(seconds=1))
        ticket = Ticket(ticket_id_for(family, user), family, user, TicketStatus.QUEUED, family, now, now)
        requests.append(OverflowRequest.of(fakes.put_ticket(ticket)))
    return requests


def users(count: int, prefix: str = "u") -> list[str]:
    return [f"{prefix}{n:03d}" for n in range(count)]


# ------------------------------------------------------------------ seating
@pytest.mark.parametrize("overflow", [1, 3, 4, 7, 100])
def test_k_overflow_users_take_ceil_k_over_capacity_rooms_each_filled_before_the_next(
    fakes: Fakes, overflow: int
) -> None:
    requests = waiting(fakes, *users(overflow))
    result = fakes.overflow_service().seat_family(FAMILY, requests)
    assert len(result.seated) == result.new_seats == overflow and not result.failed and not result.unfinished
    rooms = math.ceil(overflow / 3)
    assert fakes.table.room(FAMILY).parallel_count == rooms  # I4
    # I5: arrival order fills p1 first, then p2...
    assert [result.seated[user].room_id for user in users(overflow)] == [p(1 + n // 3) for n in range(overflow)]
    assert all(fakes.ticket(r.ticket_id).status is TicketStatus.SEATED for r in requests)
    assert all(fakes.table.tickets[r.ticket_id].due is None for r in requests)  # off the due index
    fakes.table.check()


def test_a_redelivered_batch_answers_with_the_same_seats_and_creates_nothing(fakes: Fakes) -> None:
    requests = waiting(fakes, "a", "b", "c", "d")
    first = fakes.overflow_service().seat_family(FAMILY, requests)
    again = fakes.overflow_service().seat_family(FAMILY, requests + requests)  # SQS at least once, twice over
    assert again.seated == first.seated and again.new_seats == 0
    assert fakes.table.room(FAMILY).parallel_count == 2 and len(fakes.table.seats) == 7


def test_a_user_seated_meanwhile_is_answered_with_that_seat_and_the_ticket_says_so(fakes: Fakes) -> None:
    # GIVEN a queued user who got a seat by joining again when one freed in the main room
    (request,) = waiting(fakes, "a")
    fakes.table.release(fakes.table.seats[(FAMILY, "m1")])
    held = fakes.rooms.admit(FAMILY, FAMILY, "a", fakes.clock())
    fakes.add_room(main_room(FAMILY, capacity=3, room_id=p(1), index=1))
    # WHEN the worker gets the request THEN it answers with the seat held, and seats nobody twice
    result = fakes.overflow_service().seat_family(FAMILY, [request])
    assert result.seated == {"a": held} and result.new_seats == 0
    assert (fakes.ticket(request.ticket_id).status, fakes.ticket(request.ticket_id).room_id) == (
        TicketStatus.SEATED,
        FAMILY,
    )


def test_a_user_who_stopped_waiting_is_skipped_and_the_others_are_seated(fakes: Fakes) -> None:
    requests = waiting(fakes, "a", "b", "c")
    fakes.tickets.fail_ticket(requests[1].ticket_id, "cancelled", fakes.clock())
    result = fakes.overflow_service().seat_family(FAMILY, requests)
    assert set(result.seated) == {"a", "c"} and not result.failed
    assert fakes.seated(p(1)) == {"a", "c"}  # the cancelled user holds no seat (I3: cancelled, not seated)


@pytest.mark.parametrize(
    ("main_status", "event_id", "reason"),
    [(RoomStatus.CLOSED, None, "room_closed"), (RoomStatus.CLOSED, "e1", "event_ended")],
)
def test_a_closed_family_fails_every_request_with_its_reason(
    fakes: Fakes, main_status: RoomStatus, event_id: str | None, reason: str
) -> None:
    requests = waiting(fakes, "a", "b")
    fakes.set_room(FAMILY, status=main_status, event_id=event_id)
    result = fakes.overflow_service().seat_family(FAMILY, requests)
    assert result.failed == {r.ticket_id: reason for r in requests} and not result.seated
    assert {fakes.ticket(r.ticket_id).reason for r in requests} == {reason}


def test_a_family_that_does_not_exist_fails_every_request(fakes: Fakes) -> None:
    requests = waiting(fakes, "a", family="r_gone")
    result = fakes.overflow_service().seat_family("r_gone", requests)
    assert result.failed == {requests[0].ticket_id: "room_not_found"}


def test_a_family_at_its_parallel_room_limit_fails_the_rest_clearly(fakes: Fakes) -> None:
    requests = waiting(fakes, *users(8))
    result = fakes.overflow_service(max_parallel_rooms=2).seat_family(FAMILY, requests)
    assert len(result.seated) == 6
    assert set(result.failed.values()) == {"family_full"} and len(result.failed) == 2
    assert fakes.table.room(FAMILY).parallel_count == 2


def test_a_batch_fills_a_room_of_many_write_shards_45_users_a_transaction(fakes: Fakes) -> None:
    fakes.add_room(main_room("r_big", capacity=400, shards=4), seated=[f"m{n}" for n in range(400)])
    requests = waiting(fakes, *users(120), family="r_big")
    result = fakes.overflow_service().seat_family("r_big", requests)
    assert len(result.seated) == 120 and sum(fakes.table.occupancies(parallel_room_id("r_big", 1))) == 120
    # 45 + 45 + 30: a seat and a ticket each, and an update for each of the shards they are spread over
    assert fakes.table.count("seat_batch") == 3
    assert sorted(fakes.table.occupancies(parallel_room_id("r_big", 1))) == [30, 30, 30, 30]
    fakes.table.check()


def test_a_batch_no_shard_takes_alone_is_spread_over_the_freest_shards(fakes: Fakes) -> None:
    fakes.add_room(main_room("r_big", capacity=8, shards=4), seated=[f"m{n}" for n in range(8)])
    fakes.add_room(main_room("r_big", capacity=8, shards=4, room_id="r_big-p1", index=1), seated=["x"])
    requests = waiting(fakes, *users(6), family="r_big")
    result = fakes.overflow_service().seat_family("r_big", requests)
    assert len(result.seated) == 6 and fakes.table.count("seat_batch") == 1
    assert sorted(fakes.table.occupancies("r_big-p1")) == [1, 2, 2, 2]
    fakes.table.check()


# ------------------------------------------------------------------ races with other workers
def test_a_room_filled_by_another_worker_meanwhile_sends_the_rest_to_the_next_room(fakes: Fakes) -> None:
    # GIVEN p1 with one free seat, read by this worker
    fakes.add_room(main_room(FAMILY, capacity=3, room_id=p(1), index=1), seated=["x1", "x2"])
    requests = waiting(fakes, "a", "b")
    # WHEN another worker takes that seat between this one's read of the family and its transaction
    other = waiting(fakes, "other")
    fakes.table.before("seat_batch", lambda: fakes.overflow_service().seat_family(FAMILY, other))
    result = fakes.overflow_service().seat_family(FAMILY, requests)
    # THEN this one's transaction changes nothing, it looks again, and seats both in p2, in order
    assert {seat.room_id for seat in result.seated.values()} == {p(2)}
    assert fakes.seated(p(1)) == {"x1", "x2", "other"} and fakes.table.count("seat_batch") == 3
    fakes.table.check()


def test_two_workers_racing_to_create_the_next_room_create_it_once(fakes: Fakes) -> None:
    requests = waiting(fakes, "a")
    main = fakes.table.room(FAMILY)
    fakes.table.before("create_parallel_room", lambda: fakes.rooms.create_parallel_room(main, 1, START))
    result = fakes.overflow_service().seat_family(FAMILY, requests)
    assert result.seated["a"].room_id == p(1) and fakes.table.room(FAMILY).parallel_count == 1
    assert sorted(fakes.table.rooms) == [FAMILY, p(1)]


def test_a_family_closed_while_the_worker_creates_a_room_fails_the_rest(fakes: Fakes) -> None:
    requests = waiting(fakes, "a", "b")
    fakes.table.before("create_parallel_room", lambda: fakes.rooms.close_room(FAMILY))
    result = fakes.overflow_service().seat_family(FAMILY, requests)
    assert set(result.failed.values()) == {"room_closed"} and len(fakes.table.rooms) == 1


def test_a_room_closed_under_the_worker_is_left_for_the_next(fakes: Fakes) -> None:
    fakes.add_room(main_room(FAMILY, capacity=3, room_id=p(1), index=1))
    requests = waiting(fakes, "a")
    fakes.table.before("seat_batch", lambda: fakes.rooms.close_room(p(1)))
    result = fakes.overflow_service().seat_family(FAMILY, requests)
    assert result.seated["a"].room_id == p(2)


def test_contention_that_never_ends_leaves_the_requests_for_sqs(fakes: Fakes) -> None:
    # GIVEN another writer that fills p1 before each of this worker's transactions and empties it after each read
    fakes.add_room(main_room(FAMILY, capacity=3, room_id=p(1), index=1))
    requests = waiting(fakes, "a")

    def fill() -> None:
        for user in ("y1", "y2", "y3"):
            fakes.seat(p(1), user)

    def empty() -> None:
        for user in ("y1", "y2", "y3"):
            fakes.table.seats.pop((FAMILY, user), None)

    fakes.table.before("seat_batch", fill, every=True)
    fakes.table.before("get_rooms", empty, every=True)
    result = fakes.overflow_service().seat_family(FAMILY, requests)
    # THEN the worker gives up after its rounds, seats nobody, fails nothing: SQS delivers the request again
    assert result.unfinished == requests and not result.seated and not result.failed
    assert fakes.ticket(requests[0].ticket_id).status is TicketStatus.QUEUED


def test_a_last_delivery_fails_only_the_queueing_it_carries(fakes: Fakes) -> None:
    (request,) = waiting(fakes, "a")
    service = fakes.overflow_service()
    fakes.clock.advance(timedelta(seconds=5))
    newer = fakes.tickets.republish_ticket(fakes.ticket(request.ticket_id), fakes.clock())
    assert newer is not None
    assert service.fail_ticket(request, OVERFLOW_FAILED) is False  # an old message
    assert service.fail_ticket(OverflowRequest.of(newer), OVERFLOW_FAILED) is True


# ------------------------------------------------------------------ the SQS batch
def record(request: OverflowRequest | str, message_id: str, receive_count: int = 1) -> dict[str, Any]:
    sample = load_event("overflow_worker/overflow_batch")["Records"][0]
    body = request if isinstance(request, str) else json.dumps(request.__dict__)
    attributes = {**sample["attributes"], "ApproximateReceiveCount": str(receive_count)}
    return {**sample, "messageId": message_id, "body": body, "attributes": attributes}


def settle(batch: OverflowBatch, event: dict[str, Any]) -> list[str]:
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event,
        record_handler=batch.settle,
        processor=processor,
        context=LambdaContext(),  # type: ignore[arg-type]
    )
    return [str(failure["itemIdentifier"]) for failure in response["batchItemFailures"]]


def test_a_batch_seats_each_family_together_and_fails_only_its_bad_records(fakes: Fakes) -> None:
    fakes.add_room(main_room("r_other", capacity=1, status=RoomStatus.CLOSED))
    mine = waiting(fakes, "a", "b")
    closed = waiting(fakes, "c", family="r_other")
    event = {
        "Records": [
            record(mine[0], "m0"),
            record("{not json", "poison"),
            record(closed[0], "m-closed"),
            record(mine[1], "m1"),
        ]
    }
    batch = OverflowBatch(fakes.overflow_service(), max_receive_count=3).run(event)
    assert settle(batch, event) == ["poison"]  # a closed family's ticket failed for good: nothing to redeliver
    assert batch.seated == 2 and fakes.ticket(closed[0].ticket_id).reason == "room_closed"


def test_a_family_that_breaks_fails_its_records_only(fakes: Fakes) -> None:
    mine = waiting(fakes, "a")
    fakes.add_room(main_room("r_two", capacity=1))
    other = waiting(fakes, "b", family="r_two")
    fakes.table.before("get_room", lambda: (_ for _ in ()).throw(ConnectionError("throttled")))
    event = {"Records": [record(mine[0], "m0"), record(other[0], "m1")]}
    batch = OverflowBatch(fakes.overflow_service(), max_receive_count=3).run(event)
    assert settle(batch, event) == ["m0"] and batch.seated == 1


def test_unfinished_requests_are_redelivered_and_their_last_delivery_fails_the_ticket(fakes: Fakes) -> None:
    # GIVEN contention on the family that outlasts the worker's rounds (as in the test above)
    fakes.add_room(main_room(FAMILY, capacity=3, room_id=p(1), index=1))
    requests = waiting(fakes, "a", "b")
    fakes.table.before("seat_batch", lambda: [fakes.seat(p(1), f"y{n}") for n in range(3)], every=True)
    fakes.table.before(
        "get_rooms", lambda: [fakes.table.seats.pop((FAMILY, f"y{n}"), None) for n in range(3)], every=True
    )
    # WHEN a's message is on its first delivery and b's on its last
    event = {"Records": [record(requests[0], "m0"), record(requests[1], "m1", receive_count=3)]}
    batch = OverflowBatch(fakes.overflow_service(), max_receive_count=3).run(event)
    # THEN both go back to SQS; b's goes to the dead-letter queue, so its ticket says it failed
    assert settle(batch, event) == ["m0", "m1"]
    assert fakes.ticket(requests[0].ticket_id).status is TicketStatus.QUEUED
    assert fakes.ticket(requests[1].ticket_id).reason == OVERFLOW_FAILED


def test_a_poison_record_is_failed_as_such(fakes: Fakes) -> None:
    event = {"Records": [record('{"ticket_id": ""}', "bad")]}
    batch = OverflowBatch(fakes.overflow_service(), max_receive_count=3).run(event)
    with pytest.raises(PoisonMessage):
        batch.settle(SQSRecord(event["Records"][0]))


# ------------------------------------------------------------------ the main room remembered
def test_an_instance_reads_the_main_room_once_a_second_not_once_a_batch(fakes: Fakes) -> None:
    a, b, c = waiting(fakes, "a", "b", "c")  # queued first: writing a ticket moves the clock on a second
    service = fakes.overflow_service()
    service.seat_family(FAMILY, [a])
    reads = fakes.table.count("get_room")
    fakes.clock.advance(timedelta(milliseconds=100))
    service.seat_family(FAMILY, [b])  # within a second: the main room it read
    assert fakes.table.count("get_room") == reads
    fakes.clock.advance(timedelta(seconds=1))
    service.seat_family(FAMILY, [c])
    assert fakes.table.count("get_room") == reads + 1


def test_a_family_closed_since_the_instance_read_it_fails_the_next_batch_all_the_same(fakes: Fakes) -> None:
    # GIVEN an instance that seated a batch, so remembers the family open
    a, *rest = waiting(fakes, "a", "b", "c")
    service = fakes.overflow_service()
    assert len(service.seat_family(FAMILY, [a]).seated) == 1
    # WHEN the host closes the family, and the next batch comes within the memory of the main room
    fakes.room_service().close_unchecked(fakes.table.room(FAMILY))
    reads = fakes.table.count("get_room")
    fakes.clock.advance(timedelta(milliseconds=100))
    result = service.seat_family(FAMILY, rest)
    # THEN the closed parallel room refuses the seats, the main room is read afresh and the tickets fail
    assert not result.seated and set(result.failed.values()) == {"room_closed"}
    assert fakes.table.count("get_room") > reads
    fakes.table.check()
