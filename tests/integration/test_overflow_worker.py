"""The overflow worker through moto: seating order, idempotency under redelivery, crashes, poison messages."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from tests.conftest import LambdaContext, load_event, load_function

CallApi = Callable[..., tuple[int, Any]]


def sqs_event(queue_url: str, max_messages: int = 10, receive_count: int | None = None) -> dict[str, Any]:
    """Receive from the moto queue and shape the batch exactly like the SQS event source does."""
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=max_messages, AttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    sample = load_event("overflow_worker/overflow_batch")["Records"][0]
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
    worker = load_function("overflow_worker")
    store = worker.service._store
    real_seat_batch = store.seat_batch

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(store, "seat_batch", crash)
    failed = run_worker(event)
    assert sorted(failed) == sorted(r["messageId"] for r in event["Records"])
    rooms = family(call_api, room_id)["rooms"]
    assert [r["occupancy"] for r in rooms] == [2, 0]  # the room exists, nobody is half-seated in it
    monkeypatch.setattr(store, "seat_batch", real_seat_batch)
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
