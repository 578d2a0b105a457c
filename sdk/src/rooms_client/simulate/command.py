"""`rooms simulate`: its options, and the run from arguments to report, files and exit code."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from rooms_client.auth import DevToken, TokenSource
from rooms_client.simulate.chart import write_outputs
from rooms_client.simulate.config import ARRIVALS, TRANSPORTS, StormConfig, Transport
from rooms_client.simulate.invariants import check_invariants
from rooms_client.simulate.progress import Progress
from rooms_client.simulate.report import compare, format_comparison, format_report, summarize
from rooms_client.simulate.runner import TokenFor, run_storm

DEFAULT_HOST = "storm-host"
DEFAULT_OUT = Path("bench/results/storm")


def add_parser(commands: Any) -> None:
    defaults = StormConfig()
    sim = commands.add_parser(
        "simulate",
        help="replay a celebrity join storm and check the invariants",
        description="Create a room, have N distinct users join it concurrently, follow their overflow "
        "tickets, then report per-room admissions, latencies and the design invariants I1-I5. "
        "Exits 1 when an invariant fails.",
    )
    sim.add_argument("--users", type=int, default=defaults.users, help="distinct joining users (%(default)s)")
    sim.add_argument("--capacity", type=int, default=defaults.capacity, help="room capacity (%(default)s)")
    sim.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="joins in flight at once (%(default)s)"
    )
    sim.add_argument("--arrival", choices=ARRIVALS, default=defaults.arrival, help="arrival curve (%(default)s)")
    sim.add_argument("--duration", type=float, default=defaults.duration, help="seconds linear/poisson arrivals span")
    sim.add_argument(
        "--leave-rate", type=float, default=defaults.leave_rate, help="fraction of seated users that leave"
    )
    sim.add_argument("--leave-after", type=float, default=defaults.leave_after, help="mean seconds before they leave")
    sim.add_argument("--sample-interval", type=float, default=defaults.sample_interval, help="seconds")
    sim.add_argument("--timeout", type=float, default=defaults.join_timeout, help="seconds a user waits for a seat")
    sim.add_argument("--seed", type=int, default=None, help="random seed for arrivals and leaves")
    sim.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report directory (%(default)s)")
    sim.add_argument("--close", action="store_true", help="close the room family at the end")
    sim.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sim.add_argument(
        "--transport",
        choices=(*TRANSPORTS, "both"),
        default=None,
        help="how users learn of their seat and keep it: polling and heartbeats, or the live connection; "
        "both: the storm once each way, reported side by side (default: socket when --ws-url or "
        "$ROOMS_WS_URL names the live connection, else polling)",
    )
    sim.add_argument(
        "--token-cmd",
        metavar="CMD",
        help="command that prints a token for the user id in {user}, for a deployed API (default: local dev tokens)",
    )


def config_of(args: argparse.Namespace, transport: Transport = "polling") -> StormConfig:
    return StormConfig(
        transport=transport,
        users=args.users,
        capacity=args.capacity,
        concurrency=args.concurrency,
        arrival=args.arrival,
        duration=args.duration,
        leave_rate=args.leave_rate,
        leave_after=args.leave_after,
        sample_interval=args.sample_interval,
        join_timeout=args.timeout,
        seed=args.seed,
        close_at_end=args.close,
    )


def command_token(command: str, user_id: str) -> str:
    """Run ``command`` with {user} replaced (argument-wise, no shell) and return what it prints."""
    argv = [part.replace("{user}", user_id) for part in shlex.split(command)]
    completed = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    return completed.stdout.strip()


def token_for_users(command: str | None) -> TokenFor:
    if command is None:
        return DevToken
    return lambda user_id: command_token(command, user_id)


def host_token(args: argparse.Namespace) -> TokenSource:
    if args.token:
        return str(args.token)
    return DevToken(args.user or DEFAULT_HOST)


SIMULATE_EXTRA_MISSING = (
    "rooms simulate: the simulation draws its chart with matplotlib, which is not installed; "
    "install the extra: pip install 'rooms-client[simulate]'"
)


def has_simulate_extra() -> bool:
    """matplotlib, the one package of the `simulate` extra, is importable."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def transports_of(choice: str | None, ws_url: str | None) -> list[Transport]:
    if choice == "both":
        return ["polling", "socket"]
    if choice is None:
        return ["socket" if ws_url else "polling"]
    return ["socket" if choice == "socket" else "polling"]


def run(args: argparse.Namespace, transport: httpx.AsyncBaseTransport | None = None) -> int:
    if not has_simulate_extra():  # before the storm, not after it
        print(SIMULATE_EXTRA_MISSING, file=sys.stderr)
        return 2
    if args.token and not args.token_cmd:
        print(
            "rooms simulate: with --token, pass --token-cmd to get a token per simulated user",
            file=sys.stderr,
        )
        return 2
    ws_url = getattr(args, "ws_url", None) or None
    transports = transports_of(args.transport, ws_url)
    if "socket" in transports and not ws_url:
        print("rooms simulate: a socket storm needs --ws-url (or $ROOMS_WS_URL)", file=sys.stderr)
        return 2
    try:
        configs = [config_of(args, kind) for kind in transports]
    except ValueError as error:
        print(f"rooms simulate: {error}", file=sys.stderr)
        return 2
    summaries = []
    for config in configs:
        progress = Progress(config.users, enabled=not args.no_progress)
        users_token = token_for_users(args.token_cmd)
        storm = run_storm(
            config, args.api_url, host_token(args), users_token, progress=progress, transport=transport, ws_url=ws_url
        )
        result = asyncio.run(storm)
        invariants = check_invariants(result.rooms, result.users, result.any_left)
        summary = summarize(result, invariants)
        summaries.append(summary)
        print(format_report(summary))
        # one transport: the report directory itself; both: a directory for each, and the comparison
        out = args.out if len(configs) == 1 else args.out / config.transport
        for path in write_outputs(result, summary, out):
            print(f"wrote {path}")
        print()
    if len(summaries) > 1:
        print(format_comparison(summaries))
        path = args.out / "comparison.json"
        path.write_text(json.dumps(compare(summaries), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0 if all(summary["ok"] for summary in summaries) else 1
