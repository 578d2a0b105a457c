"""A function's AWS clients come from one botocore session per thread: a client from a new session loads
its service model again and costs as much as the very first one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rooms.adapters import aws_session
from rooms.adapters.dynamo import new_connection
from rooms.adapters.models import RoomItem, SeatItem, TicketItem
from rooms.adapters.sqs_publisher import SqsOverflowPublisher
from rooms.ports import OverflowRequest


def test_every_model_and_connection_takes_the_threads_session() -> None:
    models = (RoomItem, SeatItem, TicketItem)
    for model in models:  # made afresh: a connection an earlier test left holds the session of its time
        model._connection = None
    try:
        # GIVEN the models of three kinds of item and a connection for transactions
        connections = [model._get_connection().connection for model in models]
        connections.append(new_connection())
        # THEN they all make their clients from this thread's one session
        assert {id(connection.session) for connection in connections} == {id(aws_session.botocore_session())}
    finally:  # the models keep their connection: later tests (moto's) must make theirs afresh
        for model in models:
            model._connection = None
        aws_session.reset()


def test_each_thread_has_a_session_of_its_own() -> None:
    # botocore's client creation is not thread-safe: threads never share a session
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(aws_session.botocore_session).result()
    assert other is not aws_session.botocore_session()


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **request: Any) -> None:
        self.sent.append(request)


def test_the_overflow_publisher_makes_its_client_on_its_first_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a publisher, and a record of the SQS clients made
    sqs = FakeSqs()
    made: list[str] = []

    def client(service: str, **options: Any) -> FakeSqs:
        made.append(service)
        return sqs

    monkeypatch.setattr(aws_session, "client", client)
    publisher = SqsOverflowPublisher(queue_url="https://sqs.example/overflow")
    # THEN a request that publishes nothing never makes a client
    assert made == []
    # WHEN it publishes twice
    publisher.publish(OverflowRequest(ticket_id="t1", family_id="f", user_id="u1"))
    publisher.publish(OverflowRequest(ticket_id="t2", family_id="f", user_id="u2"))
    # THEN one client sent both
    assert made == ["sqs"]
    assert [request["QueueUrl"] for request in sqs.sent] == ["https://sqs.example/overflow"] * 2
