"""Admission and overflow figures on the local stack (DynamoDB Local), each against a baseline run here.

Prints admitted joins per second through the HTTP API and through the store layer, each as a ratio to
a raw conditional UpdateItem on the same DynamoDB Local in the same run; DynamoDB requests per admitted
and per rejected (queued) join; overflow seat latency from the 202 to `seated` (p50/p95/p99) and
DynamoDB requests per overflow seat. Not a test: figures, for people and for the closing notes.

    .venv/bin/python bench/joins.py [--attempts 1500] [--threads 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import botocore.client
import httpx

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token

_calls: Counter[str] = Counter()
_lock = threading.Lock()
_real_make_api_call = botocore.client.BaseClient._make_api_call


def _counting_make_api_call(self: Any, operation: str, params: Any) -> Any:
    with _lock:
        _calls[f"{self.meta.service_model.service_name}.{operation}"] += 1
    return _real_make_api_call(self, operation, params)


@contextmanager
def counted() -> Iterator[Counter[str]]:
    """Count every AWS request made in this process while the block runs."""
    seen: Counter[str] = Counter()
    before = Counter(_calls)
    yield seen
    seen.update(Counter(_calls) - before)


def rate(work: Callable[[int], Any], attempts: int, threads: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(attempts)))
    return attempts / (time.perf_counter() - started)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=1500, help="join attempts per measurement")
    parser.add_argument("--threads", type=int, default=16, help="concurrent clients")
    parser.add_argument("--overflow-users", type=int, default=1500)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    botocore.client.BaseClient._make_api_call = _counting_make_api_call

    # the seats it makes never heartbeat: a long interval keeps housekeeping from freeing them mid-run
    with LocalStack(visibility_timeout=30, parameters={"HeartbeatIntervalSeconds": "3600"}) as stack:
        os.environ.update(stack.function_env("ApiFunction"))  # before importing rooms: pynamodb reads it
        bench = Bench(stack, args.threads)
        figures: dict[str, Any] = {"attempts": args.attempts, "threads": args.threads}
        figures.update(bench.admissions(args.attempts))
        figures.update(bench.requests_per_join())
        figures.update(bench.overflow(args.overflow_users))
    print(json.dumps(figures, indent=2))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    return 0


def dynamodb_requests(calls: Counter[str]) -> int:
    return sum(count for name, count in calls.items() if name.startswith("dynamodb."))


class Bench:
    def __init__(self, stack: LocalStack, threads: int) -> None:
        from rooms.adapters.dynamo_store import DynamoRoomStore
        from rooms.adapters.sqs_publisher import SqsOverflowPublisher
        from rooms.service import RoomService

        self.stack = stack
        self.threads = threads
        self.store = DynamoRoomStore()
        self.service = RoomService(self.store, SqsOverflowPublisher())
        limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
        self.http = httpx.Client(base_url=stack.api_url, timeout=60, limits=limits)

    def admissions(self, attempts: int) -> dict[str, Any]:
        """Admitted joins per second: raw conditional UpdateItem, the store layer, the HTTP API."""
        from rooms.service import utcnow

        dynamodb = self.stack.client("dynamodb")
        table = self.stack.template.tables["RoomsTable"].name
        key = {"pk": {"S": "BENCH"}, "sk": {"S": "COUNTER"}}
        dynamodb.put_item(TableName=table, Item={**key, "n": {"N": "0"}})

        def raw_update(_: int) -> None:
            # the cheapest cap there is: one conditional UpdateItem on a counter
            dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="ADD n :one",
                ConditionExpression="n < :cap",
                ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": str(10**9)}},
            )

        rate(raw_update, 100, self.threads)  # warm the JVM
        baseline = rate(raw_update, attempts, self.threads)

        room = self.service.create_room("bench-host", "store", 10**6, {})
        store_rate = rate(
            lambda n: self.store.admit(room.room_id, room.family_id, f"store-{n}", utcnow()), attempts, self.threads
        )

        room = self.service.create_room("bench-host", "http", 10**6, {})
        tokens = [mint_token(f"http-{n}") for n in range(attempts)]
        for n in range(20):  # warm every function instance
            self.http.get(f"/rooms/{room.room_id}", headers={"Authorization": f"Bearer {tokens[n]}"})

        def http_join(n: int) -> None:
            response = self.http.post(f"/rooms/{room.room_id}/join", headers={"Authorization": f"Bearer {tokens[n]}"})
            assert response.status_code == 200, response.text

        http_rate = rate(http_join, attempts, self.threads)
        return {
            "raw_conditional_update_per_s": round(baseline, 1),
            "store_admits_per_s": round(store_rate, 1),
            "store_ratio_to_raw": round(store_rate / baseline, 3),
            "http_admits_per_s": round(http_rate, 1),
            "http_ratio_to_raw": round(http_rate / baseline, 3),
        }

    def requests_per_join(self) -> dict[str, Any]:
        """AWS requests one join costs: admitted, and rejected because the room is full (it queues)."""
        small = self.service.create_room("bench-host", "small", 1, {})
        with counted() as admitted:
            self.service.join(small.room_id, "first")
        with counted() as rejected:
            for n in range(100):
                self.service.join(small.room_id, f"late-{n}")
        return {
            "dynamodb_requests_per_admitted_join": dynamodb_requests(admitted),
            "dynamodb_requests_per_rejected_join": dynamodb_requests(rejected) / 100,
            "sqs_messages_per_rejected_join": rejected["sqs.SendMessage"] / 100,
        }

    def overflow(self, users: int) -> dict[str, Any]:
        """Seat latency over HTTP from the 202 to `seated`, and DynamoDB requests per overflow seat."""
        from rooms.config import settings
        from rooms.domain.model import Ticket, TicketStatus, ticket_id_for
        from rooms.overflow_service import OverflowService
        from rooms.ports import OverflowRequest
        from rooms.service import utcnow

        full = self.service.create_room("bench-host", "overflow", 100, {})
        for n in range(100):
            self.store.admit(full.room_id, full.family_id, f"occupant-{n}", utcnow())
        latencies = overflow_latencies(self.http, full.room_id, users, self.threads)

        # the worker's use case on batches of 50, as the SQS event source delivers them
        family = self.service.create_room("bench-host", "worker", 500, {})
        worker = OverflowService(self.store, settings().max_parallel_rooms)
        requests = []
        for n in range(500):
            now = utcnow()
            user = f"w-{n}"
            ticket_id = ticket_id_for(family.family_id, user)
            self.store.put_ticket(
                Ticket(ticket_id, family.family_id, user, TicketStatus.QUEUED, family.room_id, now, now)
            )
            requests.append(OverflowRequest(ticket_id, family.family_id, user))
        with counted() as calls:
            for start in range(0, len(requests), 50):
                worker.seat_family(family.family_id, requests[start : start + 50])
        return {
            "overflow_seat_latency_ms": {
                "p50": round(percentile(latencies, 50) * 1000),
                "p95": round(percentile(latencies, 95) * 1000),
                "p99": round(percentile(latencies, 99) * 1000),
                "seated": len(latencies),
            },
            "dynamodb_requests_per_overflow_seat": round(dynamodb_requests(calls) / len(requests), 3),
        }


def overflow_latencies(http: httpx.Client, room_id: str, users: int, threads: int) -> list[float]:
    """Join a full room with `users` users; each follows its ticket until seated. Seconds from 202 to seated."""

    def follow(n: int) -> float:
        headers = {"Authorization": f"Bearer {mint_token(f'overflow-{n}')}"}
        response = http.post(f"/rooms/{room_id}/join", headers=headers)
        assert response.status_code == 202, response.text
        queued_at = time.perf_counter()
        ticket_id = response.json()["ticket"]["ticket_id"]
        while True:
            ticket = http.get(f"/tickets/{ticket_id}", headers=headers).json()
            if ticket["status"] == "seated":
                return time.perf_counter() - queued_at
            assert ticket["status"] == "queued", ticket
            time.sleep(0.05)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(follow, range(users)))


if __name__ == "__main__":
    sys.exit(main())
