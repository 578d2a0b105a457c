"""`rooms`: the Rooms API from a shell, built on the SDK.

rooms --user alice create-room --title "Good Time Show" --capacity 5000
rooms --user bob join r_0123abcd          # prints the seat, wherever the overflow put it
rooms --user bob ticket t_... --follow    # tails a ticket until seated or failed
rooms simulate --users 2000 --capacity 500 --arrival poisson --duration 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from rooms_client._base import API_URL_ENV, WS_URL_ENV, default_api_url, default_ws_url
from rooms_client.auth import DevToken, TokenSource
from rooms_client.client import RoomsClient
from rooms_client.devtoken import DEFAULT_TTL_SECONDS, mint_dev_token
from rooms_client.errors import JoinTimeoutError, RoomsError
from rooms_client.live.errors import LiveConnectionError
from rooms_client.models import RECURRENCES, Family, Ticket, to_json
from rooms_client.simulate import command as simulate_command

TOKEN_ENV = "ROOMS_TOKEN"
Handler = Callable[[argparse.Namespace, RoomsClient], int]


def _print_json(value: Any, compact: bool = False) -> None:
    print(json.dumps(to_json(value), indent=None if compact else 2))


def _meta_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE, got {text!r}")
    return key, value


def cmd_create_room(args: argparse.Namespace, client: RoomsClient) -> int:
    _print_json(client.create_room(args.title, args.capacity, dict(args.meta)))
    return 0


def cmd_create_event(args: argparse.Namespace, client: RoomsClient) -> int:
    event = client.create_event(
        args.title,
        starts_at=args.starts_at,
        ends_at=args.ends_at,
        timezone=args.timezone,
        capacity=args.capacity,
        expected_audience=args.expected_audience,
        recurrence=args.recurrence,
    )
    _print_json(event)
    return 0


def cmd_join(args: argparse.Namespace, client: RoomsClient) -> int:
    if args.no_follow:
        _print_json(client.request_join(args.room_id, promote=args.promote))
    else:
        # no hold: this process ends at once, and its socket's close would cut the seat to the grace
        _print_json(client.join(args.room_id, promote=args.promote, timeout=args.timeout, hold=False))
    return 0


def cmd_leave(args: argparse.Namespace, client: RoomsClient) -> int:
    _print_json(client.leave(args.room_id))
    return 0


def _family_table(family: Family) -> str:
    lines = [f"family {family.family_id}: {family.total_occupancy}/{family.total_capacity} seated"]
    for room in sorted(family.rooms, key=lambda room: room.index):
        bar = "#" * round(20 * room.occupancy / room.capacity) if room.capacity else ""
        seats = f"{room.occupancy:>6}/{room.capacity:<6}"
        lines.append(f"  {room.index:>3} {room.room_id:<28} {seats} {room.status:<6} {bar}")
    return "\n".join(lines)


def cmd_family(args: argparse.Namespace, client: RoomsClient) -> int:
    family = client.get_family(args.room_id)
    if args.json:
        _print_json(family)
    else:
        print(_family_table(family))
    return 0


def cmd_ticket(args: argparse.Namespace, client: RoomsClient) -> int:
    if args.follow and client.ws_url is not None:
        with contextlib.suppress(LiveConnectionError):
            client.connect_live()  # told by a push; without the socket, polled
    ticket = client.get_ticket(args.ticket_id)
    _print_json(ticket, compact=args.follow)
    if args.follow and not ticket.is_final:

        def show(update: Ticket) -> None:
            _print_json(update, compact=True)
            sys.stdout.flush()

        try:
            ticket = client.follow_ticket(ticket, timeout=args.timeout, on_update=show)
        except JoinTimeoutError as error:
            print(f"rooms: {error}", file=sys.stderr)
            return 1
    return 1 if ticket.status == "failed" else 0


def _token_source(args: argparse.Namespace) -> TokenSource:
    if args.token:
        return str(args.token)
    if args.user:
        return DevToken(args.user)
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rooms", description="Rooms API client: rooms, seats, tickets, storms.")
    parser.add_argument(
        "--api-url",
        default=default_api_url(),
        help=f"API base URL (default: ${API_URL_ENV} or the local stack, %(default)s)",
    )
    parser.add_argument(
        "--ws-url",
        default=default_ws_url(),
        help=f"the live connection's WebSocket URL (default: ${WS_URL_ENV}; none: poll and heartbeat over HTTP)",
    )
    identity = parser.add_mutually_exclusive_group()
    identity.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV})")
    identity.add_argument("--user", help="act as USER with a local dev token (local stack only)")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="seconds per HTTP request")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser("token", help="print a local dev token for USER")
    token.add_argument("user_id", metavar="USER")
    token.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="seconds the token is valid")

    room = commands.add_parser("create-room", help="create a main room; you are its host")
    room.add_argument("--title", required=True)
    room.add_argument("--capacity", type=int, required=True)
    room.add_argument(
        "--meta",
        type=_meta_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata, repeatable",
    )
    room.set_defaults(handler=cmd_create_room)

    event = commands.add_parser("create-event", help="schedule a show")
    event.add_argument("--title", required=True)
    event.add_argument("--starts-at", required=True, help="ISO 8601, e.g. 2025-06-01T20:00:00+02:00")
    event.add_argument("--ends-at", required=True, help="ISO 8601")
    event.add_argument("--timezone", default="UTC", help="IANA zone for recurrences (default: %(default)s)")
    event.add_argument("--capacity", type=int, required=True, help="seats per room")
    event.add_argument("--expected-audience", type=int, required=True)
    event.add_argument("--recurrence", choices=RECURRENCES, default=None)
    event.set_defaults(handler=cmd_create_event)

    join = commands.add_parser("join", help="take a seat, following the overflow ticket if the room is full")
    join.add_argument("room_id", metavar="ROOM")
    join.add_argument("--promote", action="store_true", help="move up to the main room when a seat frees")
    join.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for a seat")
    join.add_argument("--no-follow", action="store_true", help="print the 200/202 answer, do not follow")
    join.set_defaults(handler=cmd_join)

    leave = commands.add_parser("leave", help="free your seat (or withdraw your ticket) in the family")
    leave.add_argument("room_id", metavar="ROOM")
    leave.set_defaults(handler=cmd_leave)

    family = commands.add_parser("family", help="a main room and its parallel rooms")
    family.add_argument("room_id", metavar="ROOM")
    family.add_argument("--json", action="store_true", help="print JSON instead of a table")
    family.set_defaults(handler=cmd_family)

    ticket = commands.add_parser("ticket", help="show an overflow ticket")
    ticket.add_argument("ticket_id", metavar="TICKET")
    ticket.add_argument("--follow", action="store_true", help="print each change until seated or failed")
    ticket.add_argument("--timeout", type=float, default=None, help="stop following after this many seconds")
    ticket.set_defaults(handler=cmd_ticket)

    simulate_command.add_parser(commands)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    async_transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """The console script. The transports let tests answer the requests in memory."""
    args = build_parser().parse_args(argv)
    if args.command == "token":
        print(mint_dev_token(args.user_id, ttl_seconds=args.ttl))
        return 0
    if args.token is None and args.user is None:
        args.token = os.environ.get(TOKEN_ENV) or None
    try:
        if args.command == "simulate":
            return simulate_command.run(args, async_transport)
        with RoomsClient(
            args.api_url,
            _token_source(args),
            request_timeout=args.request_timeout,
            transport=transport,
            ws_url=args.ws_url or "",
        ) as client:
            handler: Handler = args.handler
            return handler(args, client)
    except RoomsError as error:
        print(f"rooms: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
