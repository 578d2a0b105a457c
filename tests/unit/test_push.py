"""The push adapter over a stubbed @connections client (botocore's Stubber: no socket): every open
connection of the user gets the frame, a gone one (410) is forgotten, and no failure reaches the writer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from botocore.stub import Stubber

from rooms.adapters.push import ApiGatewayNotifier, management_client
from rooms.domain.live import Connection, seat_freed
from tests.unit.fakes import START, FakeConnectionStore, Table

ENDPOINT = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev"
FRAME = seat_freed("r_main", "kicked", START)
DATA = json.dumps(FRAME, separators=(",", ":")).encode()


@pytest.fixture
def table() -> Table:
    table = Table()
    store = FakeConnectionStore(table)
    store.record(Connection("alice", "c1", START))
    store.record(Connection("alice", "c2", START + timedelta(minutes=1)))
    store.record(Connection("bob", "b1", START))
    return table


@pytest.fixture
def stubbed() -> Iterator[tuple[object, Stubber]]:
    client = management_client(ENDPOINT)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_post(stubber: Stubber, connection_id: str, data: bytes = DATA) -> None:
    stubber.add_response("post_to_connection", {}, {"ConnectionId": connection_id, "Data": data})


def test_a_push_reaches_every_connection_of_the_user_only(table: Table, stubbed: tuple[object, Stubber]) -> None:
    client, stubber = stubbed
    expect_post(stubber, "c1")
    expect_post(stubber, "c2")
    ApiGatewayNotifier(FakeConnectionStore(table), client=client).notify("alice", FRAME)
    assert table.count("connections_of") == 1


def test_a_gone_connection_is_forgotten_and_the_others_still_get_the_push(
    table: Table, stubbed: tuple[object, Stubber]
) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "post_to_connection", service_error_code="GoneException", http_status_code=410, expected_params=None
    )
    expect_post(stubber, "c2")
    ApiGatewayNotifier(FakeConnectionStore(table), client=client).notify("alice", FRAME)
    assert set(table.connections) == {("alice", "c2"), ("bob", "b1")}


def test_a_gone_connection_that_holds_a_seat_is_left_to_its_disconnect(
    table: Table, stubbed: tuple[object, Stubber]
) -> None:
    client, stubber = stubbed
    store = FakeConnectionStore(table)
    store.set_hold("bob", "b1", "r_main")
    stubber.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
    ApiGatewayNotifier(store, client=client).notify("bob", FRAME)
    assert ("bob", "b1") in table.connections


def test_other_failures_are_swallowed(table: Table, stubbed: tuple[object, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error("post_to_connection", service_error_code="LimitExceededException", http_status_code=429)
    stubber.add_client_error("post_to_connection", service_error_code="ForbiddenException", http_status_code=403)
    ApiGatewayNotifier(FakeConnectionStore(table), client=client).notify("alice", FRAME)
    assert len(table.connections) == 3  # nothing forgotten but gone connections

    def broken() -> None:
        raise ConnectionError("the table is unreachable")

    table.before("connections_of", broken)
    ApiGatewayNotifier(FakeConnectionStore(table), client=client).notify("alice", FRAME)  # nothing raised


def test_a_bulk_push_tells_each_user(table: Table) -> None:
    posted: list[tuple[str, bytes]] = []

    class Client:
        def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:  # boto3 names the parameters
            posted.append((ConnectionId, Data))

    pushes = [("alice", FRAME), ("bob", FRAME), ("nobody", FRAME)]
    ApiGatewayNotifier(FakeConnectionStore(table), client=Client()).notify_many(pushes)
    assert sorted(posted) == [("b1", DATA), ("c1", DATA), ("c2", DATA)]


def test_a_bulk_push_stops_at_its_time_budget(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    from rooms.adapters import push

    posted: list[str] = []

    class Client:
        def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:  # boto3 names the parameters
            posted.append(ConnectionId)

    monkeypatch.setattr(push, "BULK_PUSH_SECONDS", 0.0)  # the budget is spent before the first push
    ApiGatewayNotifier(FakeConnectionStore(table), client=Client()).notify_many([("alice", FRAME), ("bob", FRAME)])
    assert posted == []


def test_a_notifier_given_its_own_bulk_budget_keeps_it(table: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    """The overflow worker, which no caller waits on, pushes for longer than the default budget."""
    from rooms.adapters import push

    posted: list[str] = []

    class Client:
        def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:  # boto3 names the parameters
            posted.append(ConnectionId)

    monkeypatch.setattr(push, "BULK_PUSH_SECONDS", 0.0)  # the default would push nothing
    notifier = ApiGatewayNotifier(FakeConnectionStore(table), client=Client(), bulk_seconds=30.0)
    notifier.notify_many([("alice", FRAME), ("bob", FRAME)])
    assert sorted(posted) == ["b1", "c1", "c2"]
