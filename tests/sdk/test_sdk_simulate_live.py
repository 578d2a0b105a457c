"""`rooms simulate` over the live connection: the in-memory API with the in-process socket server, whose
overflow worker seats the queue after each queued join and pushes each seat; and the in-flight cap."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rooms_client import DevToken
from rooms_client.cli import main
from rooms_client.live import LiveOptions
from rooms_client.simulate import StormConfig, StormResult, check_invariants, run_storm, summarize
from rooms_client.simulate.capped import CappedTransport
from rooms_client.simulate.config import Transport
from tests.sdk.live_fakes import DEADLINE, FakeLiveServer, frame
from tests.sdk.sdk_fakes import FakeRoomsApi

NO_POLL = LiveOptions(ticket_poll_interval=DEADLINE * 6)


class LiveRooms:
    """One FakeRoomsApi behind both doors: HTTP (the storm's loop) and the socket (the server's thread)."""

    def __init__(self) -> None:
        self.api = FakeRoomsApi()
        self.lock = threading.Lock()
        self.server: FakeLiveServer | None = None

    def http(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            response = self.api(request)
        if response.status_code == 202 and self.server is not None:
            self.seat_and_push(self.server)
        return response

    def ticket(self, user: str, ticket_id: str) -> dict[str, Any] | None:
        with self.lock:
            ticket = self.api.tickets.get(ticket_id)
            if ticket is None or ticket["user"] != user:
                return None
            return {k: v for k, v in ticket.items() if k != "user"}

    def seat_and_push(self, server: FakeLiveServer) -> None:
        # the overflow worker runs as a join is queued, and pushes each seat it gave
        with self.lock:
            queued = list(self.api.queue)
            self.api._seat_queued()
            seated = [self.api.tickets[ticket_id] for ticket_id in queued]
        for ticket in seated:
            data = {k: ticket[k] for k in ("ticket_id", "family_id", "room_id")} | {"user_id": ticket["user"]}
            server.push(ticket["user"], frame("ticket.seated", data))


@pytest.fixture
def rooms() -> Iterator[tuple[LiveRooms, FakeLiveServer]]:
    backend = LiveRooms()
    server = backend.server = FakeLiveServer(tickets=backend.ticket).start()
    yield backend, server
    server.stop()


def config(transport: Transport) -> StormConfig:
    return StormConfig(users=23, capacity=5, concurrency=4, sample_interval=0.02, seed=3, transport=transport)


def storm(backend: LiveRooms, server: FakeLiveServer, transport: Transport) -> StormResult:
    run = run_storm(
        config(transport),
        "http://api.test",
        DevToken("host"),
        DevToken,
        transport=httpx.MockTransport(backend.http),
        ws_url=server.url,
        live=NO_POLL,
    )
    return asyncio.run(run)


def test_a_socket_storm_is_told_its_seats_and_holds_them(rooms: tuple[LiveRooms, FakeLiveServer]) -> None:
    backend, server = rooms
    # WHEN 23 users storm rooms of 5 over their live connections
    result = storm(backend, server, "socket")
    # THEN all are seated as by polling, and the invariants hold
    assert [user.outcome for user in result.users] == ["seated"] * 23
    assert not any(check.failed for check in check_invariants(result.rooms, result.users, result.any_left))
    # and no ticket was polled: the 18 queued users were told by a push, and each seat is held
    assert result.storm_kinds["ticket"] == 0
    assert all(user.queue_latency is not None for user in result.users if user.via_ticket)
    assert result.socket.connections == 23 and result.socket.failed_opens == 0
    server.wait_for(lambda: server.actions().count("hold") == 23)
    # and no watch: each socket was open before its join was asked for, so it heard every push since
    assert server.actions().count("watch") == 0
    summary = summarize(result, [])
    assert summary["transport"] == "socket"
    assert summary["per_seated_user"]["by_kind"]["ticket"] == 0
    assert summary["per_seated_user"]["socket_messages"] > 0


def test_simulate_runs_both_transports_and_reports_them_side_by_side(
    rooms: tuple[LiveRooms, FakeLiveServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend, server = rooms
    argv = ["--api-url", "http://api.test", "--ws-url", server.url, "simulate", "--transport", "both"]
    argv += ["--users", "12", "--capacity", "4", "--concurrency", "3", "--sample-interval", "0.02"]
    argv += ["--out", str(tmp_path), "--no-progress", "--seed", "1"]
    code = main(argv, async_transport=httpx.MockTransport(backend.http))
    out = capsys.readouterr().out
    assert code == 0
    assert "transport polling" in out and "transport socket" in out
    assert "Transports side by side" in out and "202 to seated p95 (ms)" in out
    comparison = json.loads((tmp_path / "comparison.json").read_text())
    assert comparison["transports"] == ["polling", "socket"] and comparison["ok"] is True
    polls = comparison["rows"]["  ticket polls / seated user"]
    assert polls[0] > 0 and polls[1] == 0  # polling polled, the socket was told
    assert comparison["rows"]["socket messages / seated user"][0] == 0
    assert comparison["rows"]["socket messages / seated user"][1] > 0
    assert (tmp_path / "polling" / "summary.json").exists() and (tmp_path / "socket" / "report.html").exists()


def test_a_socket_storm_without_a_websocket_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--ws-url", "", "simulate", "--transport", "socket", "--users", "2", "--no-progress"]) == 2
    assert "--ws-url" in capsys.readouterr().err


def test_requests_in_flight_never_exceed_the_cap() -> None:
    # GIVEN a server that holds every request until four are in flight at once
    cap, in_flight, peak = 4, [0], [0]
    gate = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        if in_flight[0] >= cap:
            gate.set()
        await gate.wait()
        in_flight[0] -= 1
        return httpx.Response(200, json={"ok": True})

    async def burst() -> list[int]:
        capped = CappedTransport(httpx.MockTransport(handler), cap)
        async with httpx.AsyncClient(transport=capped) as http:
            answers = await asyncio.gather(*(http.get(f"http://api.test/{n}") for n in range(40)))
        assert capped.peak == cap
        return [answer.status_code for answer in answers]

    # WHEN 40 go at once through a cap of 4
    assert asyncio.run(burst()) == [200] * 40
    # THEN never more than 4 reached the server together, and 4 did (the cap, not a lack of load)
    assert peak[0] == cap
