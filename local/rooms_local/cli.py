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

from .naming import DEFAULT_STACK
from .tokens import mint_token

if TYPE_CHECKING:
    from .stack import LocalStack


def _parameter(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rooms-local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the local stack until Ctrl-C")
    up.add_argument("--port", type=int, default=8080, help="HTTP API port (0: any free port; default 8080)")
    up.add_argument("--stack", default=DEFAULT_STACK, help=f"prefix of resource names (default {DEFAULT_STACK})")
    up.add_argument("--template", type=Path, default=None, help="SAM template (default: the repository's)")
    up.add_argument(
        "--param", type=_parameter, action="append", default=[], metavar="NAME=VALUE", help="template parameter"
    )
    up.add_argument("--visibility-timeout", type=int, default=None, help="seconds, for every queue")
    up.add_argument("--max-instances", type=int, default=4, help="processes per function (default 4)")
    up.add_argument(
        "--clock-speed",
        type=float,
        default=1.0,
        metavar="N",
        help="run the scheduler's clock N times faster than real time (default 1; 60: a minute a second)",
    )
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
        parameters=dict(args.param),
        visibility_timeout=args.visibility_timeout,
        max_instances=args.max_instances,
        clock_speed=args.clock_speed,
    )
    try:
        with stack:
            print(f"\nRooms local API: {stack.api_url}  (up in {stack.startup_seconds:.1f} s)\n")
            print("Point boto3, pynamodb and the AWS CLI at it:")
            for name, value in {**stack.endpoints, "AWS_DEFAULT_REGION": stack.region}.items():
                print(f"  export {name}={shlex.quote(value)}")
            print("  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local\n")
            print("Routes:")
            for route in stack.template.routes:
                print(f"  {route.route_key:<48} {route.function_id}{'' if route.authorizer else '  (public)'}")
            schedules = stack.template.schedules.values()
            if schedules or stack.clock_speed != 1:
                print(f"\nSchedules fire on a clock running {stack.clock_speed:g}x real time:")
                for schedule in schedules:
                    print(f"  {schedule.expression:<48} {schedule.name}")
                print("  plus any schedule the functions create")
            sample = _sample_curl(stack)
            if sample:
                print(f"\nTry:\n  {sample}")
            print("\nCtrl-C to stop.", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "token":
        print(mint_token(args.user_id, ttl_seconds=args.ttl))
        return 0
    return _up(args)
