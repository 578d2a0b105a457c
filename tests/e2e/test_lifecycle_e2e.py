"""Lifecycle events and rebalancing end to end on the local stack: DynamoDB Local's stream of the table, the template's
stream mapping (its filters, batching and retries) into the lifecycle function, and moto's EventBridge,
where a rule on the stack's bus takes every event into a queue. A booked show is opened and closed by
its schedules, its main room fills, overflow users are seated in its parallel room, and one is promoted:
each event type arrives, once its cause is committed. A family of 5 thinned-out parallel rooms is
rebalanced by the minute run into the fewest rooms, nobody lost or doubled, and the emptied rooms close.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token
from tests.e2e.state import read_family

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]
CAPACITY = 3


@pytest.fixture(scope="module")
def life_stack() -> Iterator[LocalStack]:
    # the scheduler's clock is frozen: the test moves it to the show's start and past its end
    with LocalStack(
        stack_name="life",
        visibility_timeout=20,
        clock_speed=0,
        # rebalancing moves listeners who just sat down, and an emptied room closes at the next run
        parameters={"HeartbeatIntervalSeconds": 3600, "RebalanceMinStaySeconds": 0, "EmptyRoomGraceSeconds": 0},
    ) as stack:
        yield stack


class Tap:
    """A rule on the stack's lifecycle bus sending every event of source "rooms" to a queue of the test's."""

    def __init__(self, stack: LocalStack, queue: str = "life-tap") -> None:
        self.sqs, events = stack.client("sqs"), stack.client("events")
        bus = stack.template.event_buses["LifecycleEventBus"].name
        self.url = self.sqs.create_queue(QueueName=queue)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=queue, EventBusName=bus, EventPattern=json.dumps({"source": ["rooms"]}))
        events.put_targets(Rule=queue, EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])

    def drain(self) -> list[dict[str, Any]]:
        found = []
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages"):
            found += [json.loads(message["Body"]) for message in messages]
            entries = [{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
        return found


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event["detail"]["data"] for event in events if event["detail-type"] == kind]


def test_a_show_tells_each_lifecycle_event_on_the_bus(life_stack: LocalStack) -> None:
    stack = life_stack
    tap = Tap(stack)
    headers: Callable[[str], dict[str, str]] = lambda user: {"Authorization": f"Bearer {mint_token(user)}"}  # noqa: E731
    host = headers("life-host")
    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        # GIVEN a show for 6 listeners at 3 a room, booked to start in two minutes
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
        booking = {
            "title": "Lifecycle",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "timezone": "UTC",
            "capacity": CAPACITY,
            "expected_audience": 2 * CAPACITY,
        }
        booked = http.post("/events", json=booking, headers=host)
        assert booked.status_code == 201, booked.text
        event_id = booked.json()["event_id"]
        # WHEN its start comes THEN it opens with one parallel room ready
        stack.advance_clock((starts - stack.scheduler_now()).total_seconds() + 1)
        show = http.get(f"/events/{event_id}", headers=host).json()
        assert show["status"] == "live", show
        room_id = show["room_id"]
        # WHEN 3 listeners fill the main room and 2 more, opted in to promotion, are seated in room 1
        for user in ("life-1", "life-2", "life-3"):
            assert http.post(f"/rooms/{room_id}/join", headers=headers(user)).status_code == 200
        for user in ("life-4", "life-5"):
            assert http.post(f"/rooms/{room_id}/join", json={"promote": True}, headers=headers(user)).status_code == 202
        stack.wait_idle(timeout=300)
        # AND a main-room listener leaves (the first in line moves up) and the show ends
        assert http.post(f"/rooms/{room_id}/leave", headers=headers("life-1")).status_code == 200
        stack.wait_idle(timeout=300)
        stack.advance_clock(3600)
        assert http.get(f"/events/{event_id}", headers=host).json()["status"] == "ended"
        stack.wait_idle(timeout=300)

    # THEN every event type arrived from source "rooms", in the one detail shape
    told = tap.drain()
    assert {event["source"] for event in told} == {"rooms"}
    assert all(event["detail"]["version"] == 1 and event["detail"]["type"] == event["detail-type"] for event in told)
    assert {event["detail-type"] for event in told} == {
        "show.live",
        "show.ended",
        "room.opened",
        "room.full",
        "room.closed",
        "parallel_room.created",
        "parallel_room.closed",
        "user.promoted",
    }
    parallel = f"{room_id}-p1"
    assert [(d["event_id"], d["room_id"]) for d in of_type(told, "show.live")] == [(event_id, room_id)]
    assert [(d["event_id"], d["room_id"], d["status"]) for d in of_type(told, "show.ended")] == [
        (event_id, room_id, "ended")
    ]
    assert [(d["room_id"], d["event_id"]) for d in of_type(told, "room.opened")] == [(room_id, event_id)]
    assert [(d["room_id"], d["index"]) for d in of_type(told, "parallel_room.created")] == [(parallel, 1)]
    # the main room filled at the joins, and again when the promotion took the seat its leaver freed
    assert {d["room_id"] for d in of_type(told, "room.full")} == {room_id}
    assert [(d["user_id"], d["from_room_id"], d["room_id"]) for d in of_type(told, "user.promoted")] == [
        ("life-4", parallel, room_id)
    ]
    assert [d["room_id"] for d in of_type(told, "room.closed")] == [room_id]
    assert [d["room_id"] for d in of_type(told, "parallel_room.closed")] == [parallel]
    # AND nothing was given up on
    dead = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.template.queues["LifecycleDeadLetterQueue"].url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert dead["ApproximateNumberOfMessages"] == "0"


def test_five_thin_parallel_rooms_are_merged_into_one_with_nobody_lost_or_doubled(life_stack: LocalStack) -> None:
    stack = life_stack
    tap = Tap(stack, queue="rebalance-tap")
    dynamodb, table = stack.client("dynamodb"), stack.template.tables["RoomsTable"].name
    headers: Callable[[str], dict[str, str]] = lambda user: {"Authorization": f"Bearer {mint_token(user)}"}  # noqa: E731
    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        # GIVEN a family that asked for rebalancing: a full main room of 10 and 5 full parallel rooms
        created = http.post("/rooms", json={"title": "Merge", "capacity": 10, "rebalance": True}, headers=headers("mh"))
        assert created.status_code == 201 and created.json()["rebalance"] is True, created.text
        room_id = created.json()["room_id"]
        for n in range(10):
            assert http.post(f"/rooms/{room_id}/join", headers=headers(f"main-{n}")).status_code == 200
        overflow = [f"over-{n:02d}" for n in range(50)]
        for user in overflow:
            assert http.post(f"/rooms/{room_id}/join", headers=headers(user)).status_code == 202
        stack.wait_idle(timeout=300)
        full = read_family(dynamodb, table, room_id)
        assert [full.occupancy(f"{room_id}-p{index}") for index in range(1, 6)] == [10] * 5
        # AND 8 of each parallel room's 10 leave: 10 listeners in 5 rooms
        by_room = {seat["user_id"]: seat["room_id"] for seat in full.seats}
        leaving = [
            user
            for index in range(1, 6)
            for user in sorted(u for u in overflow if by_room[u] == f"{room_id}-p{index}")[:8]
        ]
        for user in leaving:
            assert http.post(f"/rooms/{room_id}/leave", headers=headers(user)).status_code == 200
        stack.wait_idle(timeout=300)
        staying = set(overflow) - set(leaving)

        # WHEN the minute run comes THEN the 10 sit in one parallel room, each once, the counts exact (I1, I2)
        stack.advance_clock(60)
        stack.wait_idle(timeout=300)
        merged = read_family(dynamodb, table, room_id)
        merged.assert_invariants()
        occupancy = [merged.occupancy(f"{room_id}-p{index}") for index in range(1, 6)]
        assert sorted(occupancy) == [0, 0, 0, 0, 10]
        in_parallel = [seat["user_id"] for seat in merged.seats if seat["room_id"] != room_id]
        assert sorted(in_parallel) == sorted(staying)
        # AND the emptied rooms close at the next runs (marked empty, then past the grace)
        stack.advance_clock(60)
        stack.advance_clock(60)
        stack.wait_idle(timeout=300)
        rooms = http.get(f"/rooms/{room_id}/family", headers=headers("mh")).json()["rooms"]
        assert sorted((r["status"], r["occupancy"]) for r in rooms if r["index"] > 0) == [("closed", 0)] * 4 + [
            ("open", 10)
        ]
    # AND each move was told on the bus
    told = tap.drain()
    moved = of_type(told, "user.moved")
    assert len(moved) == 8 and {d["user_id"] for d in moved} <= staying
    assert len(of_type(told, "parallel_room.closed")) == 4


def test_rebalancing_under_a_churn_of_joins_and_leaves_loses_and_doubles_nobody(life_stack: LocalStack) -> None:
    stack = life_stack
    dynamodb, table = stack.client("dynamodb"), stack.template.tables["RoomsTable"].name
    headers: Callable[[str], dict[str, str]] = lambda user: {"Authorization": f"Bearer {mint_token(user)}"}  # noqa: E731
    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        # GIVEN a rebalancing family: a full main room of 10 and 5 parallel rooms of 10, thinned to 2 each
        created = http.post("/rooms", json={"title": "Churn", "capacity": 10, "rebalance": True}, headers=headers("ch"))
        room_id = created.json()["room_id"]
        for n in range(10):
            assert http.post(f"/rooms/{room_id}/join", headers=headers(f"cm-{n}")).status_code == 200
        overflow = [f"co-{n:02d}" for n in range(50)]
        for user in overflow:
            assert http.post(f"/rooms/{room_id}/join", headers=headers(user)).status_code == 202
        stack.wait_idle(timeout=300)
        by_room = {seat["user_id"]: seat["room_id"] for seat in read_family(dynamodb, table, room_id).seats}
        thinned = [u for i in range(1, 6) for u in sorted(u for u in overflow if by_room[u] == f"{room_id}-p{i}")[:8]]
        for user in thinned:
            assert http.post(f"/rooms/{room_id}/leave", headers=headers(user)).status_code == 200
        stack.wait_idle(timeout=300)
        staying = sorted(set(overflow) - set(thinned))

        # WHEN the minute run rebalances while 30 newcomers join and 5 of those staying leave, from 16 threads
        # (none of p5's: they are the listeners a run must move, p1 to p4 having the seats for all)
        newcomers = [f"cn-{n:02d}" for n in range(30)]
        leavers = [user for user in staying if by_room[user] != f"{room_id}-p5"][:5]

        def churn(user: str) -> int:
            action = "leave" if user in leavers else "join"
            return http.post(f"/rooms/{room_id}/{action}", headers=headers(user)).status_code

        with ThreadPoolExecutor(16) as pool:
            answers = pool.map(churn, [*newcomers[:15], *leavers, *newcomers[15:]])
            stack.advance_clock(60)  # the rebalancing run, among the churn
            assert set(answers) <= {200, 202}
        stack.wait_idle(timeout=300)
        stack.advance_clock(60)  # and a run after it
        stack.wait_idle(timeout=300)

        # THEN every user who should sit holds exactly one seat, the counts are exact (I1, I2), nobody else sits
        after = read_family(dynamodb, table, room_id)
        after.assert_invariants()
        expected = {f"cm-{n}" for n in range(10)} | (set(staying) - set(leavers)) | set(newcomers)
        assert sorted(seat["user_id"] for seat in after.seats) == sorted(expected)
        assert all(after.occupancy(r) <= int(room["capacity"]) for r, room in after.rooms.items())
        # rebalancing did move listeners: in the run among the churn, or else p5's two in the run after it
        assert any(seat.get("moved_at") for seat in after.seats)
