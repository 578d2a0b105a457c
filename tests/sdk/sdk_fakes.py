"""Test doubles for the SDK tests: canned JSON bodies, a fake clock, and an in-memory Rooms API.

The in-memory API (``FakeRoomsApi``) answers through ``httpx.MockTransport``: it keeps the cap,
queues overflow users on tickets and seats them, lowest parallel room first, when a ticket is read.
It is a test double for the client and the simulation, not a model of the real backend's concurrency.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

NOW = "2025-01-01T12:00:00+00:00"
LATER = "2025-01-01T12:01:00+00:00"


def room_json(room_id: str = "r_1", index: int = 0, capacity: int = 2, occupancy: int = 0, **extra: Any) -> dict:
    family = room_id.split("-p", maxsplit=1)[0]
    body = {
        "room_id": room_id,
        "family_id": family,
        "index": index,
        "host_id": "host",
        "title": "Show",
        "capacity": capacity,
        "occupancy": occupancy,
        "status": "open",
        "created_at": NOW,
        "metadata": {},
        "parallel_count": 0,
        "event_id": None,
    }
    return body | extra


def seat_json(user_id: str = "u1", room_id: str = "r_1", index: int = 0) -> dict:
    return {
        "room_id": room_id,
        "family_id": room_id.split("-p", maxsplit=1)[0],
        "index": index,
        "user_id": user_id,
        "joined_at": NOW,
        "expires_at": LATER,
        "heartbeat_interval_seconds": 30,
    }


def ticket_json(status: str = "queued", ticket_id: str = "t_1", **extra: Any) -> dict:
    body = {
        "ticket_id": ticket_id,
        "status": status,
        "family_id": "r_1",
        "requested_room_id": "r_1",
        "room_id": None,
        "room_index": None,
        "reason": None,
        "retry_after_seconds": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return body | extra


def error_body(code: str, message: str = "nope", field: str | None = None) -> dict:
    detail = {"code": code, "message": message}
    if field:
        detail["field"] = field
    return {"error": detail}


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def subject_of(request: httpx.Request) -> str | None:
    """The token's sub, unverified: the fake trusts its callers."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    payload = header.removeprefix("Bearer ").split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims.get("sub")


@dataclass
class FakeRoom:
    room_id: str
    family_id: str
    index: int
    capacity: int
    host_id: str
    seats: list[str] = field(default_factory=list)
    status: str = "open"
    parallel_count: int = 0

    def json(self) -> dict:
        return room_json(
            self.room_id,
            self.index,
            self.capacity,
            len(self.seats),
            family_id=self.family_id,
            host_id=self.host_id,
            status=self.status,
            parallel_count=self.parallel_count,
        )


@dataclass
class FakeRoomsApi:
    """An in-memory Rooms API. ``over_admit`` breaks the cap on purpose, to see I1 fail."""

    over_admit: int = 0
    rooms: dict[str, FakeRoom] = field(default_factory=dict)
    tickets: dict[str, dict] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        user = subject_of(request)
        if user is None:
            return httpx.Response(401, json={"message": "Unauthorized"})
        parts = request.url.path.strip("/").split("/")
        route: Callable[..., httpx.Response] | None = getattr(self, f"_{request.method}_{len(parts)}", None)
        if route is None:
            return httpx.Response(404, json=error_body("NOT_FOUND"))
        return route(request, user, *parts)

    # POST /rooms
    def _POST_1(self, request: httpx.Request, user: str, _: str) -> httpx.Response:
        body = json.loads(request.content)
        room_id = f"r_{len(self.rooms) + 1:04d}"
        self.rooms[room_id] = FakeRoom(room_id, room_id, 0, body["capacity"], user)
        return httpx.Response(201, json=self.rooms[room_id].json())

    def _GET_2(self, request: httpx.Request, user: str, kind: str, ident: str) -> httpx.Response:
        if kind == "tickets":
            self._seat_queued()
            ticket = self.tickets.get(ident)
            if ticket is None or ticket["user"] != user:
                return httpx.Response(404, json=error_body("TICKET_NOT_FOUND"))
            return httpx.Response(200, json={k: v for k, v in ticket.items() if k != "user"})
        room = self.rooms.get(ident)
        return httpx.Response(200, json=room.json()) if room else httpx.Response(404, json=error_body("ROOM_NOT_FOUND"))

    def _POST_3(self, request: httpx.Request, user: str, _: str, room_id: str, action: str) -> httpx.Response:
        room = self.rooms.get(room_id)
        if room is None:
            return httpx.Response(404, json=error_body("ROOM_NOT_FOUND"))
        family = [r for r in self.rooms.values() if r.family_id == room.family_id]
        holding = next((r for r in family if user in r.seats), None)
        if action == "join":
            if holding is None and len(room.seats) < room.capacity + self.over_admit:
                room.seats.append(user)
                holding = room
            if holding is not None:
                seat = seat_json(user, holding.room_id, holding.index)
                return httpx.Response(200, json={"status": "seated", "seat": seat})
            ticket_id = f"t_{room.family_id}_{user}"
            if ticket_id not in self.tickets or self.tickets[ticket_id]["status"] == "failed":
                self.tickets[ticket_id] = ticket_json("queued", ticket_id, family_id=room.family_id, user=user)
                self.tickets[ticket_id]["retry_after_seconds"] = 0
                self.queue.append(ticket_id)
            ticket = {k: v for k, v in self.tickets[ticket_id].items() if k != "user"}
            headers = {"Retry-After": "0", "Location": f"/tickets/{ticket_id}"}
            return httpx.Response(202, json={"status": "queued", "ticket": ticket}, headers=headers)
        if action == "leave":
            if holding is None:
                return httpx.Response(200, json={"left": False, "room_id": None, "ticket_cancelled": False})
            holding.seats.remove(user)
            return httpx.Response(200, json={"left": True, "room_id": holding.room_id, "ticket_cancelled": False})
        if action == "heartbeat":
            if holding is None:
                return httpx.Response(409, json=error_body("NOT_SEATED"))
            return httpx.Response(200, json=seat_json(user, holding.room_id, holding.index))
        if action == "close":
            room.status = "closed"
            return httpx.Response(200, json=room.json())
        return httpx.Response(404, json=error_body("NOT_FOUND"))

    def _GET_3(self, request: httpx.Request, user: str, _: str, room_id: str, what: str) -> httpx.Response:
        room = self.rooms.get(room_id)
        if room is None:
            return httpx.Response(404, json=error_body("ROOM_NOT_FOUND"))
        if what == "family":
            family = sorted((r for r in self.rooms.values() if r.family_id == room.family_id), key=lambda r: r.index)
            return httpx.Response(
                200,
                json={
                    "family_id": room.family_id,
                    "main_room_id": room.family_id,
                    "rooms": [r.json() for r in family],
                    "total_occupancy": sum(len(r.seats) for r in family),
                    "total_capacity": sum(r.capacity for r in family),
                },
            )
        limit = int(request.url.params.get("limit", "50"))
        start = int(request.url.params.get("cursor", "0"))
        page = room.seats[start : start + limit]
        more = start + limit < len(room.seats)
        return httpx.Response(
            200,
            json={
                "room_id": room_id,
                "participants": [seat_json(u, room.room_id, room.index) for u in page],
                "next_cursor": str(start + limit) if more else None,
            },
        )

    def _seat_queued(self) -> None:
        """The overflow worker: seat queued tickets in arrival order, lowest open parallel room first."""
        while self.queue:
            ticket = self.tickets[self.queue.pop(0)]
            main = self.rooms[ticket["family_id"]]
            free = [r for r in self._parallel(main) if r.status == "open" and len(r.seats) < r.capacity]
            target = free[0] if free else None
            if target is None:
                main.parallel_count += 1
                target_id = f"{main.room_id}-p{main.parallel_count}"
                target = FakeRoom(target_id, main.room_id, main.parallel_count, main.capacity, main.host_id)
                self.rooms[target_id] = target
            target.seats.append(ticket["user"])
            ticket.update(status="seated", room_id=target.room_id, room_index=target.index, updated_at=LATER)

    def _parallel(self, main: FakeRoom) -> list[FakeRoom]:
        rooms = [r for r in self.rooms.values() if r.family_id == main.room_id and r.index > 0]
        return sorted(rooms, key=lambda r: r.index)

    def parallel_rooms_needed(self, users: int, capacity: int) -> int:
        return math.ceil(max(0, users - capacity) / capacity)
