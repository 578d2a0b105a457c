"""Locust: the `rooms simulate` storm against a deployed stack, from as many machines as it takes.

Each Locust user is one listener: it opens the live connection (or not, `--transport polling`), joins the
room, follows its ticket to a seat (pushed, or polled), holds the seat (the socket's `hold`, or HTTP
heartbeats), and a `--leave-rate` of them leave after about `--leave-after` seconds (the churn); a
`--duplicate-rate` of joins are sent twice, as a double-tapped button does. The arrival curve is Locust's
spawn rate: `-r` equal to `-u` is the celebrity spike, a lower one a ramp.

    locust -f bench/locust/locustfile.py --host https://<api> --ws-url wss://<ws>/<stage> \\
        --token-cmd "./token-for {user}" --room-id <room>            # workers: --worker --master-host ...

Besides Locust's own request rows, each seat is a row of type SEAT: `202->seated socket` (or `polling`)
is the wait the user saw from the 202 to knowing its seat, and `200 seated` the joins seated at once.
`--stay S` ends each listener S seconds after it is seated, and the run once every listener has ended.
"""

from __future__ import annotations

import itertools
import json
import random
import shlex
import subprocess
import time
import uuid
from typing import Any
from urllib.parse import quote

import gevent
import gevent.event
import websocket
from locust import HttpUser, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from rooms_client.devtoken import mint_dev_token

_numbers = itertools.count()
_RUN = uuid.uuid4().hex[:6]  # keeps user ids of two runs (or two workers) apart
_FINAL = {"seated", "failed"}
PING_SECONDS = 300  # within API Gateway's 10-minute idle timeout


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--room-id", default="", help="room to join (default: the first runner creates one)")
    parser.add_argument("--capacity", type=int, default=5000, help="capacity of the room created")
    parser.add_argument("--ws-url", default="", help="the stack's WebSocketUrl output")
    parser.add_argument("--transport", choices=["socket", "polling"], default="socket")
    parser.add_argument("--leave-rate", type=float, default=0.0, help="fraction of seated users that leave")
    parser.add_argument("--leave-after", type=float, default=30.0, help="mean seconds before they leave")
    parser.add_argument("--duplicate-rate", type=float, default=0.0, help="fraction of joins sent twice")
    parser.add_argument("--stay", type=float, default=0.0, help="seconds a seated user stays (0: until stopped)")
    parser.add_argument("--join-timeout", type=float, default=120.0, help="seconds a user waits for its seat")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="ticket poll interval, polling only")
    parser.add_argument(
        "--token-cmd", default="", help="prints a token for the user id in {user} (default: local dev tokens)"
    )


def token_for(command: str, user_id: str) -> str:
    if not command:
        return mint_dev_token(user_id)
    argv = [part.replace("{user}", user_id) for part in shlex.split(command)]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout.strip()


@events.test_start.add_listener
def _room(environment: Any, **_: Any) -> None:
    """A room for the run: the one given, or a new one when this process runs the users alone."""
    options = environment.parsed_options
    if options.room_id or isinstance(environment.runner, MasterRunner):
        return
    if isinstance(environment.runner, WorkerRunner):
        raise SystemExit("rooms locust: distributed runs need --room-id (every worker joins the same room)")
    host = f"locust-host-{_RUN}"
    response = _session_post(
        environment.host.rstrip("/") + "/rooms",
        {"title": "Locust storm", "capacity": options.capacity},
        token_for(options.token_cmd, host),
    )
    options.room_id = response["room_id"]


def _session_post(url: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    import requests  # Locust's own HTTP stack; outside the stats on purpose: setup, not load

    answer = requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


@events.test_start.add_listener
def _quit_when_everyone_left(environment: Any, **_: Any) -> None:
    """With --stay, the run ends once the last listener has: a smoke run needs no --run-time."""
    runner = environment.runner
    if not environment.parsed_options.stay or isinstance(runner, MasterRunner):
        return
    spawned = gevent.event.Event()
    environment.events.spawning_complete.add_listener(lambda **_: spawned.set())

    def watch() -> None:
        spawned.wait()
        while runner.user_count > 0:
            gevent.sleep(0.5)
        runner.quit()

    gevent.spawn(watch)


class Listener(HttpUser):
    """One listener of the storm (see the module's docstring)."""

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.options = options
        self.user_id = f"locust-{_RUN}-{next(_numbers):06d}"
        self.token = token_for(options.token_cmd, self.user_id)
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.socket: websocket.WebSocket | None = None
        self.frames: list[dict[str, Any]] = []
        if options.transport == "socket":
            self._connect()
        self.room_id = self._join(options.room_id)
        now = time.monotonic()
        self.ends_at = now + options.stay if options.stay else float("inf")
        leaves = random.random() < options.leave_rate
        self.leaves_at = now + random.uniform(0.5, 1.5) * options.leave_after if leaves else float("inf")
        self.next_beat = now
        self.held = False

    def wait_time(self) -> float:
        return max(0.0, min(self.next_beat, self.leaves_at, self.ends_at) - time.monotonic())

    def on_stop(self) -> None:
        if self.socket is not None:
            self.socket.close()

    # ------------------------------------------------------------------ the flow
    def _connect(self) -> None:
        url = f"{self.options.ws_url}?token={quote(self.token)}"
        started = time.perf_counter()
        try:
            self.socket = websocket.create_connection(url, timeout=30)
        except Exception as error:  # every failure is the user's row, as Locust counts HTTP ones
            self._fire("WS", "connect", started, error)
            raise StopUser() from error
        self._fire("WS", "connect", started)

    def _join(self, room_id: str) -> str:
        path = f"/rooms/{room_id}/join"
        key = {"Idempotency-Key": uuid.uuid4().hex}  # a double tap is the same request, sent twice
        started = time.perf_counter()
        answer = self.client.post(path, json={}, headers={**self.headers, **key}, name="/rooms/[id]/join")
        if random.random() < self.options.duplicate_rate:
            self.client.post(path, json={}, headers={**self.headers, **key}, name="/rooms/[id]/join (duplicate)")
        if answer.status_code == 200:
            self._fire("SEAT", "200 seated", started)
            return str(answer.json()["seat"]["room_id"])
        if answer.status_code != 202:
            raise StopUser()
        queued = time.perf_counter()
        ticket = answer.json()["ticket"]
        transport = self.options.transport
        try:
            final = self._pushed(ticket["ticket_id"]) if self.socket else self._polled(ticket["ticket_id"])
        except Exception as error:
            self._fire("SEAT", f"202->seated {transport}", queued, error)
            raise StopUser() from error
        if final["status"] != "seated":
            self._fire("SEAT", f"202->seated {transport}", queued, RuntimeError(final.get("reason")))
            raise StopUser()
        self._fire("SEAT", f"202->seated {transport}", queued)
        return str(final["room_id"])

    def _pushed(self, ticket_id: str) -> dict[str, Any]:
        """The ticket once final, from its push or from the watch reply (a push sent before we watched)."""
        self._send({"action": "watch", "ticket_id": ticket_id})
        deadline = time.monotonic() + self.options.join_timeout
        while time.monotonic() < deadline:
            frame = self._next_frame(deadline)
            data = frame.get("data", {})
            kind = frame.get("type")
            if kind == "ticket.status" and data.get("ticket_id") == ticket_id and data.get("status") in _FINAL:
                return dict(data)
            if kind in ("ticket.seated", "ticket.failed") and data.get("ticket_id") == ticket_id:
                return {"status": kind.split(".")[1], **data}
        raise TimeoutError(f"ticket {ticket_id} not final after {self.options.join_timeout:g} s")

    def _polled(self, ticket_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.options.join_timeout
        while time.monotonic() < deadline:
            answer = self.client.get(f"/tickets/{ticket_id}", headers=self.headers, name="/tickets/[id]")
            if answer.status_code == 200 and answer.json()["status"] in _FINAL:
                return dict(answer.json())
            gevent.sleep(self.options.poll_seconds)
        raise TimeoutError(f"ticket {ticket_id} not final after {self.options.join_timeout:g} s")

    # ---------------------------------------------------------- while seated
    @task
    def keep_seat(self) -> None:
        now = time.monotonic()
        if now >= self.leaves_at:
            self.client.post(f"/rooms/{self.room_id}/leave", json={}, headers=self.headers, name="/rooms/[id]/leave")
            raise StopUser()
        if now >= self.ends_at:
            raise StopUser()
        if now < self.next_beat:
            return
        if self.socket is None:
            answer = self.client.post(
                f"/rooms/{self.room_id}/heartbeat", json={}, headers=self.headers, name="/rooms/[id]/heartbeat"
            )
            interval = answer.json().get("heartbeat_interval_seconds", 30) if answer.status_code == 200 else 30
            self.next_beat = now + 0.8 * interval
            return
        if not self.held:
            self._hold()
        else:
            self._send({"action": "ping"})
        self.next_beat = now + PING_SECONDS

    def _hold(self) -> None:
        started = time.perf_counter()
        self._send({"action": "hold", "room_id": self.room_id})
        deadline = time.monotonic() + 30
        try:
            while True:
                frame = self._next_frame(deadline)
                if frame.get("type") == "seat.held":
                    break
                if frame.get("type") == "error":
                    raise RuntimeError(json.dumps(frame.get("data")))
        except Exception as error:
            self._fire("WS", "hold", started, error)
            raise StopUser() from error
        self.held = True
        self._fire("WS", "hold", started)

    # ---------------------------------------------------------------- frames
    def _send(self, message: dict[str, Any]) -> None:
        assert self.socket is not None
        self.socket.send(json.dumps(message))

    def _next_frame(self, deadline: float) -> dict[str, Any]:
        assert self.socket is not None
        self.socket.settimeout(max(0.1, deadline - time.monotonic()))
        frame: dict[str, Any] = json.loads(self.socket.recv())
        return frame

    def _fire(self, kind: str, name: str, started: float, error: BaseException | None = None) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )
