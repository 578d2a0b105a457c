"""How fast the sweepers free expired seats, and what it costs by AWS's billing rules, on a metered local stack.

Writes `--seats` seats whose leases ended over the last minute straight into the table (BatchWriteItem
through the meter, which must see every write, before the measured window; rooms of `--room-size`,
their counts raised to match), as if their apps had all died in that minute. The previous minute run
is recorded as a minute ago, so the run measured here hands out what one run on schedule would: the
buckets of the last minute, 16 sweep jobs each. The functions are warmed first (no cold start is
timed); then one housekeeping run of the scheduler function (the fan-out) and the sweeper function
draining the sweep queue with its instances, in one window of the capacity meter. Prints:

- seats freed per second locally, over the whole run, and per sweeper instance busy second (each
  invocation timed: what one instance frees running back to back);
- WCU and RCU per freed seat, the fan-out included, and the hottest key's peak;
- the sweeper instances AWS needs to free 100,000 seats in a minute at that per-instance rate (a
  ceiling: DynamoDB Local, the meter and the instances share this machine's cores), and the jobs a
  minute hands out for them.

    .venv/bin/python bench/sweep.py                  # 100,000 seats
    .venv/bin/python bench/sweep.py --seats 300      # a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the seat planter lives with the end-to-end tests
    sys.path.insert(0, str(ROOT))

from bench.capacity import Window  # noqa: E402
from rooms_local.capacity.report import key_usage, operation_cost  # noqa: E402
from rooms_local.provision import client  # noqa: E402
from rooms_local.stack import LocalStack  # noqa: E402
from rooms_local.tokens import mint_token  # noqa: E402
from tests.e2e.expired_seats import PlantedRoom, plant_expired_seats  # noqa: E402
from tests.e2e.test_concurrency import child_env  # noqa: E402

TARGET_SEATS = 100_000  # expiring within one minute, freed within the next (the design's target)
TARGET_SECONDS = 60


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = run(args)
    print(format_figures(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=TARGET_SEATS, help="expired seats to free")
    parser.add_argument("--room-size", type=int, default=5000, help="seats per room (a room's capacity)")
    parser.add_argument("--instances", type=int, default=4, help="sweeper instances (at most SweeperConcurrency)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if min(args.seats, args.room_size, args.instances) < 1:
        parser.error("counts must be at least 1")
    return args


@dataclass
class InvocationTimer:
    """Times every invocation of a function pool (the SQS event source calls the pool's invoke)."""

    pool: Any
    seconds: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._invoke = self.pool.invoke
        self.pool.invoke = self._timed

    def _timed(self, event: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._invoke(event, **kwargs)
        finally:
            with self._lock:
                self.seconds.append(time.perf_counter() - started)


@dataclass
class SweepRun:
    """What one measured run saw: the seats, the fan-out's answer, the timings and the meter's charges."""

    seats: int
    rooms: int
    interval: int
    instances: int
    fan_out: dict[str, Any]
    fan_out_s: float
    drain_s: float
    invocation_s: list[float]
    window: Window


def run(args: argparse.Namespace) -> dict[str, Any]:
    # Schedules off: the one housekeeping run measured is the one this invokes.
    with LocalStack(stack_name="sweep", capacity_model=True, max_instances=args.instances, schedules=False) as stack:
        os.environ.update(child_env(stack))  # before importing rooms: pynamodb reads its Meta at import
        measured = measure(stack, args)
    return figures_of(measured, args)


def measure(stack: LocalStack, args: argparse.Namespace) -> SweepRun:
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.domain.expiry import expiry_bucket
    from rooms.domain.model import due_bucket

    assert stack.meter is not None
    interval = int(stack.function_env("ApiFunction")["ROOMS_HEARTBEAT_INTERVAL_SECONDS"])
    table = stack.template.tables["RoomsTable"].name
    rooms = create_rooms(stack, args.seats, args.room_size)
    warm_up(stack)
    ended = datetime.now(UTC) - timedelta(seconds=1)
    spread = timedelta(seconds=TARGET_SECONDS)
    seats = plant_expired_seats(stack.client("dynamodb"), table, rooms, ended, interval, spread=spread)
    # the run before this one went a minute before the last lease ended: this one hands out that minute's
    # buckets (and looks at that minute's due tickets only, as a run on schedule does). Measured from the
    # leases, not from now: planting many seats takes a while, and the oldest would fall before it.
    a_minute_ago = ended - spread
    store = DynamoHousekeepingStore()
    store.record_expiry_progress(expiry_bucket(a_minute_ago, interval) - 1, a_minute_ago)
    store.set_last_due_bucket(due_bucket(a_minute_ago) - 1, a_minute_ago)

    sweeper = stack.pools["SweeperFunction"]
    timer = InvocationTimer(sweeper)
    window = Window(stack.meter.ledger)
    with window.recording():
        started = time.perf_counter()
        fan_out = stack.invoke("SchedulerFunction", {"action": "housekeeping"})
        fan_out_s = time.perf_counter() - started
        stack.wait_idle(timeout=max(600.0, args.seats / 20))
        drain_s = time.perf_counter() - started
    left = seats_left(client("dynamodb", stack.dynamodb_local_endpoint, stack.region), table, rooms)
    if left:
        raise AssertionError(f"{left} seats still held after the sweep queue drained")
    return SweepRun(
        seats, len(rooms), interval, sweeper.max_instances, fan_out, fan_out_s, drain_s, timer.seconds, window
    )


def figures_of(measured: SweepRun, args: argparse.Namespace) -> dict[str, Any]:
    from rooms.domain.expiry import EXPIRY_SHARDS, SHARDS_PER_JOB

    cost = operation_cost("freed seat", measured.window.charges, measured.seats)
    usage = key_usage(measured.window.charges)
    busy_s = sum(measured.invocation_s)
    per_instance = measured.seats / busy_s
    # one run on schedule hands out the buckets that ended in the last minute and the current one
    jobs_a_minute = (math.ceil(TARGET_SECONDS / measured.interval) + 1) * (EXPIRY_SHARDS // SHARDS_PER_JOB)
    hottest = usage[0] if usage else None
    return {
        "seats": measured.seats,
        "rooms": measured.rooms,
        "room_size": args.room_size,
        "heartbeat_interval_seconds": measured.interval,
        "sweeper_instances": measured.instances,
        "fan_out": {
            "seconds": round(measured.fan_out_s, 2),
            "expiry_buckets": measured.fan_out["expiry_buckets"],
            "expiry_jobs_enqueued": measured.fan_out["expiry_jobs_enqueued"],
        },
        "drain_seconds": round(measured.drain_s, 1),
        "freed_per_s": round(measured.seats / measured.drain_s, 1),
        "sweeper_invocations": len(measured.invocation_s),
        "sweeper_busy_seconds": round(busy_s, 1),
        "freed_per_instance_busy_s": round(per_instance, 1),
        "wcu_per_freed_seat": round(cost.wcu_total, 3),
        "rcu_per_freed_seat": round(cost.rcu_total, 3),
        "requests_per_freed_seat": {op: round(n, 4) for op, n in sorted(cost.requests_per_call.items())},
        "hottest_key": None
        if hottest is None
        else {
            **hottest.key.as_json(),
            "peak_wcu_per_s": round(hottest.peak_wcu_per_s, 1),
            "peak_rcu_per_s": round(hottest.peak_rcu_per_s, 1),
        },
        "aws_sweepers_for_100k_a_minute": math.ceil(TARGET_SEATS / TARGET_SECONDS / per_instance),
        "jobs_a_minute_hands_out": jobs_a_minute,
    }


def warm_up(stack: LocalStack) -> None:
    """Start every sweeper instance and the scheduler's (a show that does not exist opens nothing)."""
    sweeper = stack.pools["SweeperFunction"]
    sample = json.loads((ROOT / "events" / "sweeper" / "sweep_batch.json").read_text())
    with ThreadPoolExecutor(sweeper.max_instances) as pool:
        list(pool.map(lambda _: sweeper.invoke(sample), range(sweeper.max_instances)))
    stack.invoke("SchedulerFunction", {"action": "open", "event_id": "e_warm_up"})


def create_rooms(stack: LocalStack, seats: int, room_size: int) -> list[PlantedRoom]:
    """Rooms through the API, a host each (hosts have a quota of open rooms), holding `seats` between them."""
    from rooms.config import settings
    from rooms.domain.model import write_shards

    rooms = []
    with httpx.Client(base_url=stack.api_url, timeout=60) as http:
        for number in range(math.ceil(seats / room_size)):
            size = min(room_size, seats - number * room_size)
            host = {"Authorization": f"Bearer {mint_token(f'sweep-host-{number}')}"}
            created = http.post("/rooms", json={"title": f"Sweep {number}", "capacity": room_size}, headers=host)
            if created.status_code != 201:
                raise AssertionError(f"creating a room answered {created.status_code}: {created.text}")
            shards = write_shards(room_size, settings().seats_per_write_shard)
            rooms.append(PlantedRoom(created.json()["room_id"], created.json()["family_id"], size, shards))
    return rooms


def seats_left(dynamodb: Any, table: str, rooms: Sequence[PlantedRoom]) -> int:
    """Seats the rooms still count on all their write shards, read from DynamoDB Local itself (unbilled)."""
    from rooms.adapters.models import SHARD_SK, shard_key

    keys = [
        {"pk": {"S": shard_key(room.room_id, shard)}, "sk": {"S": "ROOM" if shard == 0 else SHARD_SK}}
        for room in rooms
        for shard in range(room.shards)
    ]
    left = 0
    for start in range(0, len(keys), 100):
        answer = dynamodb.batch_get_item(
            RequestItems={table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
        )
        left += sum(int(item["occupancy"]["N"]) for item in answer["Responses"][table])
    return left


def format_figures(figures: dict[str, Any]) -> str:
    hottest = figures["hottest_key"] or {}
    rows = [
        ("expired seats / rooms", f"{figures['seats']:,} in {figures['rooms']} rooms of {figures['room_size']:,}"),
        (
            "the fan-out (one minute run)",
            f"{figures['fan_out']['expiry_jobs_enqueued']} jobs for {figures['fan_out']['expiry_buckets']} buckets"
            f" in {figures['fan_out']['seconds']} s",
        ),
        ("freed per second locally", f"{figures['freed_per_s']:,} /s ({figures['drain_seconds']} s to drain)"),
        (
            "freed per sweeper instance busy second",
            f"{figures['freed_per_instance_busy_s']:,} /s ({figures['sweeper_invocations']} invocations,"
            f" {figures['sweeper_busy_seconds']} s busy, {figures['sweeper_instances']} instances)",
        ),
        ("WCU / RCU per freed seat", f"{figures['wcu_per_freed_seat']} / {figures['rcu_per_freed_seat']}"),
        (
            "hottest key (peak per second, locally)",
            f"{hottest.get('index') or 'table'} {hottest.get('partition_key')}: "
            f"{hottest.get('peak_wcu_per_s', 0):.0f} WCU/s, {hottest.get('peak_rcu_per_s', 0):.0f} RCU/s",
        ),
        (
            f"sweepers on AWS for {TARGET_SEATS:,} seats in {TARGET_SECONDS} s",
            f"{figures['aws_sweepers_for_100k_a_minute']} at this per-instance rate (an upper bound: DynamoDB"
            f" Local is slower than AWS); a minute's run hands out {figures['jobs_a_minute_hands_out']} jobs,"
            " the most that can run side by side",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(["Expiry sweep", *(f"  {name:<{width}}  {value}" for name, value in rows)])


if __name__ == "__main__":
    sys.exit(main())
