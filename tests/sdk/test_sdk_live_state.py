"""The live connection's decisions without a socket (rooms_client.live.state), on a fake clock; and the
event types against docs/live.md, whose tables are the protocol: a type or field that drifts fails here."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import deque
from pathlib import Path

from rooms_client import NotSeatedError, ThrottledError
from rooms_client.live import GroupSeated, LiveError, ReconnectPolicy, SeatHeld, UnknownEvent, parse_frame
from rooms_client.live.events import EVENT_TYPES
from rooms_client.live.state import PING, LiveState, connect_url
from tests.sdk.live_fakes import frame
from tests.sdk.sdk_fakes import FakeClock

LIVE_DOC = (Path(__file__).resolve().parents[2] / "docs" / "live.md").read_text()
HELD = frame("seat.held", {"room_id": "r_1", "user_id": "u1", "held_until": "2025-01-01T14:00:20Z"})


def test_a_dropped_hold_falls_back_to_heartbeats_only_after_the_fallback_time(clock: FakeClock) -> None:
    state = LiveState(clock)
    state.on_connect()
    state.want_hold("r_1")
    state.expect("hold", "r_1")
    state.on_frame(HELD)
    assert state.holds("r_1") and not state.needs_heartbeat("r_1", 10.0)
    # WHEN the socket drops
    state.on_disconnect()
    clock.sleep(9.0)
    # THEN a reconnect has the fallback time to hold the seat again, then heartbeats take over
    assert not state.holds("r_1") and not state.needs_heartbeat("r_1", 10.0)
    clock.sleep(1.0)
    assert state.needs_heartbeat("r_1", 10.0)
    # and the reconnect sends the hold again, which stands once answered
    assert state.on_connect() == [json.dumps({"action": "hold", "room_id": "r_1"})]
    state.on_frame(HELD)
    assert state.holds("r_1") and state.stats.reconnects == 1


def test_a_seat_never_held_needs_heartbeats(clock: FakeClock) -> None:
    assert LiveState(clock).needs_heartbeat("r_1", 10.0)


def test_a_move_holds_the_new_room_and_a_freed_seat_is_let_go(clock: FakeClock) -> None:
    state = LiveState(clock)
    state.on_connect()
    state.want_hold("r_1")
    state.on_frame(HELD)
    moved = frame("seat.moved", {"family_id": "r_1", "from_room_id": "r_1", "room_id": "r_1-p2"})
    _, answers = state.on_frame(moved)
    assert answers == [json.dumps({"action": "hold", "room_id": "r_1-p2"})]
    assert list(state.holding) == ["r_1-p2"]
    state.on_frame(frame("seat.freed", {"room_id": "r_1-p2", "reason": "room_closed"}))
    assert state.holding == {} and state.on_connect() == []


def test_an_error_answers_the_oldest_request_and_a_refused_hold_is_not_sent_again(clock: FakeClock) -> None:
    state = LiveState(clock)
    state.on_connect()
    answered: list[object] = []
    state.want_hold("r_1")
    state.expect("hold", "r_1", answered.append)
    state.want_watch("t_1")
    state.expect("watch", "t_1")
    event, _ = state.on_frame(frame("error", {"error": {"code": "NOT_SEATED", "message": "not seated"}}))
    assert answered == [event] and isinstance(event, LiveError)
    assert isinstance(event.exception(), NotSeatedError)
    state.on_disconnect()
    assert state.on_connect() == [json.dumps({"action": "watch", "ticket_id": "t_1"})]


def test_api_gateways_own_refusal_is_an_error_and_a_throttled_hold_is_kept(clock: FakeClock) -> None:
    state = LiveState(clock)
    state.on_connect()
    state.want_hold("r_1")
    state.expect("hold", "r_1")
    throttled = json.dumps({"message": "Too Many Requests", "connectionId": "c=", "requestId": "q="})
    event, _ = state.on_frame(throttled)
    assert isinstance(event, LiveError) and isinstance(event.exception(), ThrottledError)
    assert state.pending == deque() and "r_1" in state.holding  # not now, rather than no
    state.on_disconnect()
    assert state.on_connect() == [json.dumps({"action": "hold", "room_id": "r_1"})]


def test_a_final_ticket_is_not_watched_again(clock: FakeClock) -> None:
    state = LiveState(clock)
    state.on_connect()
    state.want_watch("t_1")
    state.on_frame(frame("ticket.failed", {"ticket_id": "t_1", "family_id": "r_1", "reason": "room_closed"}))
    state.on_disconnect()
    assert state.on_connect() == [] and "t_1" in state.finals


def test_pings_follow_the_last_message_sent(clock: FakeClock) -> None:
    state = LiveState(clock)
    state.on_connect()
    clock.sleep(200.0)
    assert state.ping_due_in(300.0) == 100.0
    state.sent(PING)
    assert state.ping_due_in(300.0) == 300.0 and state.stats.pings == 1


def test_backoff_doubles_to_its_ceiling_and_the_token_travels_in_the_query() -> None:
    policy = ReconnectPolicy(base_delay=0.5, max_delay=4.0, max_attempts=5, jitter=lambda ceiling: ceiling)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert not policy.gives_up(5) and policy.gives_up(6)
    assert connect_url("wss://x/prod", "a.b.c") == "wss://x/prod?token=a.b.c"
    assert connect_url("ws://x/local?v=1", "t") == "ws://x/local?v=1&token=t"


def documented_frames() -> dict[str, list[str]]:
    """docs/live.md's "Server to client" table: type -> the data fields it names."""
    section = LIVE_DOC.split("## Server to client", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z.]+)` \| [^|]* \| (.*) \|$", section, flags=re.MULTILINE)
    # a parenthesis lists a field's values (`reason` (`kicked`, `room_closed`)), not more fields
    return {kind: re.findall(r"`([a-z_]+)`", re.sub(r"\(.*?\)", "", data)) for kind, data in rows}


def test_every_documented_frame_has_its_event_type_with_its_fields() -> None:
    documented = documented_frames()
    assert set(documented) == set(EVENT_TYPES)
    for kind, fields in documented.items():
        cls = EVENT_TYPES[kind][0]
        names = {f.name for f in dataclasses.fields(cls)}
        if kind in ("ticket.status", "error"):
            continue  # the ticket as HTTP has it (test_sdk_contract), and the HTTP error shape
        assert set(fields) <= names, (kind, set(fields) - names)


def test_a_newer_version_or_type_passes_through() -> None:
    newer = parse_frame(frame("seat.held", {"room_id": "r_1"}, version=2))
    assert isinstance(newer, UnknownEvent) and newer.version == 2
    assert isinstance(parse_frame(HELD), SeatHeld)
    assert isinstance(parse_frame(b"[1, 2]"), UnknownEvent)


def test_a_ticket_asked_for_over_the_open_socket_needs_no_watch_until_the_socket_changes(clock: FakeClock) -> None:
    state = LiveState(clock)
    assert state.mark() is None  # no socket: nothing heard
    state.on_connect()
    mark = state.mark()
    # a ticket asked for while this socket was open: every push about it reaches this socket
    state.cover("t_1", mark)
    assert not state.watch_needed("t_1")
    assert not state.watch_needed("t_2", since=mark)
    # a ticket asked for before any socket, or over one that has dropped since, is watched
    state.cover("t_3", None)
    assert state.watch_needed("t_3")
    state.cover("t_4", mark)
    state.on_disconnect()
    state.on_connect()
    assert state.watch_needed("t_4") and state.watch_needed("t_5", since=mark)
    # and a watched ticket is sent again by a reconnect, needed or not
    state.want_watch("t_1")
    assert json.dumps({"action": "watch", "ticket_id": "t_1"}) in state.on_connect()


def test_a_group_seated_push_carries_the_members_seat() -> None:
    seat = {
        "room_id": "r_1",
        "family_id": "r_1",
        "index": 0,
        "user_id": "ben",
        "joined_at": "2026-12-03T10:00:00.000Z",
        "expires_at": "2026-12-03T10:01:00.000Z",
        "heartbeat_interval_seconds": 30,
    }
    event = parse_frame(frame("group.seated", {"group_id": "g_1", "seat": seat}))
    assert isinstance(event, GroupSeated) and event.group_id == "g_1"
    assert event.seat is not None and (event.seat.room_id, event.seat.user_id) == ("r_1", "ben")
