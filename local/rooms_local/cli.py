"""`rooms-local up` runs the local stack until Ctrl-C; `rooms-local token USER_ID` prints a dev token."""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from .collector import collect_oldest_on_a_timer
from .naming import DEFAULT_STACK
from .tokens import mint_token

if TYPE_CHECKING:
    from .capacity.faults import FaultConfig
    from .stack import LocalStack

FULL_COLLECTION_SECONDS = 600.0  # how long an old garbage cycle may wait (rooms_local.collector)


def _parameter(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _rate(text: str) -> float:
    rate = float(text)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1, got {text}")
    return rate


def _scale(text: str) -> float:
    scale = float(text)
    if scale <= 0:
        raise argparse.ArgumentTypeError(f"the throughput scale must be > 0, got {text}")
    return scale


def _capacity_arguments(up: argparse.ArgumentParser) -> None:
    group = up.add_argument_group("capacity model and fault injection")
    group.add_argument(
        "--capacity-model",
        action="store_true",
        help="bill every DynamoDB request as AWS would (WCU/RCU per partition key, table and GSIs)",
    )
    group.add_argument(
        "--throughput-scale",
        type=_scale,
        default=None,
        metavar="X",
        help="throttle as AWS does at X times 1,000 WCU/s and 3,000 RCU/s per partition key (0.05: 50 WCU/s)",
    )
    for flag, what in (
        ("--fault-transaction-conflicts", "transactions cancelled by a TransactionConflict"),
        ("--fault-throttles", "DynamoDB requests throttled"),
        ("--fault-internal-errors", "DynamoDB requests answered 500 InternalServerError"),
        ("--fault-sqs-send-failures", "SQS sends that fail"),
    ):
        group.add_argument(flag, type=_rate, default=0.0, metavar="RATE", help=f"share of {what} (0 to 1)")
    group.add_argument("--fault-seed", type=int, default=None, help="seed of the fault draws (reproducible runs)")


def _faults(args: argparse.Namespace) -> FaultConfig | None:
    from .capacity.faults import FaultConfig

    faults = FaultConfig(
        transaction_conflict_rate=args.fault_transaction_conflicts,
        throttle_rate=args.fault_throttles,
        internal_error_rate=args.fault_internal_errors,
        sqs_send_failure_rate=args.fault_sqs_send_failures,
        seed=args.fault_seed,
    )
    return faults if faults != FaultConfig(seed=args.fault_seed) else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rooms-local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the local stack until Ctrl-C")
    up.add_argument("--port", type=int, default=8080, help="HTTP API port (0: any free port; default 8080)")
    up.add_argument("--ws-port", type=int, default=8081, help="WebSocket API port (0: any free port; default 8081)")
    up.add_argument("--stack", default=DEFAULT_STACK, help=f"prefix of resource names (default {DEFAULT_STACK})")
    up.add_argument("--template", type=Path, default=None, help="SAM template (default: the repository's)")
    up.add_argument(
        "--param", type=_parameter, action="append", default=[], metavar="NAME=VALUE", help="template parameter"
    )
    up.add_argument("--visibility-timeout", type=int, default=None, help="seconds, for every queue")
    up.add_argument("--max-instances", type=int, default=4, help="processes per function (default 4)")
    up.add_argument(
        "--cold",
        action="store_true",
        help="start function instances on demand, as cold starts (default: all started as the stack comes up)",
    )
    up.add_argument(
        "--clock-speed",
        type=float,
        default=1.0,
        metavar="N",
        help="run the scheduler's clock N times faster than real time (default 1; 60: a minute a second)",
    )
    _capacity_arguments(up)
    token = commands.add_parser("token", help="print a development JWT accepted by the local API")
    token.add_argument("user_id")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    return parser


def _sample_curl(stack: LocalStack) -> str:
    route = next((r for r in stack.template.routes if r.authorizer and r.method != "ANY"), None)
    if route is None:
        return ""
    path = re.sub(r"\{([^}+]+)\+?\}", "example", route.path)
    parts = ["curl", "-i", "-X", route.method, f"{stack.api_url}{path}"]
    parts += ["-H", f"Authorization: Bearer {mint_token('local-user')}"]
    if route.method in ("POST", "PUT", "PATCH"):
        parts += ["-H", "content-type: application/json", "-d", "{}"]
    return shlex.join(parts)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the stack the same way Ctrl-C does


def _up(args: argparse.Namespace) -> int:
    from .stack import LocalStack  # boto3 and friends: not needed to print a token

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (`cmd &`)
    stack = LocalStack(
        args.template,
        stack_name=args.stack,
        port=args.port,
        ws_port=args.ws_port,
        parameters=dict(args.param),
        visibility_timeout=args.visibility_timeout,
        max_instances=args.max_instances,
        clock_speed=args.clock_speed,
        capacity_model=args.capacity_model,
        throughput_scale=args.throughput_scale,
        faults=_faults(args),
        warm=not args.cold,
    )
    try:
        with stack:
            print(f"\nRooms local API: {stack.api_url}  (up in {stack.startup_seconds:.1f} s)")
            if stack.ws_url:
                print(f"Rooms local WebSocket API: {stack.ws_url}?token=<a dev token>")
            print()
            print("Point boto3, pynamodb and the AWS CLI at it:")
            for name, value in {**stack.endpoints, "AWS_DEFAULT_REGION": stack.region}.items():
                print(f"  export {name}={shlex.quote(value)}")
            print("  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local\n")
            print("Point the SDK and `rooms` (simulate included) at it, the live connection too:")
            print(f"  export ROOMS_API_URL={shlex.quote(stack.api_url)}")
            if stack.ws_url:
                print(f"  export ROOMS_WS_URL={shlex.quote(stack.ws_url)}")
            print()
            print("Routes:")
            for route in stack.template.routes:
                print(f"  {route.route_key:<48} {route.function_id}{'' if route.authorizer else '  (public)'}")
            for api in stack.template.websocket_apis.values():
                for key, ws_route in api.routes.items():
                    target = ws_route.integration.function_id or "absorbed (MOCK)"
                    print(f"  {'WebSocket ' + key:<48} {target}")
            schedules = stack.template.schedules.values()
            if schedules or stack.clock_speed != 1:
                print(f"\nSchedules fire on a clock running {stack.clock_speed:g}x real time:")
                for schedule in schedules:
                    print(f"  {schedule.expression:<48} {schedule.name}")
                print("  plus any schedule the functions create")
            if stack.meter is not None:
                limits = (
                    f", throttling at {1000 * stack.throughput_scale:g} WCU/s and {3000 * stack.throughput_scale:g}"
                    " RCU/s per partition key"
                    if stack.throughput_scale is not None
                    else ""
                )
                print(f"\nCapacity meter on{limits}: a summary prints on Ctrl-C")
            sample = _sample_curl(stack)
            if sample:
                print(f"\nTry:\n  {sample}")
            print("\nCtrl-C to stop.", flush=True)
            forever = threading.Event()
            collect_oldest_on_a_timer(FULL_COLLECTION_SECONDS, forever)
            forever.wait()
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    if stack.meter is not None:
        from .capacity.ledger import summary_line

        print(summary_line(stack.meter.ledger.charges()), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "token":
        print(mint_token(args.user_id, ttl_seconds=args.ttl))
        return 0
    return _up(args)
