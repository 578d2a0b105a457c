"""Admission and overflow figures on the local stack (DynamoDB Local), each against baselines run here.

Admitted joins per second through the HTTP API (16 function instances) and through the store layer,
each as a ratio to a raw 2-item TransactWriteItems shaped like a join (the room counter's conditional
update and the seat's put with its index attributes) on the same DynamoDB Local, and to the old one-item
conditional UpdateItem as a second reference line. Like for like: the same threads for every variant,
botocore pools at least that large, one warm-up round, then interleaved rounds, the median reported.
HTTP clients run in a client process of their own (the stack's gateway and meter run in this one).
The capacity meter's overhead: admitted HTTP joins per second without and with the meter (a second
stack, in the same interleaved rounds), as a ratio. Then DynamoDB requests per admitted and per rejected
(queued) join; overflow seat latency from the 202 to `seated` (p50/p95/p99) and DynamoDB requests per
overflow seat. Not a test: figures, for people and for the closing notes.

    .venv/bin/python bench/joins.py [--attempts 1000] [--rounds 3] [--threads 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import boto3
import botocore.client
import httpx
from botocore.config import Config

from rooms_local.stack import LocalStack
from rooms_local.tokens import mint_token

_calls: Counter[str] = Counter()
_lock = threading.Lock()
_real_make_api_call = botocore.client.BaseClient._make_api_call
# the seats it makes never heartbeat: a long interval keeps their leases from ending mid-run
PARAMETERS = {"HeartbeatIntervalSeconds": "3600"}


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
    parser.add_argument("--attempts", type=int, default=1000, help="join attempts per variant and round")
    parser.add_argument("--warmup", type=int, default=200, help="attempts per variant in the warm-up round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds after the warm-up")
    parser.add_argument("--threads", type=int, default=16, help="concurrent clients of every variant")
    parser.add_argument("--instances", type=int, default=16, help="function instances behind the HTTP API")
    parser.add_argument("--overflow-users", type=int, default=1500)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    botocore.client.BaseClient._make_api_call = _counting_make_api_call

    with ExitStack() as stacks:
        # schedules off: housekeeping never runs inside a measurement
        options: dict[str, Any] = {"max_instances": args.instances, "schedules": False, "parameters": PARAMETERS}
        stack = stacks.enter_context(LocalStack(stack_name="bench", visibility_timeout=30, **options))
        metered = stacks.enter_context(LocalStack(stack_name="bench-metered", capacity_model=True, **options))
        os.environ.update(stack.function_env("ApiFunction"))  # before importing rooms: pynamodb reads it
        bench = Bench(stack, metered, args.threads)
        stacks.callback(bench.clients.shutdown)
        figures: dict[str, Any] = {
            "attempts": args.attempts,
            "rounds": args.rounds,
            "threads": args.threads,
            "function_instances": args.instances,
        }
        figures.update(bench.admissions(args.attempts, args.warmup, args.rounds))
        figures.update(bench.requests_per_join())
        figures.update(bench.overflow(args.overflow_users))
    print(format_figures(figures))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    return 0


def format_figures(figures: dict[str, Any]) -> str:
    latency = figures["overflow_seat_latency_ms"]
    rows = [
        ("raw 2-item TransactWriteItems, shaped like a join (baseline)", f"{figures['raw_transaction_per_s']} /s"),
        ("raw conditional UpdateItem on one item (old baseline)", f"{figures['raw_conditional_update_per_s']} /s"),
        (
            "admitted joins through the store layer",
            f"{figures['store_admits_per_s']} /s ({figures['store_ratio_to_raw_transaction']}x baseline, "
            f"{figures['store_ratio_to_raw_update']}x old)",
        ),
        (
            "admitted joins through the HTTP API",
            f"{figures['http_admits_per_s']} /s ({figures['http_ratio_to_raw_transaction']}x baseline, "
            f"{figures['http_ratio_to_raw_update']}x old)",
        ),
        ("admitted joins through the HTTP API, capacity meter on", f"{figures['http_admits_metered_per_s']} /s"),
        ("capacity meter overhead (joins/s without / with)", f"{figures['meter_overhead']}x"),
        (
            "DynamoDB requests per admitted join / per queued join",
            f"{figures['dynamodb_requests_per_admitted_join']} / {figures['dynamodb_requests_per_rejected_join']}"
            f" (+ {figures['sqs_messages_per_rejected_join']} SQS message)",
        ),
        (
            "overflow seat latency, 202 to seated",
            f"p50 {latency['p50']} ms, p95 {latency['p95']} ms, p99 {latency['p99']} ms",
        ),
        ("DynamoDB requests per overflow seat", str(figures["dynamodb_requests_per_overflow_seat"])),
    ]
    width = max(len(name) for name, _ in rows)
    title = (
        f"Admissions: {figures['threads']} threads, {figures['function_instances']} function instances, "
        f"median of {figures['rounds']} interleaved rounds of {figures['attempts']} joins"
    )
    return "\n".join([title, *(f"  {name:<{width}}  {value}" for name, value in rows)])


PYNAMODB_TIME = "%Y-%m-%dT%H:%M:%S.%f+0000"  # how pynamodb stores a UTCDateTimeAttribute


class Variant(NamedTuple):
    """One way of admitting: `prepare(tag, attempts)` makes a fresh room and the users' tokens (outside the
    timing) and returns the round, which admits `attempts` users and answers their joins per second."""

    name: str
    prepare: Callable[[str, int], Callable[[], float]]


def in_process(work: Callable[[int], None], attempts: int, threads: int) -> Callable[[], float]:
    return lambda: rate(work, attempts, threads)


def timed_joins(api_url: str, room_id: str, tokens: list[str], threads: int) -> float:
    """In a client process: each token joins `room_id` once, `threads` at a time; joins per second."""
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=api_url, timeout=60, limits=limits) as http:

        def join(token: str) -> None:
            response = http.post(f"/rooms/{room_id}/join", headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                raise RuntimeError(f"join answered {response.status_code}: {response.text}")

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(join, tokens))
        return len(tokens) / (time.perf_counter() - started)


def dynamodb_requests(calls: Counter[str]) -> int:
    return sum(count for name, count in calls.items() if name.startswith("dynamodb."))


class Bench:
    def __init__(self, stack: LocalStack, metered: LocalStack, threads: int) -> None:
        from rooms.adapters.room_store import DynamoRoomStore
        from rooms.adapters.sqs_publisher import SqsOverflowPublisher
        from rooms.adapters.ticket_store import DynamoTicketStore
        from rooms.service import RoomService

        self.stack = stack
        self.metered = metered
        self.threads = threads
        self.store = DynamoRoomStore()  # pynamodb's pool (50) is larger than the threads
        self.tickets = DynamoTicketStore()
        self.service = RoomService(self.store, self.tickets, SqsOverflowPublisher())
        limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
        self.http = httpx.Client(base_url=stack.api_url, timeout=60, limits=limits)
        # one client process, started once and reused: the HTTP rounds' load comes from outside this one
        self.clients = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        # botocore's default pool of 10 connections would cap 16 threads
        self.dynamodb: Any = boto3.client(
            "dynamodb",
            endpoint_url=stack.dynamodb_endpoint,
            region_name=stack.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(max_pool_connections=max(threads, 10)),
        )
        self.table = stack.template.tables["RoomsTable"].name
        self.conflicts = 0  # raw transactions sent again after a TransactionConflict

    def admissions(self, attempts: int, warmup: int, rounds: int) -> dict[str, Any]:
        """Admitted joins per second of every variant: a warm-up round, then `rounds` interleaved rounds."""
        variants = [
            Variant("raw_transaction", lambda tag, n: in_process(self.raw_transaction(tag, n), n, self.threads)),
            Variant("raw_update", lambda tag, n: in_process(self.raw_update(tag, n), n, self.threads)),
            Variant("store", lambda tag, n: in_process(self.store_admit(tag, n), n, self.threads)),
            Variant("http", lambda tag, n: self.http_join(self.stack, tag, n)),
            Variant("http_metered", lambda tag, n: self.http_join(self.metered, tag, n)),
        ]
        rates: dict[str, list[float]] = {variant.name: [] for variant in variants}
        for number in range(rounds + 1):
            count = warmup if number == 0 else attempts
            for variant in variants:
                measured = variant.prepare(f"{variant.name}-{number}", count)()
                if number:  # round 0 warms the JVMs, the connection pools and every function instance
                    rates[variant.name].append(round(measured, 1))
        median = {name: statistics.median(values) for name, values in rates.items()}
        raw, old = median["raw_transaction"], median["raw_update"]
        return {
            "raw_transaction_per_s": round(raw, 1),
            "raw_conditional_update_per_s": round(old, 1),
            "store_admits_per_s": round(median["store"], 1),
            "store_ratio_to_raw_transaction": round(median["store"] / raw, 3),
            "store_ratio_to_raw_update": round(median["store"] / old, 3),
            "http_admits_per_s": round(median["http"], 1),
            "http_ratio_to_raw_transaction": round(median["http"] / raw, 3),
            "http_ratio_to_raw_update": round(median["http"] / old, 3),
            "http_admits_metered_per_s": round(median["http_metered"], 1),
            "meter_overhead": round(median["http"] / median["http_metered"], 3),
            "raw_transaction_conflict_retries": self.conflicts,
            "rounds_per_s": rates,
        }

    def raw_transaction(self, tag: str, attempts: int) -> Callable[[int], None]:
        """What a join sends, by hand: the seat's conditional put with its index attributes and the room
        counter's conditional update, in one TransactWriteItems (pynamodb's order: puts, then updates)."""
        from rooms.adapters.models import expiry_sort_key, seat_expiry_key
        from rooms.domain.expiry import expiry_bucket

        room = self.service.create_room(f"{tag}-host", tag, attempts, {})
        room_key = {"pk": {"S": f"ROOM#{room.room_id}"}, "sk": {"S": "ROOM"}}

        def admit(n: int) -> None:
            user = f"{tag}-{n}"
            joined = datetime.now(UTC)
            expires = joined + timedelta(hours=2)
            seat = f"SEAT#{room.family_id}#{user}"
            item = {
                "pk": {"S": seat},
                "sk": {"S": "SEAT"},
                "room_id": {"S": room.room_id},
                "family_id": {"S": room.family_id},
                "user_id": {"S": user},
                "joined_at": {"S": joined.strftime(PYNAMODB_TIME)},
                "expires_at": {"S": expires.strftime(PYNAMODB_TIME)},
                "gsi1pk": {"S": f"ROOM#{room.room_id}"},
                "gsi1sk": {"S": f"{joined.isoformat()}#{user}"},
                "gsi2pk": {"S": seat_expiry_key(expiry_bucket(expires, 3600), seat)},
                "gsi2sk": {"S": expiry_sort_key(expires, seat)},
            }
            items = [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": room_key,
                        "UpdateExpression": "ADD #occupancy :one",
                        "ConditionExpression": "#status = :open AND #occupancy < #capacity",
                        "ExpressionAttributeNames": {
                            "#status": "status",
                            "#occupancy": "occupancy",
                            "#capacity": "capacity",
                        },
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":open": {"S": "open"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
            # as the store does: a transaction cancelled only by a concurrent one is sent again, jittered
            for tries in range(10):
                try:
                    self.dynamodb.transact_write_items(TransactItems=items)
                    return
                except self.dynamodb.exceptions.TransactionCanceledException as error:
                    codes = {reason.get("Code") for reason in error.response.get("CancellationReasons", [])}
                    if codes - {"None", "TransactionConflict"}:
                        raise
                    with _lock:
                        self.conflicts += 1
                    time.sleep(random.uniform(0, 0.005 * 2**tries))
            raise RuntimeError(f"{user}: still conflicting after 10 tries")

        return admit

    def raw_update(self, tag: str, attempts: int) -> Callable[[int], None]:
        """The old baseline: the cheapest cap there is, one conditional UpdateItem on a counter."""
        key = {"pk": {"S": f"BENCH#{tag}"}, "sk": {"S": "COUNTER"}}
        self.dynamodb.put_item(TableName=self.table, Item={**key, "n": {"N": "0"}})

        def update(_: int) -> None:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="ADD n :one",
                ConditionExpression="n < :cap",
                ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": str(10**9)}},
            )

        return update

    def store_admit(self, tag: str, attempts: int) -> Callable[[int], None]:
        from rooms.service import utcnow

        room = self.service.create_room(f"{tag}-host", tag, attempts, {})

        def admit(n: int) -> None:
            self.store.admit(room.room_id, room.family_id, f"{tag}-{n}", utcnow())

        return admit

    def http_join(self, stack: LocalStack, tag: str, attempts: int) -> Callable[[], float]:
        """Joins over HTTP from a client process: the stack's gateway and meter run in this one, and
        client threads here would take their interpreter's time."""
        host = {"Authorization": f"Bearer {mint_token(f'{tag}-host')}"}
        created = httpx.post(f"{stack.api_url}/rooms", json={"title": tag, "capacity": attempts}, headers=host)
        assert created.status_code == 201, created.text
        room_id = created.json()["room_id"]
        tokens = [mint_token(f"{tag}-{n}") for n in range(attempts)]
        return lambda: self.clients.submit(timed_joins, stack.api_url, room_id, tokens, self.threads).result()

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
        worker = OverflowService(self.store, self.tickets, settings().max_parallel_rooms)
        requests = []
        for n in range(500):
            now = utcnow()
            user = f"w-{n}"
            ticket_id = ticket_id_for(family.family_id, user)
            self.tickets.put_ticket(
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
