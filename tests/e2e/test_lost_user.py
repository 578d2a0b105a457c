"""A lost user (issue 8, item 1) on the local stack: the overflow worker dies on every delivery of one
user's request (killed mid-batch, or dying during init), SQS dead-letters the request, and the user still
ends seated, through housekeeping and a rejoin. The worker is the real one, in an instance that dies
(tests/e2e/fragile_worker); the request is a valid one, not a poison body.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from rooms_local.lambda_pool import LambdaError, LambdaPool
from rooms_local.stack import LocalStack
from rooms_local.template import Template
from rooms_local.tokens import mint_token
from tests.e2e.state import read_family

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack")]

# A short delivery budget: SQS tries a request twice, 10 s apart, then dead-letters it (20 s in all).
VISIBILITY_TIMEOUT = 10
MAX_RECEIVES = 2
DEADLINE_S = 300  # a safety net for a hung stack, never a bound on the test
FRAGILE_WORKER = Path(__file__).parent / "fragile_worker"


class StackWithAFragileWorker(LocalStack):
    """The local stack, its overflow worker running in instances the test can kill (see fragile_worker)."""

    def __init__(self, switches: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.doomed = switches / "doomed"
        self.init_death = switches / "die-at-init"

    def _start_functions(self, template: Template) -> None:
        spec = template.functions["OverflowWorkerFunction"]
        assert spec.code_dir is not None
        environment = {
            **spec.environment,
            "FRAGILE_WORKER_REAL_HANDLER": str(spec.code_dir / "app.py"),
            "FRAGILE_WORKER_DOOMED": str(self.doomed),
            "FRAGILE_WORKER_DIE_AT_INIT": str(self.init_death),
        }
        template.functions["OverflowWorkerFunction"] = replace(spec, code_dir=FRAGILE_WORKER, environment=environment)
        super()._start_functions(template)

    def kill_the_worker_for(self, *users: str) -> None:
        self.doomed.write_text("\n".join(users))

    def die_at_init_from_now(self) -> None:
        """Every worker instance dies while it starts: the warm ones are killed (as a redeploy recycles
        them), and this returns once a fresh one has died during its init."""
        self.init_death.touch()
        pool = self.pools["OverflowWorkerFunction"]
        for pid in pool.pids:
            os.kill(pid, signal.SIGKILL)
        wait_for("a worker instance dies during init", lambda: _dies_during_init(pool))

    def heal(self) -> None:
        self.doomed.unlink(missing_ok=True)
        self.init_death.unlink(missing_ok=True)


def _dies_during_init(pool: LambdaPool) -> bool:
    try:
        pool.invoke({"Records": []})
    except LambdaError as error:
        return "during init" in error.error_message
    return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackWithAFragileWorker]:
    parameters = {
        "OverflowVisibilityTimeoutSeconds": VISIBILITY_TIMEOUT,
        "OverflowMaxReceiveCount": MAX_RECEIVES,
        "HeartbeatIntervalSeconds": 3600,  # these listeners never heartbeat
    }
    # housekeeping runs when a test says so (schedules=False), so each step is seen on its own
    local = StackWithAFragileWorker(
        tmp_path_factory.mktemp("fragile-worker"),
        stack_name="lost-user",
        max_instances=2,
        parameters=parameters,
        schedules=False,
    )
    with local:
        yield local


@pytest.fixture
def fragile(stack: StackWithAFragileWorker) -> Iterator[StackWithAFragileWorker]:
    stack.heal()
    yield stack
    stack.heal()


@pytest.fixture
def http(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        yield client


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user, ttl_seconds=3600)}"}


def full_room(http: httpx.Client, host: str) -> str:
    created = http.post("/rooms", json={"title": "Lost users", "capacity": 1}, headers=auth(host))
    assert created.status_code == 201, created.text
    room_id = str(created.json()["room_id"])
    assert http.post(f"/rooms/{room_id}/join", headers=auth(f"{host}-listener")).status_code == 200
    return room_id


def join(http: httpx.Client, room_id: str, user: str) -> httpx.Response:
    response = http.post(f"/rooms/{room_id}/join", headers=auth(user))
    assert response.status_code in (200, 202), response.text
    return response


def ticket(http: httpx.Client, ticket_id: str, user: str) -> dict[str, Any]:
    response = http.get(f"/tickets/{ticket_id}", headers=auth(user))
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    """Poll `check` until it answers something truthy; the deadline is only a safety net."""
    deadline = time.monotonic() + DEADLINE_S
    while not (answer := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.5)  # polling pace, not synchronisation: the loop waits on the state itself
    return answer


def seated_ticket(http: httpx.Client, ticket_id: str, user: str) -> dict[str, Any] | None:
    answer = ticket(http, ticket_id, user)
    return answer if answer["status"] == "seated" else None


def dead_lettered_users(stack: LocalStack) -> set[str]:
    """Whose requests sit in the overflow DLQ, read without taking them (visibility 0)."""
    sqs = stack.client("sqs")
    url = stack.template.queues["OverflowDeadLetterQueue"].url
    users: set[str] = set()
    for _ in range(5):  # a few receives: SQS samples its servers, a single one may miss a message
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        users |= {json.loads(m["Body"])["user_id"] for m in messages.get("Messages", [])}
    return users


def housekeeping(stack: LocalStack) -> dict[str, Any]:
    result: dict[str, Any] = stack.invoke("SchedulerFunction", {"action": "housekeeping"})
    return result


def assert_seated_in_a_parallel_room(stack: LocalStack, family_id: str, user: str) -> None:
    state = read_family(stack.client("dynamodb"), stack.template.tables["RoomsTable"].name, family_id)
    state.assert_invariants()
    rooms = {str(seat["user_id"]): str(seat["room_id"]) for seat in state.seats}
    assert rooms.get(user, "").startswith(f"{family_id}-p"), rooms


def test_a_user_whose_request_kills_the_worker_every_time_is_failed_then_seated_by_a_rejoin(
    fragile: StackWithAFragileWorker, http: httpx.Client
) -> None:
    # GIVEN a full room and a queued user whose request kills the worker on every delivery
    room_id = full_room(http, "host-lost-1")
    fragile.kill_the_worker_for("lost-1")
    queued = join(http, room_id, "lost-1")
    assert queued.status_code == 202
    ticket_id = queued.json()["ticket"]["ticket_id"]
    # WHEN SQS gives up on it
    wait_for("the request is dead-lettered", lambda: "lost-1" in dead_lettered_users(fragile))
    # THEN no delivery lived to settle it: the ticket still says queued (the bug, before housekeeping)
    assert ticket(http, ticket_id, "lost-1")["status"] == "queued"
    # WHEN housekeeping runs THEN the ticket fails with a reason, and the message stays for operators
    report = housekeeping(fragile)
    assert report["tickets_failed"] >= 1, report
    failed = ticket(http, ticket_id, "lost-1")
    assert (failed["status"], failed["reason"]) == ("failed", "overflow_failed")
    assert "lost-1" in dead_lettered_users(fragile)
    # WHEN the worker is healthy again and the user joins again THEN they are queued afresh and seated
    fragile.heal()
    rejoined = join(http, room_id, "lost-1")
    assert rejoined.status_code == 202 and rejoined.json()["ticket"]["ticket_id"] == ticket_id
    seated = wait_for("seated", lambda: seated_ticket(http, ticket_id, "lost-1"))
    assert seated["room_index"] >= 1
    assert_seated_in_a_parallel_room(fragile, room_id, "lost-1")


def test_a_user_whose_request_meets_a_worker_dying_at_init_is_republished_by_a_rejoin(
    fragile: StackWithAFragileWorker, http: httpx.Client
) -> None:
    # GIVEN a queued user, and a worker whose every instance dies while it starts
    room_id = full_room(http, "host-lost-2")
    fragile.die_at_init_from_now()
    queued = join(http, room_id, "lost-2").json()["ticket"]
    wait_for("the request is dead-lettered", lambda: "lost-2" in dead_lettered_users(fragile))
    fragile.heal()
    assert ticket(http, queued["ticket_id"], "lost-2")["status"] == "queued"
    # WHEN the user joins again once the delivery budget is over THEN the request is published again
    # (within the budget a rejoin answers the same ticket and sends nothing; past it, a fresh queueing time)
    wait_for(
        "a rejoin publishes the request again",
        lambda: join(http, room_id, "lost-2").json()["ticket"]["updated_at"] != queued["updated_at"],
    )
    # THEN the worker seats them, with no housekeeping run at all
    wait_for("seated", lambda: seated_ticket(http, queued["ticket_id"], "lost-2"))
    assert_seated_in_a_parallel_room(fragile, room_id, "lost-2")


def queue_without_a_message(env: dict[str, str], family_id: str, user: str) -> str:
    """What an API instance that dies between writing the ticket and publishing leaves: a ticket, no message.

    Runs in a child process: pynamodb models read the table name and endpoint at import.
    """
    import os

    os.environ.update(env)
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.domain.model import Ticket, TicketStatus, ticket_id_for
    from rooms.service import utcnow

    now = utcnow()
    ticket_id = ticket_id_for(family_id, user)
    DynamoTicketStore().put_ticket(Ticket(ticket_id, family_id, user, TicketStatus.QUEUED, family_id, now, now))
    return ticket_id


def test_housekeeping_republishes_a_ticket_whose_message_was_never_sent(
    fragile: StackWithAFragileWorker, http: httpx.Client
) -> None:
    # GIVEN a full room with no parallel room yet, and a queued ticket whose message was never sent
    room_id = full_room(http, "host-lost-3")
    env = {key: value for key, value in fragile.function_env("ApiFunction").items() if not key.startswith("_")}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
        ticket_id = child.submit(queue_without_a_message, env, room_id, "lost-3").result()
    assert ticket(http, ticket_id, "lost-3")["status"] == "queued"
    # WHEN housekeeping runs, minute after minute, THEN once the budget is over it publishes the request again
    wait_for("housekeeping republishes it", lambda: housekeeping(fragile)["tickets_republished"] >= 1)
    # AND the worker seats the user
    wait_for("seated", lambda: seated_ticket(http, ticket_id, "lost-3"))
    assert_seated_in_a_parallel_room(fragile, room_id, "lost-3")
