"""What 1,000 listener-hours of presence cost on AWS: HTTP heartbeats against the live connection.

Each operation presence is made of runs on the metered local stack in its own window: a heartbeat; a
socket's connect (the authorizer and `$connect`), its `hold`, its pings, and its close (`$disconnect`,
then the sweeper's delayed release). A window counts what AWS bills: API requests, WebSocket messages,
Lambda invocations and their duration (the local instances' wall time: more than AWS bills), DynamoDB
write and read units (the capacity meter, by AWS's rules) and SQS requests. A listener-hour is then
composed from the protocol's own schedule:

- over HTTP: 3600 / interval heartbeats (120 on the default 30 s);
- over the socket: 60 connection-minutes, a ping every 5 minutes, and a new connection (connect, hold,
  close and release) every 2 hours, API Gateway's longest connection.

Pushes and joins are once a session, not an hour, and are left out of both. Prices are us-east-1 list
prices (override with --prices FILE.json). Not a test: figures.

    .venv/bin/python bench/presence_cost.py            # 20 listeners
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rooms_local.capacity.ledger import Ledger  # noqa: E402
from rooms_local.stack import LocalStack  # noqa: E402
from rooms_local.tokens import mint_token  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results" / "presence_cost.json"
HOUR_S = 3600
PING_INTERVAL_S = 300  # the SDK's ping: within API Gateway's 10-minute idle timeout
CONNECTION_MAX_S = 2 * HOUR_S  # API Gateway closes a WebSocket after 2 hours; the SDK reconnects
# us-east-1 list prices, USD: API Gateway (HTTP API requests, WebSocket messages and connection
# minutes, first tiers), Lambda on arm64, DynamoDB on-demand, SQS standard
PRICES = {
    "http_request": 1.00e-6,
    "websocket_message": 1.00e-6,
    "connection_minute": 0.25e-6,
    "lambda_request": 0.20e-6,
    "lambda_gb_second": 0.0000133334,
    "write_unit": 0.625e-6,
    "read_unit": 0.125e-6,
    "sqs_request": 0.40e-6,
}


@dataclass
class Usage:
    """What AWS bills for a piece of work (one call of an operation, or a listener-hour)."""

    http_requests: float = 0.0
    websocket_messages: float = 0.0
    connection_minutes: float = 0.0
    lambda_invocations: float = 0.0
    lambda_gb_seconds: float = 0.0
    write_units: float = 0.0
    read_units: float = 0.0
    sqs_requests: float = 0.0
    invocations_by_function: dict[str, float] = field(default_factory=dict)

    def scaled(self, factor: float) -> Usage:
        return Usage(
            **{name: value * factor for name, value in asdict(self).items() if name != "invocations_by_function"},
            invocations_by_function={name: count * factor for name, count in self.invocations_by_function.items()},
        )

    def __add__(self, other: Usage) -> Usage:
        functions = Counter(self.invocations_by_function) + Counter(other.invocations_by_function)
        mine, theirs = asdict(self), asdict(other)
        return Usage(
            **{name: mine[name] + theirs[name] for name in mine if name != "invocations_by_function"},
            invocations_by_function=dict(functions),
        )

    def dollars(self, prices: Mapping[str, float]) -> dict[str, float]:
        parts = {
            "api_gateway": self.http_requests * prices["http_request"]
            + self.websocket_messages * prices["websocket_message"]
            + self.connection_minutes * prices["connection_minute"],
            "lambda": self.lambda_invocations * prices["lambda_request"]
            + self.lambda_gb_seconds * prices["lambda_gb_second"],
            "dynamodb": self.write_units * prices["write_unit"] + self.read_units * prices["read_unit"],
            "sqs": self.sqs_requests * prices["sqs_request"],
        }
        parts["total"] = sum(parts.values())
        return parts


def listener_hour(per_call: Mapping[str, Usage], heartbeat_interval_s: float) -> dict[str, Usage]:
    """A listener-hour of each transport, from the usage of one call of each operation."""
    http = per_call["heartbeat"].scaled(HOUR_S / heartbeat_interval_s)
    cycle = per_call["connect"] + per_call["hold"] + per_call["close"]
    socket = (
        Usage(connection_minutes=HOUR_S / 60)
        + per_call["ping"].scaled(HOUR_S / PING_INTERVAL_S)
        + cycle.scaled(HOUR_S / CONNECTION_MAX_S)
    )
    return {"http_heartbeats": http, "socket": socket}


def cost_document(
    per_call: Mapping[str, Usage], heartbeat_interval_s: float, prices: Mapping[str, float]
) -> dict[str, Any]:
    hours = listener_hour(per_call, heartbeat_interval_s)
    per_thousand = {name: usage.scaled(1000).dollars(prices) for name, usage in hours.items()}
    # local instances' wall time overstates Lambda's billed duration: the ratio without it too
    no_duration = {**prices, "lambda_gb_second": 0.0}
    bare = {name: usage.scaled(1000).dollars(no_duration)["total"] for name, usage in hours.items()}
    return {
        "prices_usd": dict(prices),
        "heartbeat_interval_seconds": heartbeat_interval_s,
        "per_call": {name: asdict(usage) for name, usage in per_call.items()},
        "per_listener_hour": {name: asdict(usage) for name, usage in hours.items()},
        "usd_per_1000_listener_hours": per_thousand,
        "http_over_socket": per_thousand["http_heartbeats"]["total"] / per_thousand["socket"]["total"],
        "http_over_socket_without_lambda_duration": bare["http_heartbeats"] / bare["socket"],
    }


def format_document(document: Mapping[str, Any]) -> str:
    lines = ["operation   http req  ws msgs  lambda  GB-s      WRU     RRU    SQS   (per call)"]
    for name, usage in document["per_call"].items():
        lines.append(
            f"{name:<11} {usage['http_requests']:>8.2f} {usage['websocket_messages']:>8.2f} "
            f"{usage['lambda_invocations']:>7.2f} {usage['lambda_gb_seconds']:>8.5f} {usage['write_units']:>7.2f} "
            f"{usage['read_units']:>7.2f} {usage['sqs_requests']:>6.2f}"
        )
    lines.append("")
    lines.append("USD per 1,000 listener-hours   API GW    Lambda   DynamoDB   SQS      total")
    for name, parts in document["usd_per_1000_listener_hours"].items():
        lines.append(
            f"{name:<30} {parts['api_gateway']:>7.4f} {parts['lambda']:>9.4f} {parts['dynamodb']:>9.4f} "
            f"{parts['sqs']:>7.4f} {parts['total']:>9.4f}"
        )
    lines.append(
        f"HTTP heartbeats cost {document['http_over_socket']:.1f}x the live connection "
        f"({document['http_over_socket_without_lambda_duration']:.1f}x leaving Lambda's duration out)"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- measuring
class Invocations:
    """Counts each function's invocations and their wall time, by wrapping its pool's `invoke`."""

    def __init__(self, stack: LocalStack) -> None:
        self._lock = threading.Lock()
        self.count: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}
        self.memory_mb = {
            name: float(stack.function_env(name).get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 512)) for name in stack.pools
        }
        for name, pool in stack.pools.items():
            pool.invoke = self._counted(name, pool.invoke)  # type: ignore[method-assign]

    def _counted(self, name: str, invoke: Any) -> Any:
        def counted(event: Any) -> Any:
            started = time.perf_counter()
            try:
                return invoke(event)
            finally:
                with self._lock:
                    self.count[name] += 1
                    self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return counted

    def snapshot(self) -> tuple[Counter[str], dict[str, float]]:
        with self._lock:
            return Counter(self.count), dict(self.seconds)


class Meter:
    """One window per operation: what the stack did while a block ran, per call of the operation."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.meter is not None, "start the stack with capacity_model=True"
        self.stack = stack
        self.ledger: Ledger = stack.meter.ledger
        self.invocations = Invocations(stack)

    @contextmanager
    def window(self, calls: int, usage: dict[str, Usage], name: str, **counted: float) -> Iterator[None]:
        """Record the block as `calls` calls of `name`; `counted` adds what the client itself counted
        (HTTP requests, WebSocket messages, SQS requests), in total over the calls."""
        self.stack.wait_idle(timeout=300)
        position = self.ledger.position()
        before_count, before_seconds = self.invocations.snapshot()
        yield
        self.stack.wait_idle(timeout=300)
        charges = self.ledger.since(position)
        after_count, after_seconds = self.invocations.snapshot()
        count = after_count - before_count
        seconds = {name: after_seconds[name] - before_seconds.get(name, 0.0) for name in after_seconds}
        gb_seconds = sum(seconds[name] * self.invocations.memory_mb[name] / 1024 for name in seconds)
        usage[name] = Usage(
            http_requests=counted.get("http_requests", 0) / calls,
            websocket_messages=counted.get("websocket_messages", 0) / calls,
            lambda_invocations=sum(count.values()) / calls,
            lambda_gb_seconds=gb_seconds / calls,
            write_units=sum(c.wcu for c in charges if not c.throttled) / calls,
            read_units=sum(c.rcu for c in charges if not c.throttled) / calls,
            sqs_requests=counted.get("sqs_requests", 0) / calls,
            invocations_by_function={fn: n / calls for fn, n in count.items()},
        )


def measure(listeners: int, pings: int) -> tuple[dict[str, Usage], int]:
    from websockets.sync.client import connect

    usage: dict[str, Usage] = {}
    # no schedules: housekeeping never runs inside a window; a short grace: the close window ends soon
    with LocalStack(
        stack_name="presence", capacity_model=True, schedules=False, parameters={"PresenceGraceSeconds": 1}
    ) as stack:
        interval = int(stack.function_env("ApiFunction")["ROOMS_HEARTBEAT_INTERVAL_SECONDS"])
        meter = Meter(stack)
        users = [f"listener-{n:04d}" for n in range(listeners)]
        tokens = {user: mint_token(user, ttl_seconds=4 * HOUR_S) for user in [*users, "presence-host"]}

        def auth(user: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[user]}"}

        with (
            httpx.Client(base_url=stack.api_url, timeout=120) as http,
            ThreadPoolExecutor(8) as pool,
            ExitStack() as closing,
        ):
            created = http.post(
                "/rooms", json={"title": "presence", "capacity": listeners}, headers=auth("presence-host")
            )
            room_id = created.raise_for_status().json()["room_id"]
            for user in users:
                http.post(f"/rooms/{room_id}/join", headers=auth(user)).raise_for_status()

            with meter.window(listeners, usage, "heartbeat", http_requests=listeners):
                list(
                    pool.map(
                        lambda u: http.post(f"/rooms/{room_id}/heartbeat", headers=auth(u)).raise_for_status(), users
                    )
                )

            with meter.window(listeners, usage, "connect"):
                opened = list(pool.map(lambda u: connect(f"{stack.ws_url}?token={quote(tokens[u])}"), users))
            sockets = [closing.enter_context(socket) for socket in opened]

            def hold(socket: Any) -> None:
                socket.send(json.dumps({"action": "hold", "room_id": room_id}))
                reply = json.loads(socket.recv(timeout=120))
                assert reply["type"] == "seat.held", reply

            with meter.window(listeners, usage, "hold", websocket_messages=2 * listeners):
                list(pool.map(hold, sockets))

            with meter.window(listeners * pings, usage, "ping", websocket_messages=listeners * pings):
                for socket in sockets:
                    for _ in range(pings):
                        socket.send(json.dumps({"action": "ping"}))

            # a close: $disconnect, the delayed release on the sweep queue (send, receive, delete), the sweeper
            with meter.window(listeners, usage, "close", sqs_requests=3 * listeners):
                for socket in sockets:
                    socket.close()
    return usage, interval


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--pings", type=int, default=3, help="pings per listener in the ping window")
    parser.add_argument("--prices", type=Path, help="JSON object overriding PRICES")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    prices = {**PRICES, **(json.loads(args.prices.read_text()) if args.prices else {})}
    per_call, interval = measure(args.listeners, args.pings)
    document = cost_document(per_call, interval, prices)
    document["listeners"] = args.listeners
    print(format_document(document))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
