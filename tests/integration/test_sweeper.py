"""The sweeper function through moto: it frees the expired seats of the shards a sweep job names, and a
job delivered again (SQS is at-least-once, a retried minute run hands a bucket out twice) frees nothing
twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from rooms.domain.expiry import SweepJob
from rooms.sweeper import ExpirySweeper
from tests.conftest import LambdaContext, load_event, load_function
from tests.integration.test_overflow_worker import sqs_event

CallApi = Callable[..., tuple[int, Any]]
BATCH_SIZE = 1  # the template's SweeperFunction event


class CountingSweeper(ExpirySweeper):
    freed = 0

    def sweep(self, job: SweepJob) -> int:
        freed = super().sweep(job)
        self.freed += freed
        return freed


def sweeper_on(clock: Callable[[], datetime], monkeypatch: pytest.MonkeyPatch) -> CountingSweeper:
    """The sweeper function's own sweeper, but on `clock` (tests move time on) and counting what it frees."""
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.adapters.ticket_store import DynamoTicketStore

    sweeper = CountingSweeper(DynamoHousekeepingStore(), DynamoTicketStore(), clock)
    monkeypatch.setattr(load_function("sweeper"), "sweeper", sweeper)
    return sweeper


def run_sweeper(event: dict[str, Any]) -> list[str]:
    function = load_function("sweeper")
    response = function.lambda_handler(event, LambdaContext(function_name="sweeper"))
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def drain_sweeps(queue_url: str) -> None:
    """Deliver every sweep job on the sweep queue to the sweeper function, in the template's batches."""
    while (event := sqs_event(queue_url, BATCH_SIZE, sample_event="sweeper/sweep_batch"))["Records"]:
        assert run_sweeper(event) == []


def job_event(job: SweepJob, receive_count: int = 1) -> dict[str, Any]:
    """A batch of one message carrying `job`, as SQS delivers it (again, with a higher receive count)."""
    record = load_event("sweeper/sweep_batch")["Records"][0]
    record["body"] = json.dumps({"bucket": job.bucket, "shards": list(job.shards)})
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return {"Records": [record]}


def plant_ghosts(call_api: CallApi, users: list[str], joined: datetime, capacity: int = 200) -> tuple[str, Any]:
    """A room whose `users` joined at `joined` and never heartbeated; their seats, as stored."""
    from rooms.adapters.room_store import DynamoRoomStore

    _, room = call_api("create_room", body={"title": "Ghosts", "capacity": capacity})
    store = DynamoRoomStore()
    seats = [store.admit(room["room_id"], room["family_id"], user, joined) for user in users]
    return room["room_id"], seats


def occupancy(call_api: CallApi, room_id: str) -> int:
    return int(call_api("get_room", path={"room_id": room_id})[1]["occupancy"])


def job_of(seat: Any, interval: int) -> SweepJob:
    """A job of the one shard `seat` is indexed in."""
    from rooms.adapters.models import seat_key
    from rooms.domain.expiry import expiry_bucket, expiry_shard

    return SweepJob(expiry_bucket(seat.expires_at, interval), (expiry_shard(seat_key(seat.family_id, seat.user_id)),))


def test_the_sample_event_is_handled(aws: dict[str, str]) -> None:
    # the sample names shards of a bucket long gone: nothing to free, the record is consumed
    assert run_sweeper(load_event("sweeper/sweep_batch")) == []


def test_the_sweeper_frees_the_expired_seats_of_its_shard_and_only_those(
    call_api: CallApi, aws: dict[str, str]
) -> None:
    from rooms.config import settings
    from rooms.service import utcnow

    interval = settings().heartbeat_interval_seconds
    # GIVEN 40 silent seats in one room whose leases ended, and one that is still within its lease
    long_ago = utcnow() - timedelta(seconds=3 * settings().seat_lease_seconds)
    room_id, ghosts = plant_ghosts(call_api, [f"ghost-{n}" for n in range(40)], long_ago)
    fresh = plant_ghosts(call_api, ["alive"], utcnow())[1][0]
    # WHEN a job for each shard that holds a ghost is delivered to the sweeper function
    jobs = {job_of(seat, interval) for seat in ghosts}
    assert len(jobs) > 1  # spread over the index's shards
    for job in jobs:
        assert run_sweeper(job_event(job)) == []
    # THEN every ghost is freed with its room's count, the live seat stays
    assert occupancy(call_api, room_id) == 0
    status, page = call_api("list_participants", path={"room_id": room_id}, query={"limit": "200"})
    assert status == 200 and page["participants"] == []
    assert run_sweeper(job_event(job_of(fresh, interval))) == []
    assert occupancy(call_api, fresh.room_id) == 1


def test_a_room_s_expired_seats_are_freed_99_a_transaction(call_api: CallApi, aws: dict[str, str]) -> None:
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.config import settings
    from rooms.service import utcnow

    long_ago = utcnow() - timedelta(seconds=3 * settings().seat_lease_seconds)
    room_id, ghosts = plant_ghosts(call_api, [f"ghost-{n}" for n in range(120)], long_ago)
    freed = DynamoHousekeepingStore().release_expired(ghosts, utcnow())
    assert sorted(seat.user_id for seat in freed) == sorted(seat.user_id for seat in ghosts)
    assert occupancy(call_api, room_id) == 0


def test_a_shard_delivered_again_frees_nothing_twice(call_api: CallApi, aws: dict[str, str]) -> None:
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.config import settings
    from rooms.service import utcnow

    interval = settings().heartbeat_interval_seconds
    # GIVEN a ghost in a room with another listener, and its shard's job swept once
    long_ago = utcnow() - timedelta(seconds=3 * settings().seat_lease_seconds)
    room_id, (ghost,) = plant_ghosts(call_api, ["ghost"], long_ago)
    call_api("join_room", path={"room_id": room_id}, sub="listener")
    job = job_of(ghost, interval)
    assert run_sweeper(job_event(job)) == []
    assert occupancy(call_api, room_id) == 1
    # WHEN the ghost's user comes back, then the same job is delivered again
    call_api("join_room", path={"room_id": room_id}, sub="ghost")
    assert run_sweeper(job_event(job, receive_count=2)) == []
    # THEN nothing was freed twice: the room counts both listeners, the new seat is kept
    assert occupancy(call_api, room_id) == 2
    # AND the release itself frees a seat once, however often it is asked with the seat as first read
    store = DynamoHousekeepingStore()
    assert store.release_expired([ghost], utcnow()) == []
    assert occupancy(call_api, room_id) == 2


def test_a_seat_heartbeated_after_its_shard_was_read_is_kept(call_api: CallApi, aws: dict[str, str]) -> None:
    from rooms.adapters.housekeeping_store import DynamoHousekeepingStore
    from rooms.adapters.room_store import DynamoRoomStore
    from rooms.adapters.sqs_publisher import SqsOverflowPublisher
    from rooms.adapters.ticket_store import DynamoTicketStore
    from rooms.config import settings
    from rooms.service import RoomService, utcnow

    store = DynamoHousekeepingStore()
    long_ago = utcnow() - timedelta(seconds=3 * settings().seat_lease_seconds)
    # GIVEN a sweeper that read two expired seats, and one of them heartbeating before the release
    room_id, read = plant_ghosts(call_api, ["late", "gone"], long_ago)
    RoomService(DynamoRoomStore(), DynamoTicketStore(), SqsOverflowPublisher()).heartbeat(room_id, "late")
    # WHEN it releases what it read THEN only the silent seat is freed
    assert [seat.user_id for seat in store.release_expired(read, utcnow())] == ["gone"]
    assert occupancy(call_api, room_id) == 1


def test_the_minute_run_enqueues_every_shard_and_the_sweeper_frees_the_ghosts(
    call_api: CallApi, aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rooms.config import settings
    from rooms.domain import expiry
    from rooms.scheduled import ScheduledServices
    from rooms.service import utcnow

    # GIVEN two ghosts and a listener within their lease, and the functions' clock stopped in the middle of
    # the current bucket, so both runs below fall in the same one however slow the machine is
    interval = settings().heartbeat_interval_seconds
    now = utcnow()
    bucket_start = datetime.fromtimestamp(expiry.expiry_bucket(now, interval) * interval, tz=UTC)
    stopped = bucket_start + timedelta(seconds=interval / 2)
    long_ago = now - timedelta(seconds=3 * settings().seat_lease_seconds)
    room_id, _ = plant_ghosts(call_api, ["g1", "g2"], long_ago)
    call_api("join_room", path={"room_id": room_id}, sub="alive")
    monkeypatch.setattr(load_function("scheduler"), "services", ScheduledServices(clock=lambda: stopped))
    sweeper = sweeper_on(lambda: stopped, monkeypatch)
    # WHEN the scheduler function runs housekeeping
    report = load_function("scheduler").lambda_handler({"action": "housekeeping"}, LambdaContext())
    # THEN it handed out every shard of each due bucket, and freed nothing itself
    jobs_per_bucket = expiry.EXPIRY_SHARDS // expiry.SHARDS_PER_JOB
    assert report["expiry_buckets"] >= 1
    assert report["expiry_jobs_enqueued"] == report["expiry_buckets"] * jobs_per_bucket
    assert occupancy(call_api, room_id) == 3
    depth = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws["SweepQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert int(depth) == report["expiry_jobs_enqueued"]
    # AND the sweeper, fed the queue, frees the two ghosts and keeps the listener
    drain_sweeps(aws["SweepQueue"])
    assert sweeper.freed == 2
    assert occupancy(call_api, room_id) == 1
    # AND a run right after hands nothing out again: only the current bucket is left, handed out just now
    again = load_function("scheduler").lambda_handler({"action": "housekeeping"}, LambdaContext())
    assert again["expiry_jobs_enqueued"] == 0
