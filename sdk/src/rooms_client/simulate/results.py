"""What a storm leaves behind: each user's outcome, the occupancy samples, the final rooms."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from rooms_client.simulate.config import StormConfig

# A user's outcome. "seated" and "failed" (a ticket the server failed, with its reason) and
# "error" (a typed API error) are outcomes the client can see; "timeout" and "pending" are not.
VISIBLE_OUTCOMES = ("seated", "failed", "error")


@dataclass
class UserResult:
    user_id: str
    arrival: float  # scheduled offset from the start, seconds
    outcome: str = "pending"
    room_id: str | None = None  # where the user was seated
    via_ticket: bool = False  # queued (202) before being seated
    detail: str | None = None  # the failure reason or error code
    join_latency: float | None = None  # request to 200/202, seconds
    seat_latency: float | None = None  # request to seated, seconds
    queue_latency: float | None = None  # the 202 to the client knowing it is seated, seconds
    # the server's part of it: the ticket's creation to its seating (or the push telling it), server clock
    server_queue_latency: float | None = None
    left: bool = False
    polled: bool = False  # socket storm: the socket could not be opened, so this user polled


@dataclass(frozen=True)
class Sample:
    at: float  # seconds from the start
    occupancy: dict[str, int]  # room id -> occupancy


@dataclass(frozen=True)
class RoomFinal:
    room_id: str
    index: int
    capacity: int
    occupancy: int
    status: str
    participants: list[str]  # user ids, from the paginated participants list


# The users' own requests, by kind (the rest is the host's: the room, the samples, the final reads).
USER_KINDS = ("join", "ticket", "heartbeat", "leave")


def request_kind(request: httpx.Request) -> str:
    path = request.url.path
    if "/tickets/" in path:  # an API Gateway stage may prefix the routes
        return "ticket"
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return last if last in USER_KINDS else "host"


@dataclass
class Traffic:
    """Every HTTP exchange of the run, retries, ticket polls, heartbeats and samples included."""

    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)  # HTTP status -> responses
    kinds: Counter[str] = field(default_factory=Counter)  # request_kind -> requests sent

    async def on_request(self, request: httpx.Request) -> None:
        self.sent += 1
        self.kinds[request_kind(request)] += 1

    async def on_response(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1


@dataclass
class SocketTraffic:
    """The users' live connections, added up: messages each way, pings, reconnections, failed opens."""

    connections: int = 0
    sent: int = 0
    received: int = 0
    pings: int = 0
    reconnects: int = 0
    failed_opens: int = 0


@dataclass
class StormResult:
    config: StormConfig
    api_url: str
    family_id: str
    started_at: datetime
    elapsed: float = 0.0  # from the first arrival to the last outcome
    storm_requests: int = 0  # sent within ``elapsed``: not the room's creation nor the final reads
    storm_kinds: Counter[str] = field(default_factory=Counter)  # the same, by request_kind
    socket: SocketTraffic = field(default_factory=SocketTraffic)
    users: list[UserResult] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    rooms: list[RoomFinal] = field(default_factory=list)
    traffic: Traffic = field(default_factory=Traffic)

    @property
    def requests(self) -> int:
        return self.traffic.sent

    @property
    def statuses(self) -> Counter[int]:
        return self.traffic.statuses

    @property
    def transport_errors(self) -> int:
        """Requests that got no answer: refused, reset or timed out."""
        return max(0, self.traffic.sent - sum(self.traffic.statuses.values()))

    @property
    def any_left(self) -> bool:
        return any(user.left for user in self.users)
