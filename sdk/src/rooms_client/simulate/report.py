"""The storm's report: a JSON-ready summary, and the text the CLI prints."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rooms_client.simulate.invariants import InvariantResult
from rooms_client.simulate.results import USER_KINDS, StormResult
from rooms_client.simulate.stats import latency_summary

OUTCOMES = ("seated", "failed", "error", "timeout", "pending")


def _per_seated(result: StormResult, seated: int) -> dict[str, Any]:
    """What one seated user cost during the storm: the users' HTTP requests, and socket messages both ways."""
    by_kind = {kind: result.storm_kinds.get(kind, 0) for kind in USER_KINDS}
    messages = result.socket.sent + result.socket.received
    per = max(seated, 1)
    return {
        "seated": seated,
        "http_requests": round(sum(by_kind.values()) / per, 2),
        "by_kind": by_kind,
        "socket_messages": round(messages / per, 2),
    }


def summarize(result: StormResult, invariants: Sequence[InvariantResult]) -> dict[str, Any]:
    users = result.users
    admitted = Counter(user.room_id for user in users if user.outcome == "seated")
    outcomes = Counter(user.outcome for user in users)
    elapsed = max(result.elapsed, 1e-9)
    return {
        "transport": result.config.transport,
        "api_url": result.api_url,
        "family_id": result.family_id,
        "started_at": result.started_at.isoformat(),
        "elapsed_seconds": round(result.elapsed, 3),
        "config": dataclasses.asdict(result.config),
        "users": len(users),
        "outcomes": {name: outcomes.get(name, 0) for name in OUTCOMES},
        "failure_details": dict(Counter(u.detail or "?" for u in users if u.outcome != "seated").most_common()),
        "seated_directly": sum(1 for u in users if u.outcome == "seated" and not u.via_ticket),
        "seated_via_ticket": sum(1 for u in users if u.outcome == "seated" and u.via_ticket),
        "left": sum(1 for u in users if u.left),
        "rooms": [
            {
                "room_id": room.room_id,
                "index": room.index,
                "status": room.status,
                "capacity": room.capacity,
                "admitted": admitted.get(room.room_id, 0),
                "occupancy": room.occupancy,
                "participants": len(room.participants),
            }
            for room in result.rooms
        ],
        "parallel_rooms": sum(1 for room in result.rooms if room.index > 0),
        "latency": {
            "join": latency_summary([u.join_latency for u in users if u.join_latency is not None]),
            "seat": latency_summary([u.seat_latency for u in users if u.seat_latency is not None]),
            "seat_via_ticket": latency_summary(
                [u.seat_latency for u in users if u.seat_latency is not None and u.via_ticket]
            ),
            # as the client sees it: from the 202 to knowing it is seated (a poll's answer, or a push)
            "queued": latency_summary([u.queue_latency for u in users if u.queue_latency is not None]),
            # the server's part: the ticket's creation to its seat (polled) or to the push that told it
            "queued_server": latency_summary(
                [u.server_queue_latency for u in users if u.server_queue_latency is not None]
            ),
        },
        "requests": {
            "total": result.requests,
            "during_storm": result.storm_requests,
            "per_second": round(result.storm_requests / elapsed, 1),
            "by_status": {str(status): count for status, count in sorted(result.statuses.items())},
            "transport_errors": result.transport_errors,
        },
        "per_seated_user": _per_seated(result, outcomes.get("seated", 0)),
        "socket": dataclasses.asdict(result.socket),
        "polled_without_socket": sum(1 for u in users if u.polled),
        "samples": len(result.samples),
        "invariants": [dataclasses.asdict(check) for check in invariants],
        "ok": not any(check.failed for check in invariants),
    }


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}"


def format_report(summary: dict[str, Any]) -> str:
    config = summary["config"]
    spread = "" if config["arrival"] == "burst" else f" over {config['duration']:g} s"
    outcomes = ", ".join(f"{name} {count}" for name, count in summary["outcomes"].items() if count)
    lines = [
        f"Storm: {summary['users']} users, capacity {config['capacity']}, "
        f"concurrency {config['concurrency']}, arrival {config['arrival']}{spread}, "
        f"leave rate {config['leave_rate']:g}",
        f"API {summary['api_url']}  family {summary['family_id']}  ran {summary['elapsed_seconds']:.1f} s  "
        f"transport {summary.get('transport', 'polling')}",
        "",
        f"Outcomes: {outcomes or 'none'} (directly {summary['seated_directly']}, "
        f"via ticket {summary['seated_via_ticket']}, left {summary['left']})",
    ]
    if summary["failure_details"]:
        details = ", ".join(f"{name} {count}" for name, count in summary["failure_details"].items())
        lines.append(f"  not seated: {details}")
    lines += ["", f"Rooms ({summary['parallel_rooms']} parallel rooms created):"]
    lines.append(f"  {'room':<28} {'index':>5} {'admitted':>8} {'final':>7} {'capacity':>8}  status")
    for room in summary["rooms"]:
        lines.append(
            f"  {room['room_id']:<28} {room['index']:>5} {room['admitted']:>8} {room['participants']:>7} "
            f"{room['capacity']:>8}  {room['status']}"
        )
    lines += ["", f"  {'latency (ms)':<22} {'n':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}"]
    labels = {
        "join": "join (to 200/202)",
        "seat": "seat (to seated)",
        "seat_via_ticket": "seat, queued first",
        "queued": "202 to seated",
        "queued_server": "  of it, server side",
    }
    for key, label in labels.items():
        if key not in summary["latency"]:
            continue
        stats = summary["latency"][key]
        lines.append(
            f"  {label:<22} {stats['count']:>6} {_ms(stats['p50_ms']):>7} {_ms(stats['p95_ms']):>7} "
            f"{_ms(stats['p99_ms']):>7} {_ms(stats['max_ms']):>7}"
        )
    requests = summary["requests"]
    by_status = ", ".join(f"{status}: {count}" for status, count in requests["by_status"].items())
    lines += [
        "",
        f"Requests: {requests['during_storm']} in {summary['elapsed_seconds']:.1f} s "
        f"= {requests['per_second']} req/s; {requests['total']} in all ({by_status}; "
        f"connection errors {requests['transport_errors']})",
    ]
    lines += _cost_lines(summary)
    lines += ["", "Invariants:"]
    for check in summary["invariants"]:
        lines.append(f"  {check['name']} {check['status'].upper():<4} {check['title']}: {check['detail']}")
    lines.append("")
    lines.append("All invariants hold." if summary["ok"] else "INVARIANT VIOLATED.")
    return "\n".join(lines)


def _cost_lines(summary: dict[str, Any]) -> list[str]:
    per = summary.get("per_seated_user")
    if per is None:
        return []
    kinds = ", ".join(f"{kind} {count}" for kind, count in per["by_kind"].items())
    lines = [f"Per seated user: {per['http_requests']} HTTP requests ({kinds} in all)"]
    sockets = summary["socket"]
    if summary.get("transport") == "socket":
        lines[0] += f", {per['socket_messages']} socket messages"
        lines.append(
            f"Sockets: {sockets['connections']} opened, {sockets['sent']} messages sent, "
            f"{sockets['received']} received ({sockets['pings']} pings), {sockets['reconnects']} reconnects, "
            f"{sockets['failed_opens']} could not open (those users polled)"
        )
    return lines


# The rows of the side-by-side report: label, and how to read the value from a summary.
COMPARISON_ROWS: tuple[tuple[str, Any], ...] = (
    ("seated", lambda s: s["outcomes"]["seated"]),
    ("seated via ticket", lambda s: s["seated_via_ticket"]),
    ("202 to seated p50 (ms)", lambda s: _ms(s["latency"]["queued"]["p50_ms"])),
    ("202 to seated p95 (ms)", lambda s: _ms(s["latency"]["queued"]["p95_ms"])),
    ("202 to seated p99 (ms)", lambda s: _ms(s["latency"]["queued"]["p99_ms"])),
    ("  of it server side, p99 (ms)", lambda s: _ms(s["latency"]["queued_server"]["p99_ms"])),
    ("HTTP requests / seated user", lambda s: s["per_seated_user"]["http_requests"]),
    ("  ticket polls / seated user", lambda s: _ratio(s, "ticket")),
    ("  heartbeats / seated user", lambda s: _ratio(s, "heartbeat")),
    ("socket messages / seated user", lambda s: s["per_seated_user"]["socket_messages"]),
    ("requests / s", lambda s: s["requests"]["per_second"]),
    ("invariants", lambda s: "hold" if s["ok"] else "VIOLATED"),
)


def _ratio(summary: dict[str, Any], kind: str) -> float:
    per = summary["per_seated_user"]
    return round(per["by_kind"][kind] / max(per["seated"], 1), 2)


def compare(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The storms side by side, as JSON: one column per transport."""
    return {
        "transports": [summary["transport"] for summary in summaries],
        "rows": {label: [read(summary) for summary in summaries] for label, read in COMPARISON_ROWS},
        "ok": all(summary["ok"] for summary in summaries),
    }


def format_comparison(summaries: Sequence[dict[str, Any]]) -> str:
    table = compare(summaries)
    head = "".join(f"{name:>12}" for name in table["transports"])
    lines = ["Transports side by side (the same storm, one run after the other):", f"  {'':<32}{head}"]
    for label, values in table["rows"].items():
        lines.append(f"  {label:<32}" + "".join(f"{value!s:>12}" for value in values))
    return "\n".join(lines)
