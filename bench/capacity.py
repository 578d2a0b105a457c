"""What today's design costs on AWS, by AWS's billing rules, measured by the local stack's capacity meter.

Each product operation runs in its own window of the meter's ledger (its position before and after,
the number of calls known): admitted join, queued join (room full), overflow seat (the worker's units
per seated ticket, once the queue drained), ticket poll, heartbeat, leave, kick, close (a room with N
seats), one housekeeping sweep (freeing G ghost seats: the minute run's fan-out and the sweeper's
jobs), show open. Then the storm: `--users` joins over HTTP into a room of `--capacity`, until the
overflow queue drained, followed by `--heartbeat-seconds` of heartbeats from every seated listener at
the stack's heartbeat interval. Prints the hot keys of the storm and heartbeat windows, units per call
of every operation and the ceilings on AWS (joins per second into one family, listeners on the
platform); writes the same as JSON. Not a test: figures.

    .venv/bin/python bench/capacity.py                       # 12,000 users into 5,000, 60 s of heartbeats
    .venv/bin/python bench/capacity.py --users 300 --capacity 100 --heartbeat-seconds 10 --heartbeat-interval 5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the load generators live with the end-to-end tests
    sys.path.insert(0, str(ROOT))

from rooms_local.capacity.ledger import Charge, Ledger  # noqa: E402
from rooms_local.capacity.report import (  # noqa: E402
    OperationCost,
    format_report,
    operation_cost,
    report_document,
)
from rooms_local.stack import LocalStack  # noqa: E402
from rooms_local.tokens import mint_token  # noqa: E402
from tests.e2e import clients  # noqa: E402
from tests.e2e.test_concurrency import child_env, spawn_pool, split  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results" / "capacity.json"
TOKEN_TTL_S = 4 * 3600
T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    document = run(args)
    print(format_report(document))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=12_000, help="users in the join storm")
    parser.add_argument("--capacity", type=int, default=5000, help="the storm room's capacity")
    parser.add_argument("--heartbeat-seconds", type=float, default=60, help="heartbeats after the storm, seconds")
    parser.add_argument(
        "--heartbeat-interval", type=int, help="the stack's HeartbeatIntervalSeconds (default: the template's)"
    )
    parser.add_argument("--calls", type=int, default=50, help="calls per measured operation")
    parser.add_argument("--close-seats", type=int, default=200, help="seats of the room the close measure closes")
    parser.add_argument("--ghosts", type=int, default=50, help="expired seats the housekeeping sweep frees")
    parser.add_argument("--show-capacity", type=int, default=100, help="capacity of the show opened")
    parser.add_argument("--processes", type=int, default=2, help="client processes of the storm and heartbeats")
    parser.add_argument("--threads", type=int, default=16, help="concurrent clients per process")
    parser.add_argument("--instances", type=int, default=16, help="function instances (each function)")
    parser.add_argument("--throughput-scale", type=float, help="throttle as AWS would, at this fraction of its pace")
    parser.add_argument("--seed", type=int, default=9, help="heartbeat phases are shuffled with it")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where the JSON document goes")
    args = parser.parse_args(argv)
    if min(args.users, args.capacity, args.calls, args.close_seats, args.ghosts, args.show_capacity) < 1:
        parser.error("counts must be at least 1")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    parameters = {"HeartbeatIntervalSeconds": str(args.heartbeat_interval)} if args.heartbeat_interval else {}
    started = time.perf_counter()
    # Schedules off: housekeeping runs when this asks, never inside another operation's window.
    with LocalStack(
        stack_name="capacity",
        capacity_model=True,
        throughput_scale=args.throughput_scale,
        max_instances=args.instances,
        schedules=False,
        parameters=parameters,
    ) as stack:
        os.environ.update(child_env(stack))  # before importing rooms: pynamodb reads its Meta at import
        bench = CapacityBench(stack, args.threads)
        operations = bench.operations(args.calls, args.close_seats, args.ghosts, args.show_capacity)
        storm = bench.storm(args.users, args.capacity, args.processes, args.threads)
        beats = bench.heartbeats(storm, args.heartbeat_seconds, args.processes, args.threads, args.seed)
        startup = stack.startup_seconds
    storm_cost = operation_cost("storm", storm.charges, storm.calls, call_times=storm.answered)
    heartbeat_cost = operation_cost("heartbeat", beats.charges, beats.calls, call_times=beats.answered)
    document = report_document(
        operations=operations,
        storm=storm_cost,
        storm_charges=storm.charges,
        heartbeats=heartbeat_cost,
        heartbeat_charges=beats.charges,
        heartbeat_interval_seconds=bench.interval,
        parameters={
            "users": args.users,
            "capacity": args.capacity,
            "heartbeat_seconds": args.heartbeat_seconds,
            "heartbeat_interval_seconds": bench.interval,
            "calls_per_operation": args.calls,
            "close_seats": args.close_seats,
            "ghosts": args.ghosts,
            "show_capacity": args.show_capacity,
            "client_processes": args.processes,
            "threads_per_process": args.threads,
            "function_instances": args.instances,
            "throughput_scale": args.throughput_scale,
        },
    )
    document["operation_results"] = bench.results
    document["storm"]["run"] = storm.summary
    document["heartbeat_window"]["run"] = beats.summary
    document["run_seconds"] = {"stack_startup": round(startup, 1), "total": round(time.perf_counter() - started, 1)}
    return document


class Window:
    """The charges the meter recorded while a block ran: `with window.recording():`, then `window.charges`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.charges: list[Charge] = []

    @contextmanager
    def recording(self) -> Iterator[list[Charge]]:
        start = self.ledger.position()
        yield self.charges
        end = self.ledger.position()
        self.charges.extend(self.ledger.since(start)[: end - start])


class WorkerGate:
    """Holds the overflow worker's batches while a window measures the API alone (they wait in flight,
    well inside the queue's visibility timeout), then lets them through."""

    def __init__(self, pool: Any) -> None:
        self._open = threading.Event()
        self._open.set()
        self._invoke: Callable[[Any], Any] = pool.invoke
        pool.invoke = self._gated  # the SQS event source calls the pool's invoke for each batch

    def _gated(self, event: Any) -> Any:
        self._open.wait()
        return self._invoke(event)

    @contextmanager
    def held(self) -> Iterator[None]:
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()


@dataclass
class StormRun:
    family_id: str
    users: list[tuple[str, str]]  # (user, token)
    charges: list[Charge]
    answered: list[float]  # when each join was answered (its last retry's answer)
    summary: dict[str, Any]

    @property
    def calls(self) -> int:
        return len(self.users)


@dataclass
class HeartbeatRun:
    charges: list[Charge]
    answered: list[float]  # when each heartbeat was answered
    summary: dict[str, Any]

    @property
    def calls(self) -> int:
        return len(self.answered)


class CapacityBench:
    def __init__(self, stack: LocalStack, threads: int) -> None:
        if stack.meter is None:
            raise RuntimeError("the capacity meter is off: start the stack with capacity_model=True")
        self.stack = stack
        self.ledger: Ledger = stack.meter.ledger
        self.threads = threads
        self.interval = int(stack.function_env("ApiFunction")["ROOMS_HEARTBEAT_INTERVAL_SECONDS"])
        limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
        self.http = httpx.Client(base_url=stack.api_url, timeout=120, limits=limits)
        self._tokens: dict[str, str] = {}
        self.results: dict[str, Any] = {}  # what the scheduled actions measured said they did
        self.gate = WorkerGate(stack.pools["OverflowWorkerFunction"])

    # ------------------------------------------------------------------ helpers
    def headers(self, user: str) -> dict[str, str]:
        if user not in self._tokens:
            self._tokens[user] = mint_token(user, ttl_seconds=TOKEN_TTL_S)
        return {"Authorization": f"Bearer {self._tokens[user]}"}

    def parallel(self, work: Callable[[T], Any], items: Sequence[T]) -> list[Any]:
        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(work, items))

    def call(self, method: str, path: str, user: str, expected: int, **kwargs: Any) -> dict[str, Any]:
        response = self.http.request(method, path, headers=self.headers(user), **kwargs)
        if response.status_code != expected:
            raise AssertionError(f"{method} {path} as {user}: {response.status_code} {response.text}")
        return dict(response.json())

    def create_room(self, capacity: int, title: str) -> dict[str, Any]:
        return self.call("POST", "/rooms", "capacity-host", 201, json={"title": title, "capacity": capacity})

    def join(self, room_id: str, user: str, expected: int) -> dict[str, Any]:
        return self.call("POST", f"/rooms/{room_id}/join", user, expected)

    def leave(self, room_id: str, user: str) -> None:
        if not self.call("POST", f"/rooms/{room_id}/leave", user, 200)["left"]:
            raise AssertionError(f"{user} left nothing")

    @contextmanager
    def measuring(self, costs: dict[str, OperationCost], name: str, calls: int) -> Iterator[None]:
        """The block's charges, read as `calls` calls of `name`, go into `costs`."""
        window = Window(self.ledger)
        with window.recording():
            yield
        costs[name] = operation_cost(name, window.charges, calls)

    # ------------------------------------------------------------------ each operation alone
    def operations(self, calls: int, close_seats: int, ghosts: int, show_capacity: int) -> dict[str, OperationCost]:
        costs: dict[str, OperationCost] = {}
        self.seat_operations(costs, calls)
        self.room_operations(costs, close_seats, ghosts, show_capacity)
        return costs

    def seat_operations(self, costs: dict[str, OperationCost], calls: int) -> None:
        """Admitted and queued join, overflow seat, ticket poll, heartbeat, leave, kick, and a leave that
        promotes a waiting user into the freed seat: `calls` of each."""
        users = [f"op-{n}" for n in range(calls)]
        queued = [f"q-{n}" for n in range(calls)]
        for user in users + queued:
            self.headers(user)  # tokens minted outside the windows

        # admitted join: a room with a seat for everyone
        room = self.create_room(calls, "admitted")
        with self.measuring(costs, "admitted_join", calls):
            self.parallel(lambda user: self.join(room["room_id"], user, 200), users)

        # queued join: a full room; the worker is held, so the window holds the API's units only
        full = self.create_room(1, "queued")
        self.join(full["room_id"], "queued-occupant", 200)
        with self.gate.held(), self.measuring(costs, "queued_join", calls):
            tickets = self.parallel(lambda user: self.join(full["room_id"], user, 202)["ticket"], queued)
        # overflow seat: the worker's units per seated ticket, until the queue drained
        with self.measuring(costs, "overflow_seat", calls):
            self.stack.wait_idle(timeout=600)

        def poll(pair: tuple[str, dict[str, Any]]) -> None:
            user, ticket = pair
            seen = self.call("GET", f"/tickets/{ticket['ticket_id']}", user, 200)
            if seen["status"] != "seated":
                raise AssertionError(f"{user}'s ticket is {seen['status']} after the queue drained")

        with self.measuring(costs, "ticket_poll", calls):
            self.parallel(poll, list(zip(queued, tickets, strict=True)))
        with self.measuring(costs, "heartbeat", calls):
            self.parallel(lambda user: self.call("POST", f"/rooms/{room['room_id']}/heartbeat", user, 200), users)

        # and the promotion each asks for (nobody waits here), until the sweep queue drained
        with self.measuring(costs, "leave", calls):
            self.parallel(lambda user: self.leave(room["room_id"], user), users)
            self.stack.wait_idle(timeout=600)

        def kick(user: str) -> None:
            path = f"/rooms/{full['room_id']}/participants/{user}"
            if not self.call("DELETE", path, "capacity-host", 200)["kicked"]:
                raise AssertionError(f"{user} was not kicked")

        with self.measuring(costs, "kick", calls):
            self.parallel(kick, queued)

        # promoting leave: a full main room, as many opted-in users waiting in its parallel rooms as leave
        main = self.create_room(calls, "promoting")
        sitting, waiting = [f"ps-{n}" for n in range(calls)], [f"pw-{n}" for n in range(calls)]
        self.parallel(lambda user: self.join(main["room_id"], user, 200), sitting)
        promoted_tickets = {}
        for user in waiting:  # one after the other: their arrival order is the promotion order
            answer = self.call("POST", f"/rooms/{main['room_id']}/join", user, 202, json={"promote": True})
            promoted_tickets[user] = answer["ticket"]["ticket_id"]
        self.stack.wait_idle(timeout=600)

        # the leave, and the sweeper's promotion it asks for, until the sweep queue drained
        with self.measuring(costs, "promoting_leave", calls):
            self.parallel(lambda user: self.leave(main["room_id"], user), sitting)
            self.stack.wait_idle(timeout=600)
        moved = [self.call("GET", f"/tickets/{ticket}", user, 200) for user, ticket in promoted_tickets.items()]
        if any(ticket["room_id"] != main["room_id"] for ticket in moved):
            raise AssertionError("a promoting leave left a waiting user in a parallel room")

    def room_operations(self, costs: dict[str, OperationCost], close_seats: int, ghosts: int, capacity: int) -> None:
        """One call each: close (a room of `close_seats`), a housekeeping sweep (`ghosts`), a show's open."""
        closers = [f"c-{n}" for n in range(close_seats)]
        for user in closers:
            self.headers(user)
        closing = self.create_room(close_seats, "closing")
        self.parallel(lambda user: self.join(closing["room_id"], user, 200), closers)
        with self.measuring(costs, "close", 1):
            self.call("POST", f"/rooms/{closing['room_id']}/close", "capacity-host", 200)

        # one housekeeping sweep, as its schedule runs it a minute after the last, with `ghosts` seats whose
        # lease ended in that minute: the run hands the minute's buckets out, the sweeper frees them
        ghost_room = self.plant_ghosts(ghosts)
        with self.measuring(costs, "housekeeping_sweep", 1):
            swept = self.stack.invoke("SchedulerFunction", {"action": "housekeeping"})
            self.stack.wait_idle(timeout=600)
        left = self.call("GET", f"/rooms/{ghost_room}", "capacity-host", 200)["occupancy"]
        if left:
            raise AssertionError(f"the sweep left {left} of {ghosts} ghosts seated: {swept}")
        self.results["housekeeping_sweep"] = swept

        # show open: a booked show opened by its schedule's action, its parallel rooms made then
        event = self.book_show(capacity)
        payload = {"action": "open", "event_id": event["event_id"], "scheduled_time": event["starts_at"]}
        with self.measuring(costs, "show_open", 1):
            opened = self.stack.invoke("SchedulerFunction", payload)
        if opened.get("status") != "live" or opened.get("provisioned_rooms") != 2:
            raise AssertionError(f"the show did not open with two parallel rooms: {opened}")
        self.results["show_open"] = opened

    def plant_ghosts(self, ghosts: int) -> str:
        """Seats admitted through the store, never heartbeated, whose lease ended half a minute ago, and the
        previous housekeeping run recorded a minute ago; the room's id."""
        from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
        from rooms.adapters.room_store import DynamoRoomStore
        from rooms.config import settings
        from rooms.domain.expiry import expiry_bucket
        from rooms.domain.model import due_bucket

        room = self.create_room(ghosts, "ghosts")
        rooms, records = DynamoRoomStore(), DynamoHousekeepingStore()
        now = datetime.now(UTC)
        then = now - timedelta(seconds=settings().seat_lease_seconds + 30)
        self.parallel(lambda n: rooms.admit(room["room_id"], room["family_id"], f"ghost-{n}", then), range(ghosts))
        a_minute_ago = now - timedelta(seconds=60)
        records.record_expiry_progress(expiry_bucket(a_minute_ago, self.interval) - 1, a_minute_ago)
        records.set_last_due_bucket(due_bucket(a_minute_ago) - 1, a_minute_ago)
        return str(room["room_id"])

    def book_show(self, capacity: int) -> dict[str, Any]:
        starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=10)
        booking = {
            "title": "Capacity show",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "timezone": "UTC",
            "capacity": capacity,
            "expected_audience": 3 * capacity,  # two parallel rooms made at the start
        }
        event = self.call("POST", "/events", "capacity-host", 201, json=booking)
        return {"event_id": event["event_id"], "starts_at": starts.strftime("%Y-%m-%dT%H:%M:%SZ")}

    # ------------------------------------------------------------------ the storm, then its heartbeats
    def storm(self, users: int, capacity: int, processes: int, threads: int) -> StormRun:
        room = self.create_room(capacity, "Ballmer on the Good Time Show")
        fans = [(f"fan-{n}", mint_token(f"fan-{n}", ttl_seconds=TOKEN_TTL_S)) for n in range(users)]
        window = Window(self.ledger)
        started = time.time()
        with window.recording():
            with spawn_pool(processes) as pool:
                futures = [
                    pool.submit(timed_joins_over_http, self.stack.api_url, room["room_id"], part, threads)
                    for part in split(fans, processes)
                ]
                results = [result for future in futures for result in future.result()]
            answered = time.time()
            self.stack.wait_idle(timeout=3600)  # the worker seats every queued user
        drained = time.time()
        statuses = Counter(status for _, status, _ in results)
        family = self.call("GET", f"/rooms/{room['room_id']}/family", "capacity-host", 200)
        return StormRun(
            room["family_id"],
            fans,
            window.charges,
            [at for _, _, at in results],
            {
                "statuses": {str(status): count for status, count in sorted(statuses.items())},
                "joins_seconds": round(answered - started, 1),
                "drain_seconds": round(drained - answered, 1),
                "joins_per_s": round(users / (answered - started), 1),
                "seated": family["total_occupancy"],
                "rooms": len(family["rooms"]),
            },
        )

    def heartbeats(self, storm: StormRun, seconds: float, processes: int, threads: int, seed: int) -> HeartbeatRun:
        """Every seated listener heartbeats every interval, each at its own phase, for `seconds`."""
        rounds = max(1, round(seconds / self.interval))
        listeners = list(storm.users)
        random.Random(seed).shuffle(listeners)  # phases spread over the interval, rooms mixed
        step = self.interval / len(listeners)
        schedule = [
            (r * self.interval + n * step, user, token)
            for r in range(rounds)
            for n, (user, token) in enumerate(listeners)
        ]
        window = Window(self.ledger)
        start_at = time.time() + 3.0  # the client processes are up by then
        with window.recording(), spawn_pool(processes) as pool:
            futures = [
                pool.submit(heartbeat_over_http, self.stack.api_url, storm.family_id, part, start_at, threads)
                for part in split(schedule, processes)
            ]
            beats = [beat for future in futures for beat in future.result()]
        statuses = Counter(status for _, status, _, _ in beats)
        late = sorted(sent - (start_at + due) for due, _, sent, _ in beats)
        elapsed = max(answered for *_, answered in beats) - start_at
        return HeartbeatRun(
            window.charges,
            [answered for *_, answered in beats],
            {
                "statuses": {str(status): count for status, count in sorted(statuses.items())},
                "rounds": rounds,
                "listeners": len(listeners),
                "seconds": round(elapsed, 1),
                "target_per_s": round(len(listeners) / self.interval, 1),
                "achieved_per_s": round(len(beats) / elapsed, 1),
                # how far behind its schedule a heartbeat went out: the stack's pace against the target
                "p95_lateness_s": round(late[math.ceil(0.95 * len(late)) - 1], 2),
            },
        )


def timed_joins_over_http(
    api_url: str, room_id: str, users: list[tuple[str, str]], threads: int
) -> list[tuple[str, int, float]]:
    """Each (user, token) joins `room_id` once, as the end-to-end load generator does (429 and 503 retried
    after Retry-After, its number of tries); returns (user, status, answered at) per join. Runs in a client
    process: the paced figures need each join's answer time, which that generator does not keep."""
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=api_url, timeout=120, limits=limits) as client:

        def join(entry: tuple[str, str]) -> tuple[str, int, float]:
            user, token = entry
            for _ in range(clients.RETRIES):
                response = client.post(f"/rooms/{room_id}/join", headers={"Authorization": f"Bearer {token}"})
                answered = time.time()
                if response.status_code not in (429, 503):
                    break
                time.sleep(float(response.headers.get("Retry-After", "1")))  # the API's contract: retry then
            return user, response.status_code, answered

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(join, users))


def heartbeat_over_http(
    api_url: str, room_id: str, schedule: list[tuple[float, str, str]], start_at: float, threads: int
) -> list[tuple[float, int, float, float]]:
    """Send each (due offset, user, token) heartbeat at start_at + offset (or as soon as a client is free);
    returns (due offset, status, sent at, answered at) per heartbeat. Runs in a client process."""
    pending = deque(sorted(schedule))
    lock = threading.Lock()
    done: list[tuple[float, int, float, float]] = []
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=api_url, timeout=120, limits=limits) as client:

        def beat() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    due, _, token = pending.popleft()
                wait = start_at + due - time.time()
                if wait > 0:
                    time.sleep(wait)  # pacing: a listener heartbeats on its own schedule
                sent = time.time()
                response = client.post(f"/rooms/{room_id}/heartbeat", headers={"Authorization": f"Bearer {token}"})
                with lock:
                    done.append((due, response.status_code, sent, time.time()))

        workers = [threading.Thread(target=beat) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return done


if __name__ == "__main__":
    sys.exit(main())
