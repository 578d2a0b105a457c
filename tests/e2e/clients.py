"""Load generators run in child processes (spawned, so each is a separate client with its own GIL).

Top-level functions only: multiprocessing pickles them by name.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

RETRIES = 5


def join_over_http(
    api_url: str, room_id: str, tokens: list[tuple[str, str]], threads: int
) -> list[tuple[str, int, Any]]:
    """Each (user, token) joins `room_id` once; returns (user, status, body) per join."""
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(base_url=api_url, timeout=120, limits=limits) as client:

        def join(entry: tuple[str, str]) -> tuple[str, int, Any]:
            user, token = entry
            for _ in range(RETRIES):
                response = client.post(f"/rooms/{room_id}/join", headers={"Authorization": f"Bearer {token}"})
                if response.status_code not in (429, 503):
                    break
                # the API's contract: 429/503 mean "nothing was done, retry" (as the SDK does)
                time.sleep(float(response.headers.get("Retry-After", "1")))
            return user, response.status_code, response.json()

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(join, tokens))


def _use_stack(env: dict[str, str]) -> None:
    # before any `rooms` import: pynamodb models read the table name and endpoint at import
    os.environ.update(env)


def admit_in_store(env: dict[str, str], room_id: str, users: list[str], threads: int) -> list[tuple[str, str]]:
    """Admit users straight through the store layer; returns (user, outcome) with outcome seated|full."""
    _use_stack(env)
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.domain.errors import RoomFull
    from rooms.domain.model import family_of
    from rooms.service import utcnow

    store = DynamoRoomStore()
    family_id, _ = family_of(room_id)

    def admit(user: str) -> tuple[str, str]:
        try:
            store.admit(room_id, family_id, user, utcnow())
        except RoomFull:
            return user, "full"
        return user, "seated"

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(admit, users))


def churn_in_store(env: dict[str, str], room_id: str, users: list[str], rounds: int, threads: int) -> int:
    """Each user joins then leaves, `rounds` times; returns how many joins were admitted."""
    _use_stack(env)
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.domain.errors import RoomFull
    from rooms.domain.model import family_of
    from rooms.service import utcnow

    store = DynamoRoomStore()
    family_id, _ = family_of(room_id)

    def churn(user: str) -> int:
        admitted = 0
        for _ in range(rounds):
            try:
                seat = store.admit(room_id, family_id, user, utcnow())
            except RoomFull:
                time.sleep(0.001)
                continue
            admitted += 1
            assert store.release(seat)
        return admitted

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(churn, users))


def create_room_in_store(env: dict[str, str], host_id: str, capacity: int) -> str:
    """Create a main room through the service with this environment's settings (its write shards)."""
    _use_stack(env)
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.service import RoomService

    service = RoomService(DynamoRoomStore(), DynamoTicketStore(), SqsOverflowPublisher())
    return service.create_room(host_id, "churn", capacity, {}).room_id


def release_in_store(env: dict[str, str], room_id: str, users: list[str], threads: int) -> int:
    """Free the seats these users hold in the room's family; returns how many were freed."""
    _use_stack(env)
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.domain.model import family_of

    store = DynamoRoomStore()
    family_id, _ = family_of(room_id)

    def release(user: str) -> bool:
        seat = store.get_seat(family_id, user)
        return seat is not None and store.release(seat)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(release, users))


def overflow_worker_in_store(env: dict[str, str], family_id: str, users: list[str], batch: int) -> int:
    """One overflow worker: queue tickets for `users`, then seat them batch by batch as the worker does."""
    _use_stack(env)
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.config import settings
    from rooms.domain.model import Ticket, TicketStatus, ticket_id_for
    from rooms.overflow_service import OverflowService
    from rooms.ports import OverflowRequest
    from rooms.service import utcnow

    tickets = DynamoTicketStore()
    service = OverflowService(DynamoRoomStore(), tickets, settings().max_parallel_rooms)
    requests = []
    for user in users:
        now = utcnow()
        ticket_id = ticket_id_for(family_id, user)
        tickets.put_ticket(Ticket(ticket_id, family_id, user, TicketStatus.QUEUED, family_id, now, now))
        requests.append(OverflowRequest(ticket_id, family_id, user))
    seated = 0
    for start in range(0, len(requests), batch):
        seated += len(service.seat_family(family_id, requests[start : start + batch]).seated)
    return seated
