"""Run a celebrity join storm against a Rooms API and collect what happened.

A host creates the room; N distinct users arrive on the chosen curve and join (at most
``concurrency`` joins in flight), following overflow tickets to their seats; some leave again;
the others keep their seats alive with heartbeats until the final state has been read. A sampler
reads the family's occupancy meanwhile, for the chart.

With ``transport="socket"`` each user opens its live connection before it joins, is told of its seat
by a push (a slow poll catches a lost one), and holds the seat over the socket instead of heartbeating.
Requests in flight never exceed the HTTP pool (``CappedTransport``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from rooms_client.async_client import AsyncRoomsClient
from rooms_client.auth import TokenSource
from rooms_client.errors import (
    JoinTimeoutError,
    NotSeatedError,
    RoomsApiError,
    RoomsConnectionError,
    RoomsError,
    TicketFailedError,
)
from rooms_client.live.errors import LiveConnectionError
from rooms_client.live.state import LiveOptions
from rooms_client.models import Room, Seat
from rooms_client.simulate.arrivals import arrival_offsets
from rooms_client.simulate.capped import CappedTransport
from rooms_client.simulate.collector import no_full_collections
from rooms_client.simulate.config import StormConfig
from rooms_client.simulate.progress import Progress
from rooms_client.simulate.results import RoomFinal, Sample, StormResult, Traffic, UserResult

TokenFor = Callable[[str], TokenSource]


def user_ids(prefix: str, users: int) -> list[str]:
    return [f"{prefix}-{index:05d}" for index in range(users)]


class Storm:
    def __init__(
        self,
        config: StormConfig,
        host: AsyncRoomsClient,
        tokens: dict[str, TokenSource],
        result: StormResult,
        *,
        progress: Progress,
        rng: random.Random,
        users: AsyncRoomsClient | None = None,
    ) -> None:
        self.config = config
        self.host = host
        self.users = users or host  # what each user's client is cloned from (with the WebSocket URL, or not)
        self.clients: list[AsyncRoomsClient] = []
        self.tokens = tokens
        self.result = result
        self.progress = progress
        self.rng = rng
        self.room_id = result.family_id
        self.joins = asyncio.Semaphore(config.concurrency)
        self.finished = asyncio.Event()
        self.heartbeats: set[asyncio.Task[None]] = set()
        self.started = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.started

    async def run(self) -> None:
        self.started = self.progress.started = time.monotonic()
        sent_before = self.result.traffic.sent
        ids = list(self.tokens)
        offsets = arrival_offsets(self.config.arrival, len(ids), self.config.duration, self.rng)
        self.result.users = [UserResult(user_id, offset) for user_id, offset in zip(ids, offsets, strict=True)]
        sampler = asyncio.create_task(self._sample())
        ticker = asyncio.create_task(self._tick())
        try:
            await asyncio.gather(*(self._user(user) for user in self.result.users))
            self.result.elapsed = self.now()
            self.result.storm_requests = self.result.traffic.sent - sent_before
            self.result.storm_kinds = self.result.traffic.kinds.copy()
        finally:
            self.finished.set()
            await sampler
            ticker.cancel()
            self.progress.draw(final=True)
        try:
            self.result.rooms = await self._final_rooms()
        finally:
            for task in self.heartbeats:
                task.cancel()
            await asyncio.gather(*self.heartbeats, return_exceptions=True)
            await self._close_sockets()

    async def _close_sockets(self) -> None:
        """Add up the users' socket traffic, then close their live connections."""
        traffic = self.result.socket
        for client in self.clients:
            if client.live is not None:
                stats = client.live.stats
                traffic.connections += 1
                traffic.sent += stats.sent
                traffic.received += stats.received
                traffic.pings += stats.pings
                traffic.reconnects += stats.reconnects
        await asyncio.gather(*(client.aclose() for client in self.clients), return_exceptions=True)

    async def _user(self, user: UserResult) -> None:
        await asyncio.sleep(max(0.0, user.arrival - self.now()))
        client = self.users.with_token(self.tokens[user.user_id])
        self.clients.append(client)
        seat = await self._join(client, user)
        if seat is None:
            return
        if self.rng.random() < self.config.leave_rate:
            # stay a while, then leave: the churn that frees seats mid-storm
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.config.leave_after)
            with contextlib.suppress(RoomsError):
                user.left = (await client.leave(seat.room_id)).left
            return
        task = asyncio.create_task(self._keep_alive(client, seat))
        self.heartbeats.add(task)

    async def _join(self, client: AsyncRoomsClient, user: UserResult) -> Seat | None:
        try:
            async with self.joins:
                await self._open_socket(client, user)  # before the POST: no push can be missed
                started = time.monotonic()  # after the slot: measure the API, not our own queue
                outcome = await client.request_join(self.room_id)
                user.join_latency = time.monotonic() - started
            queued_at = time.monotonic()
            if outcome.seat is not None:
                seat = outcome.seat
            elif outcome.ticket is None:
                raise RoomsApiError("a 202 join answer without a ticket", status=202, code="BAD_RESPONSE")
            else:
                user.via_ticket = True
                self.progress.queued += 1
                try:
                    # over the socket when it is open (a push, a slow poll meanwhile), else polled
                    ticket = await client.follow_ticket(outcome.ticket, timeout=self.config.join_timeout)
                finally:
                    self.progress.queued -= 1
                if ticket.status == "seated":
                    user.queue_latency = time.monotonic() - queued_at
                    user.server_queue_latency = (ticket.updated_at - ticket.created_at).total_seconds()
                seat = await client.seat_of(ticket)
        except TicketFailedError as error:
            user.outcome, user.detail = "failed", error.reason or "unknown"
        except JoinTimeoutError:
            user.outcome, user.detail = "timeout", f"still queued after {self.config.join_timeout:g} s"
        except RoomsApiError as error:
            user.outcome, user.detail = "error", error.code
        except RoomsConnectionError as error:
            user.outcome, user.detail = "error", f"CONNECTION {error}"
        else:
            user.outcome, user.room_id = "seated", seat.room_id
            user.seat_latency = time.monotonic() - started
            self.progress.seated += 1
            if client.live is not None and client.live.connected:
                await client.live.request_hold(seat.room_id)  # from seat.held on, no heartbeats
            return seat
        self.progress.failed += 1
        return None

    async def _open_socket(self, client: AsyncRoomsClient, user: UserResult) -> None:
        if client.ws_url is None:
            return
        try:
            await client.connect_live()
        except LiveConnectionError:
            user.polled = True  # the join goes on over HTTP, as a client without a socket does
            self.result.socket.failed_opens += 1

    async def _keep_alive(self, client: AsyncRoomsClient, seat: Seat) -> None:
        # a long storm outlives the seat lease (two heartbeat intervals): keep paying it, until the seat
        # is gone (freed as a ghost when an overloaded client beat too late): no heartbeat brings it back.
        # While the socket holds the seat it costs nothing; after a drop it is paid over HTTP again.
        while True:
            await asyncio.sleep(max(1.0, seat.heartbeat_interval_seconds * 0.8))
            if not client.heartbeat_needed(seat.room_id):
                continue
            try:
                await client.heartbeat(seat.room_id)
            except NotSeatedError:
                return
            except RoomsError:
                continue

    async def _sample(self) -> None:
        while True:
            done = self.finished.is_set()
            with contextlib.suppress(RoomsError):
                family = await self.host.get_family(self.room_id)
                self.result.samples.append(Sample(self.now(), {r.room_id: r.occupancy for r in family.rooms}))
            if done:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.finished.wait(), self.config.sample_interval)

    async def _tick(self) -> None:
        while True:
            self.progress.requests = self.result.requests
            self.progress.draw()
            await asyncio.sleep(0.25)

    async def _final_rooms(self) -> list[RoomFinal]:
        family = await self.host.get_family(self.room_id)
        rooms = sorted(family.rooms, key=lambda room: room.index)
        participants = await asyncio.gather(*(self.host.all_participants(room.room_id) for room in rooms))
        return [_final(room, [seat.user_id for seat in seats]) for room, seats in zip(rooms, participants, strict=True)]


def _final(room: Room, participants: list[str]) -> RoomFinal:
    return RoomFinal(room.room_id, room.index, room.capacity, room.occupancy, room.status, participants)


async def run_storm(
    config: StormConfig,
    api_url: str,
    host_token: TokenSource,
    token_for: TokenFor,
    *,
    progress: Progress | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    user_prefix: str | None = None,
    ws_url: str | None = None,
    live: LiveOptions | None = None,
) -> StormResult:
    """Create a room as the host, replay the storm into it, and return the final state and timings.

    A ``socket`` storm needs ``ws_url``; ``live`` tunes the users' live connections.
    """
    if config.transport == "socket" and not ws_url:
        raise ValueError("a socket storm needs the WebSocket URL")
    rng = random.Random(config.seed)
    prefix = user_prefix or f"storm-{secrets.token_hex(3)}"
    # every pooled connection is kept alive, and no request waits in httpcore's pool: the cap queues them
    pool = config.concurrency * 2 + 16
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    capped = CappedTransport(transport or httpx.AsyncHTTPTransport(limits=limits), pool)
    # pool=None: a poll waiting for a free connection is client-side queueing, not a failure
    timeout = httpx.Timeout(30.0, pool=None)
    # every token source up front: a slow token command must not stall the storm or skew its clock
    tokens = {user_id: token_for(user_id) for user_id in user_ids(prefix, config.users)}
    traffic = Traffic()
    hooks: dict[str, list[Callable[..., Any]]] = {
        "request": [traffic.on_request],
        "response": [traffic.on_response],
    }
    async with httpx.AsyncClient(limits=limits, timeout=timeout, transport=capped, event_hooks=hooks) as http:
        host = AsyncRoomsClient(api_url, host_token, http=http, ws_url="")
        users_ws = ws_url if config.transport == "socket" else ""
        users = AsyncRoomsClient(api_url, None, http=http, ws_url=users_ws, live=live)
        room = await host.create_room(config.title, config.capacity, {"simulation": prefix})
        result = StormResult(config, host.base_url, room.room_id, datetime.now(UTC), traffic=traffic)
        progress = progress or Progress(config.users, enabled=False)
        storm = Storm(config, host, tokens, result, progress=progress, rng=rng, users=users)
        with no_full_collections():
            await storm.run()
        if config.close_at_end:
            with contextlib.suppress(RoomsError):
                await host.close_room(room.room_id)
    return result
