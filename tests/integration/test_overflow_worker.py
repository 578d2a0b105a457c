"""The overflow worker through moto: seating order, idempotency under redelivery, crashes, poison messages,
and users whose request SQS gives up on (dead-lettered or lost): nobody waits for ever."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import LambdaContext, fresh_scheduler_services, load_event, load_function

CallApi = Callable[..., tuple[int, Any]]


def sqs_event(
    queue_url: str,
    max_messages: int = 10,
    receive_count: int | None = None,
    sample_event: str = "overflow_worker/overflow_batch",
) -> dict[str, Any]:
    """Receive from the moto queue and shape the batch exactly like the SQS event source does."""
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=max_messages, AttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    sample = load_event(sample_event)["Records"][0]
    records = []
    for message in messages:
        attributes = dict(message["Attributes"])
        if receive_count is not None:
            attributes["ApproximateReceiveCount"] = str(receive_count)
        records.append(
            {
                **sample,
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": attributes,
                "md5OfBody": message["MD5OfBody"],
            }
        )
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return {"Records": records}


def run_worker(event: dict[str, Any]) -> list[str]:
    worker = load_function("overflow_worker")
    response = worker.lambda_handler(event, LambdaContext(function_name="overflow-worker"))
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


SeatBatch = Callable[..., Any]


def worker_seating_with(monkeypatch: pytest.MonkeyPatch, seat_batch: Callable[..., Any]) -> None:
    """The worker function on its use case built over a room store whose seat_batch is
    `seat_batch(real_seat_batch, room, requests, now)`: the rest is wired as the function wires it."""
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.config import settings
    from rooms.overflow_service import OverflowService

    class Rooms(DynamoRoomStore):
        def seat_batch(self, room: Any, requests: Any, now: Any, *, whole: bool = False) -> Any:
            return seat_batch(super().seat_batch, room, requests, now)

    worker = load_function("overflow_worker")
    service = OverflowService(Rooms(), worker.adapters.tickets, settings().max_parallel_rooms)
    monkeypatch.setattr(worker, "service", service)


def fill_and_queue(call_api: CallApi, capacity: int, users: int) -> tuple[str, dict[str, str]]:
    status, room = call_api("create_room", body={"title": "Show", "capacity": capacity})
    assert status == 201
    tickets: dict[str, str] = {}
    for n in range(users):
        status, body = call_api("join_room", path={"room_id": room["room_id"]}, sub=f"u{n}")
        if status == 202:
            tickets[f"u{n}"] = body["ticket"]["ticket_id"]
        else:
            assert status == 200
    return room["room_id"], tickets


def family(call_api: CallApi, room_id: str) -> dict[str, Any]:
    status, body = call_api("get_family", path={"room_id": room_id})
    assert status == 200
    return body


def test_the_sample_event_is_handled(aws: dict[str, str]) -> None:
    # the sample names a family that does not exist: its ticket fails cleanly, the record is consumed
    assert run_worker(load_event("overflow_worker/overflow_batch")) == []


def test_overflow_fills_parallel_rooms_in_order(call_api: CallApi, aws: dict[str, str]) -> None:
    room_id, tickets = fill_and_queue(call_api, capacity=3, users=3 + 7)
    assert len(tickets) == 7
    # repeated joins while queued return the same ticket and send nothing more
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u5")
    assert status == 202 and body["ticket"]["ticket_id"] == tickets["u5"]
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    rooms = family(call_api, room_id)["rooms"]
    assert [r["occupancy"] for r in rooms] == [3, 3, 3, 1]
    assert len(rooms) - 1 == math.ceil(7 / 3)  # I4
    for user, ticket_id in tickets.items():
        status, ticket = call_api("get_ticket", path={"ticket_id": ticket_id}, sub=user)
        assert status == 200 and ticket["status"] == "seated" and ticket["room_index"] >= 1
        assert ticket["family_id"] == room_id
    # the ticket is private to its holder
    assert call_api("get_ticket", path={"ticket_id": tickets["u5"]}, sub="u6")[0] == 404


def test_duplicate_delivery_seats_once(call_api: CallApi, aws: dict[str, str]) -> None:
    room_id, _ = fill_and_queue(call_api, capacity=2, users=2 + 3)
    event = sqs_event(aws["OverflowQueue"])
    doubled = {"Records": event["Records"] + [dict(r, messageId=r["messageId"] + "-dup") for r in event["Records"]]}
    assert run_worker(doubled) == []
    assert run_worker(event) == []  # and again, later
    rooms = family(call_api, room_id)["rooms"]
    assert [r["occupancy"] for r in rooms] == [2, 2, 1]
    for room in rooms:
        _, page = call_api("list_participants", path={"room_id": room["room_id"]}, query={"limit": "200"})
        assert len(page["participants"]) == room["occupancy"]  # I1


def test_a_user_already_seated_is_answered_with_that_seat(call_api: CallApi, aws: dict[str, str]) -> None:
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=2)
    event = sqs_event(aws["OverflowQueue"])
    assert run_worker(event) == []
    # the same message again, after the user was seated: no second seat, ticket still seated
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=aws["OverflowQueue"], MessageBody=event["Records"][0]["body"])
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    assert family(call_api, room_id)["total_occupancy"] == 2
    _, ticket = call_api("get_ticket", path={"ticket_id": tickets["u1"]}, sub="u1")
    assert ticket["status"] == "seated"


def test_a_worker_dying_after_creating_a_room_leaves_no_orphan(
    call_api: CallApi, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    room_id, _ = fill_and_queue(call_api, capacity=2, users=2 + 2)
    event = sqs_event(aws["OverflowQueue"])
    dying = {"now": True}

    def seat_batch(real: SeatBatch, *args: Any) -> Any:
        if dying["now"]:
            raise RuntimeError("worker killed")
        return real(*args)

    worker_seating_with(monkeypatch, seat_batch)
    failed = run_worker(event)
    assert sorted(failed) == sorted(r["messageId"] for r in event["Records"])
    rooms = family(call_api, room_id)["rooms"]
    assert [r["occupancy"] for r in rooms] == [2, 0]  # the room exists, nobody is half-seated in it
    dying["now"] = False
    assert run_worker(event) == []  # the redelivery completes
    rooms = family(call_api, room_id)["rooms"]
    assert [r["occupancy"] for r in rooms] == [2, 2]


def test_a_poison_message_fails_alone_and_its_ticket_fails_on_the_last_delivery(
    call_api: CallApi, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, tickets = fill_and_queue(call_api, capacity=1, users=1 + 2)
    event = sqs_event(aws["OverflowQueue"], receive_count=3)  # ROOMS_OVERFLOW_MAX_RECEIVE_COUNT in tests
    garbage = dict(event["Records"][0], messageId="garbage", body="{not an overflow request")
    poisoned_user = json.loads(event["Records"][0]["body"])["user_id"]
    worker = load_function("overflow_worker")
    real = worker.service.seat_family

    def seat_family(family_id: str, requests: list[Any]) -> Any:
        if any(r.user_id == poisoned_user for r in requests):
            raise RuntimeError("this request always breaks the worker")
        return real(family_id, requests)

    monkeypatch.setattr(worker.service, "seat_family", seat_family)
    single = [{"Records": [record]} for record in event["Records"]]
    assert run_worker({"Records": [garbage]}) == ["garbage"]
    assert run_worker(single[0]) == [event["Records"][0]["messageId"]]
    assert run_worker(single[1]) == []
    _, ticket = call_api("get_ticket", path={"ticket_id": tickets[poisoned_user]}, sub=poisoned_user)
    assert ticket["status"] == "failed" and ticket["reason"] == "overflow_failed"
    other = next(user for user in tickets if user != poisoned_user)
    assert call_api("get_ticket", path={"ticket_id": tickets[other]}, sub=other)[1]["status"] == "seated"


def test_leaving_while_queued_withdraws_the_ticket(call_api: CallApi, aws: dict[str, str]) -> None:
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=2)
    status, body = call_api("leave_room", path={"room_id": room_id}, sub="u1")
    assert status == 200 and body["ticket_cancelled"] is True
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    assert family(call_api, room_id)["total_occupancy"] == 1
    _, ticket = call_api("get_ticket", path={"ticket_id": tickets["u1"]}, sub="u1")
    assert ticket["status"] == "failed" and ticket["reason"] == "cancelled"
    # joining again re-queues the same ticket
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u1")
    assert status == 202 and body["ticket"]["ticket_id"] == tickets["u1"] and body["ticket"]["status"] == "queued"


def test_closing_the_family_fails_queued_tickets(call_api: CallApi, aws: dict[str, str]) -> None:
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=3)
    assert call_api("close_room", path={"room_id": room_id})[0] == 200
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    for user, ticket_id in tickets.items():
        _, ticket = call_api("get_ticket", path={"ticket_id": ticket_id}, sub=user)
        assert ticket["status"] == "failed" and ticket["reason"] == "room_closed"


# ------------------------------------------------------------- a lost user (issue 8, item 1)
class WorkerKilled(BaseException):
    """The Lambda instance dies mid-batch (killed, out of memory): nothing of the handler's runs after it,
    not even the partial batch response. A BaseException, so no `except Exception` in the code catches it."""


def dead_letter_after(aws: dict[str, str], max_receives: int = 3) -> None:
    """The overflow queue's redrive policy, as template.yaml declares it (the fixture creates bare queues)."""
    sqs = boto3.client("sqs")
    dlq_arn = sqs.get_queue_attributes(QueueUrl=aws["OverflowDeadLetterQueue"], AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": max_receives}
    sqs.set_queue_attributes(QueueUrl=aws["OverflowQueue"], Attributes={"RedrivePolicy": json.dumps(policy)})


def deliver_until_dead_lettered(aws: dict[str, str], deliver: Callable[[dict[str, Any]], None]) -> int:
    """Deliver the queue's messages as the event source does, none ever deleted, until SQS dead-letters
    them; returns how many deliveries there were. Safety net only: SQS gives up after maxReceiveCount."""
    sqs = boto3.client("sqs")
    for deliveries in range(10):
        messages = sqs.receive_message(
            QueueUrl=aws["OverflowQueue"], MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        if not messages:
            return deliveries
        sample = load_event("overflow_worker/overflow_batch")["Records"][0]
        records = [
            {**sample, "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
            | {"attributes": dict(m["Attributes"]), "md5OfBody": m["MD5OfBody"]}
            for m in messages
        ]
        deliver({"Records": records})
    raise AssertionError("SQS never dead-lettered the messages")


def lose_the_messages(aws: dict[str, str]) -> None:
    """The queued messages vanish unprocessed (as if never sent: the API died before publishing)."""
    assert sqs_event(aws["OverflowQueue"])["Records"]


def dead_letters(aws: dict[str, str]) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws["OverflowDeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def ticket_of(call_api: CallApi, ticket_id: str, user: str) -> dict[str, Any]:
    status, ticket = call_api("get_ticket", path={"ticket_id": ticket_id}, sub=user)
    assert status == 200, ticket
    return dict(ticket)


def kill_the_worker_for(monkeypatch: pytest.MonkeyPatch, user: str) -> dict[str, bool]:
    """Every batch holding `user`'s request kills the worker while it seats it, until `healed` is set."""
    state = {"healed": False}

    def seat_batch(real: SeatBatch, room: Any, requests: Any, now: Any) -> Any:
        if not state["healed"] and any(request.user_id == user for request in requests):
            raise WorkerKilled()
        return real(room, requests, now)

    worker_seating_with(monkeypatch, seat_batch)
    return state


def run_dying_worker(event: dict[str, Any]) -> None:
    with pytest.raises(WorkerKilled):
        run_worker(event)


def dying_at_init(event: dict[str, Any]) -> None:
    """A delivery whose invocation dies while the instance starts: the handler never runs."""


@pytest.fixture
def housekeeping_reads_the_dlq(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The scheduler function configured as template.yaml does: it knows the overflow DLQ."""
    from rooms.config import settings

    monkeypatch.setenv("ROOMS_OVERFLOW_DLQ_URL", aws["OverflowDeadLetterQueue"])
    settings.cache_clear()
    fresh_scheduler_services(monkeypatch)
    yield
    settings.cache_clear()


def run_housekeeping() -> dict[str, Any]:
    scheduler = load_function("scheduler")
    result: dict[str, Any] = scheduler.lambda_handler(load_event("scheduler/housekeeping"), LambdaContext())
    return result


def later_service(seconds: float) -> Any:
    """The API's use cases with a clock `seconds` ahead: the budget runs out without waiting for it."""
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.service import RoomService, utcnow

    def clock() -> datetime:
        return utcnow() + timedelta(seconds=seconds)

    return RoomService(DynamoRoomStore(), DynamoTicketStore(), SqsOverflowPublisher(), clock=clock)


def later_sweep(seconds: float) -> Any:
    """One housekeeping run `seconds` from now, with the production wiring but that clock."""
    from rooms.adapters.event_store import DynamoEventStore
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.sweep_queue import SqsSweepQueue
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.config import settings
    from rooms.housekeeping import Housekeeping
    from rooms.reconciler import TicketReconciler
    from rooms.service import utcnow

    def clock() -> datetime:
        return utcnow() + timedelta(seconds=seconds)

    rooms, tickets, config = DynamoRoomStore(), DynamoTicketStore(), settings()
    budget = timedelta(seconds=config.overflow_delivery_budget_seconds)
    return Housekeeping(
        store=DynamoHousekeepingStore(),
        rooms=rooms,
        tickets=tickets,
        events=DynamoEventStore(),
        heartbeat_interval_seconds=config.heartbeat_interval_seconds,
        empty_room_grace_seconds=300,
        sweep_queue=SqsSweepQueue(),
        clock=clock,
        reconciler=TicketReconciler(rooms, tickets, SqsOverflowPublisher(), budget, clock),
    ).run()


def budget_seconds() -> int:
    from rooms.config import settings

    return settings().overflow_delivery_budget_seconds


def test_a_request_that_kills_the_worker_every_time_is_failed_from_the_dlq_and_a_rejoin_seats_the_user(
    call_api: CallApi, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, housekeeping_reads_the_dlq: None
) -> None:
    # GIVEN a full room, a queued user, and a worker that dies on every delivery of that user's request
    dead_letter_after(aws)
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=2)
    worker = kill_the_worker_for(monkeypatch, "u1")
    # WHEN SQS has delivered it three times (ROOMS_OVERFLOW_MAX_RECEIVE_COUNT) and dead-lettered it
    assert deliver_until_dead_lettered(aws, run_dying_worker) == 3
    assert dead_letters(aws) == 1
    # THEN the ticket still waits (no delivery ever ran to its end) and a rejoin alone changes nothing yet
    assert ticket_of(call_api, tickets["u1"], "u1")["status"] == "queued"
    assert call_api("join_room", path={"room_id": room_id}, sub="u1")[1]["ticket"]["status"] == "queued"
    # WHEN housekeeping runs THEN the ticket fails with a reason, and the message stays for operators
    report = run_housekeeping()
    assert report["dead_letters"] == 1 and report["tickets_failed"] == 1
    failed = ticket_of(call_api, tickets["u1"], "u1")
    assert (failed["status"], failed["reason"]) == ("failed", "overflow_failed")
    assert dead_letters(aws) == 1
    assert run_housekeeping()["tickets_failed"] == 0  # looked at again, settled already
    # WHEN the worker is fixed and the user joins again THEN they are queued afresh and seated
    worker["healed"] = True
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u1")
    assert status == 202 and body["ticket"]["ticket_id"] == tickets["u1"] and body["ticket"]["status"] == "queued"
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    seated = ticket_of(call_api, tickets["u1"], "u1")
    assert (seated["status"], seated["room_index"]) == ("seated", 1)
    rooms = family(call_api, room_id)["rooms"]
    assert [r["occupancy"] for r in rooms] == [1, 1]


def test_a_worker_dying_at_init_every_time_then_a_rejoin_past_the_budget_publishes_again(
    call_api: CallApi, aws: dict[str, str]
) -> None:
    # GIVEN a queued user whose request died at init on every delivery
    dead_letter_after(aws)
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=2)
    assert deliver_until_dead_lettered(aws, dying_at_init) == 3
    # WHEN they join again within the delivery budget THEN the same ticket, and no new message
    assert call_api("join_room", path={"room_id": room_id}, sub="u1")[0] == 202
    assert sqs_event(aws["OverflowQueue"])["Records"] == []
    # WHEN they join again once the budget (visibility timeout x receives) has run out
    again = later_service(budget_seconds() + 1).join(room_id, "u1")
    # THEN the request is published again, for this queueing, and the worker seats them
    assert again.ticket_id == tickets["u1"] and again.republished == 1
    event = sqs_event(aws["OverflowQueue"])
    assert [json.loads(r["body"])["queued_at"] for r in event["Records"]] == [again.updated_at.isoformat()]
    assert run_worker(event) == []
    assert ticket_of(call_api, tickets["u1"], "u1")["status"] == "seated"
    assert family(call_api, room_id)["total_occupancy"] == 2


def test_the_sweep_publishes_again_a_ticket_whose_message_was_lost_before_any_parallel_room(
    call_api: CallApi, aws: dict[str, str]
) -> None:
    # GIVEN a family with no parallel room yet and a queued user whose message is gone (never sent, purged)
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=2)
    lose_the_messages(aws)
    assert family(call_api, room_id)["main_room_id"] == room_id and len(family(call_api, room_id)["rooms"]) == 1
    # WHEN housekeeping runs before the budget ran out THEN nothing; after it, the request is published again
    assert later_sweep(budget_seconds() - 60).tickets_republished == 0
    assert later_sweep(budget_seconds() + 1).tickets_republished == 1
    assert ticket_of(call_api, tickets["u1"], "u1")["status"] == "queued"
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    assert ticket_of(call_api, tickets["u1"], "u1")["status"] == "seated"


def test_a_ticket_republished_and_lost_again_is_failed_and_a_rejoin_seats_the_user(
    call_api: CallApi, aws: dict[str, str]
) -> None:
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=2)
    lose_the_messages(aws)
    assert later_sweep(budget_seconds() + 1).tickets_republished == 1
    lose_the_messages(aws)  # lost again
    # WHEN its second budget has run out THEN it fails with a reason rather than looping for ever
    report = later_sweep(2 * budget_seconds() + 2)
    assert (report.tickets_republished, report.tickets_failed) == (0, 1)
    failed = ticket_of(call_api, tickets["u1"], "u1")
    assert (failed["status"], failed["reason"]) == ("failed", "overflow_failed")
    assert call_api("join_room", path={"room_id": room_id}, sub="u1")[0] == 202
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    assert ticket_of(call_api, tickets["u1"], "u1")["status"] == "seated"


def test_a_queued_user_seated_in_the_main_room_by_a_rejoin_never_reads_queued(
    call_api: CallApi, aws: dict[str, str]
) -> None:
    # GIVEN a queued user whose message is gone, and a main-room seat that frees
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=2)
    lose_the_messages(aws)
    assert call_api("leave_room", path={"room_id": room_id}, sub="u0")[1]["left"] is True
    # WHEN they join again THEN they get the seat, and their ticket says so at once
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u1")
    assert status == 200 and body["seat"]["room_id"] == room_id
    seated = ticket_of(call_api, tickets["u1"], "u1")
    assert (seated["status"], seated["room_id"], seated["room_index"]) == ("seated", room_id, 0)
    # AND housekeeping writes it down instead of publishing anything once the budget ran out
    report = later_sweep(budget_seconds() + 1)
    assert (report.tickets_seated, report.tickets_republished) == (1, 0)
    assert sqs_event(aws["OverflowQueue"])["Records"] == []
    # AND a leave ends that ticket: nothing can seat them again behind their back
    assert call_api("leave_room", path={"room_id": room_id}, sub="u1")[1]["left"] is True
    assert ticket_of(call_api, tickets["u1"], "u1")["status"] == "left"


def test_the_last_delivery_of_an_outdated_message_does_not_fail_a_newer_queueing(
    call_api: CallApi, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a queued user whose first message is still around when a rejoin past the budget publishes again
    room_id, tickets = fill_and_queue(call_api, capacity=1, users=2)
    old = sqs_event(aws["OverflowQueue"], receive_count=3)  # its last delivery
    later_service(budget_seconds() + 1).join(room_id, "u1")
    worker = load_function("overflow_worker")
    real = worker.service.seat_family
    monkeypatch.setattr(worker.service, "seat_family", lambda *_: (_ for _ in ()).throw(RuntimeError("broken")))
    # WHEN the old message's last delivery fails THEN the ticket is not failed: it waits on the new message
    assert run_worker(old) == [old["Records"][0]["messageId"]]
    assert ticket_of(call_api, tickets["u1"], "u1")["status"] == "queued"
    monkeypatch.setattr(worker.service, "seat_family", real)
    assert run_worker(sqs_event(aws["OverflowQueue"])) == []
    assert ticket_of(call_api, tickets["u1"], "u1")["status"] == "seated"
