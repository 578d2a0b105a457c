"""The expiry index's arithmetic (buckets, shards, sort keys, the load per key at 1,000,000 listeners) and
the sweep's use cases on in-memory fakes: the minute run hands each due bucket out as sweep jobs, the
sweepers free what expired, a job handed out twice frees nothing twice, a run that dies is resumed.

Pure domain and use cases: no AWS, microseconds each.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from rooms.adapters.models import expired_by_sort_key, expiry_sort_key, seat_expiry_key, seat_key
from rooms.domain.expiry import (
    EXPIRY_SHARDS,
    REFAN_CURRENT_AFTER,
    SHARDS_PER_JOB,
    ExpiryProgress,
    SweepJob,
    buckets_to_fan_out,
    buckets_to_sweep,
    expiry_bucket,
    expiry_shard,
    sweep_jobs,
)
from rooms.domain.model import Ticket, TicketStatus, ticket_id_for
from rooms.sweeper import SweepBatch
from tests.unit.fakes import START, Clock, Fakes, main_room

INTERVAL = 30
LEASE = timedelta(seconds=2 * INTERVAL)
FAMILY = "r_main"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# ---------------------------------------------------------------------- arithmetic
def test_a_lease_end_falls_in_the_bucket_of_its_interval() -> None:
    assert expiry_bucket(at(95), INTERVAL) == 3
    assert expiry_bucket(at(90), INTERVAL) == 3
    assert expiry_bucket(at(89.999), INTERVAL) == 2


def test_seats_spread_evenly_over_the_shards() -> None:
    keys = [seat_key(f"r_{n % 50}", f"user-{n}") for n in range(100_000)]
    counts = Counter(expiry_shard(key) for key in keys)
    assert set(counts) == set(range(EXPIRY_SHARDS))
    mean = len(keys) / EXPIRY_SHARDS
    assert max(counts.values()) < 1.2 * mean and min(counts.values()) > 0.8 * mean
    assert all(expiry_shard(key) == expiry_shard(key) for key in keys[:100])  # stable


def test_a_million_listeners_keep_every_expiry_key_well_below_a_partition_s_limit() -> None:
    heartbeats_per_second = 1_000_000 / INTERVAL
    # each heartbeat puts one entry into its bucket's shard (1 WCU) and deletes one from another key
    assert heartbeats_per_second / EXPIRY_SHARDS < 1_000 / 3  # 260 WCU/s: a storm's phase and joins fit
    # and a bucket is handed out in a few jobs that cover every shard once
    jobs = sweep_jobs(7)
    assert len(jobs) == EXPIRY_SHARDS // SHARDS_PER_JOB == 16
    assert sorted(shard for job in jobs for shard in job.shards) == list(range(EXPIRY_SHARDS))
    assert {job.bucket for job in jobs} == {7}


def test_a_heartbeat_moves_its_seat_off_the_key_it_leaves() -> None:
    # the index entry's put (new lease end) and delete (old one) land on two keys, never the same one
    key = seat_key(FAMILY, "u1")
    for beat in range(1_000_000, 1_000_300, 7):
        old = seat_expiry_key(expiry_bucket(at(beat - INTERVAL) + LEASE, INTERVAL), key)
        new = seat_expiry_key(expiry_bucket(at(beat) + LEASE, INTERVAL), key)
        assert old != new
        assert new.startswith("EXPIRY#") and new.endswith(f"#{expiry_shard(key)}")


def test_the_expiry_sort_key_orders_by_lease_end_and_bounds_what_expired() -> None:
    by = at(1_000_000)
    ended = [expiry_sort_key(by - timedelta(seconds=s), seat_key(FAMILY, user)) for s in (0, 1, 30) for user in "aé"]
    running = [expiry_sort_key(by + timedelta(microseconds=1), seat_key(FAMILY, "zz\U0001f600"))]
    assert all(key <= expired_by_sort_key(by) for key in ended)
    assert all(key > expired_by_sort_key(by) for key in running)


def test_buckets_are_swept_from_the_last_one_done() -> None:
    assert buckets_to_sweep(None, 100, 240, 10) == range(90, 101)  # a first run looks a few intervals back
    assert buckets_to_sweep(97, 100, 240, 10) == range(98, 101)  # then picks up after the last complete bucket
    assert buckets_to_sweep(100, 100, 240, 10) == range(101, 101)
    assert len(buckets_to_sweep(0, 100_000, 240, 10)) == 240  # a stale cursor catches up over several runs


def test_the_current_bucket_is_handed_out_again_only_a_minute_run_later() -> None:
    now = at(100 * INTERVAL + 10)
    assert buckets_to_fan_out(None, now, INTERVAL, 20, 10) == range(90, 101)
    # handed out a moment ago, with the buckets before it done: nothing new (a retried run, a fast clock)
    recent = ExpiryProgress(99, now - timedelta(seconds=5))
    assert buckets_to_fan_out(recent, now, INTERVAL, 20, 10) == range(0)
    # a minute run later its rest is due; so is a bucket that ended meanwhile, however soon
    assert buckets_to_fan_out(ExpiryProgress(99, now - REFAN_CURRENT_AFTER), now, INTERVAL, 20, 10) == range(100, 101)
    assert buckets_to_fan_out(ExpiryProgress(98, now - timedelta(seconds=5)), now, INTERVAL, 20, 10) == range(99, 101)


def test_a_sweep_job_message_names_existing_shards_only() -> None:
    from rooms.sweeper import SweepJobMessage

    job = SweepJob(5, (0, 1, 127))
    assert SweepJobMessage.model_validate_json(SweepJobMessage.of(job).model_dump_json()).job() == job
    for body in ('{"bucket": 5, "shards": []}', '{"bucket": 5, "shards": [128]}', '{"bucket": -1, "shards": [0]}'):
        with pytest.raises(ValidationError):
            SweepJobMessage.model_validate_json(body)


# ---------------------------------------------------------------------- the minute run and the sweepers
class Platform:
    """Rooms, tickets, the runs' records, the sweep queue, the minute run and a sweeper, all on one clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.fakes = Fakes(clock=clock, interval_seconds=INTERVAL)
        self.fakes.add_room(main_room(FAMILY, capacity=100))
        self.rooms = self.fakes.rooms
        self.queue = self.fakes.sweep_queue
        self.housekeeping = self.fakes.housekeeping()
        self.sweeper = self.fakes.sweeper()

    @property
    def progress(self) -> ExpiryProgress | None:
        return self.fakes.records.expiry_progress()

    @progress.setter
    def progress(self, progress: ExpiryProgress) -> None:
        self.fakes.table.records["expiry"] = (progress.done, progress.fanned_out_at)

    def minute_run(self) -> list[SweepJob]:
        self.housekeeping.run()
        return self.queue.take()

    def sweep(self, jobs: list[SweepJob]) -> int:
        return sum(self.sweeper.sweep(job) for job in jobs)

    def seated(self) -> set[str]:
        return self.fakes.seated()


@pytest.fixture
def platform() -> Platform:
    return Platform(Clock(START))


def test_a_run_hands_out_every_shard_of_each_due_bucket_and_records_the_ended_ones(platform: Platform) -> None:
    # GIVEN the last run two minutes ago, its buckets done but the current one of then
    now_bucket = expiry_bucket(START, INTERVAL)
    platform.progress = ExpiryProgress(now_bucket - 5, START - timedelta(minutes=2))
    # WHEN the minute run goes
    report = platform.housekeeping.run()
    # THEN every shard of each bucket since then is handed out, the current one included
    buckets = range(now_bucket - 4, now_bucket + 1)
    handed = Counter((job.bucket, shard) for job in platform.queue.jobs for shard in job.shards)
    assert handed == Counter((bucket, shard) for bucket in buckets for shard in range(EXPIRY_SHARDS))
    assert (report.expiry_buckets, report.expiry_jobs_enqueued) == (5, 5 * EXPIRY_SHARDS // SHARDS_PER_JOB)
    # AND the ended buckets are recorded done, the current one stays due
    assert platform.progress == ExpiryProgress(now_bucket - 1, START)


def test_the_sweepers_free_what_expired_and_a_job_handed_out_twice_frees_nothing_twice(platform: Platform) -> None:
    fakes, rooms, clock = platform.fakes, platform.rooms, platform.clock
    # GIVEN three listeners, one seated through a ticket, and one who keeps heartbeating
    for user in ("u1", "u2", "u3"):
        fakes.seat(FAMILY, user, ticketed=user == "u2")
    fakes.put_ticket(
        Ticket(ticket_id_for(FAMILY, "u2"), FAMILY, "u2", TicketStatus.SEATED, FAMILY, START, START, room_id=FAMILY)
    )
    clock.advance(timedelta(seconds=INTERVAL))
    rooms.touch(FAMILY, "u3", clock())
    # WHEN the minute run after the silent leases ended hands its jobs to the sweepers
    clock.advance(timedelta(seconds=INTERVAL + 1))
    jobs = platform.minute_run()
    assert platform.sweep(jobs) == 2
    # THEN the silent seats are freed with their room's count, and the ticket says so
    assert platform.seated() == {"u3"}
    assert fakes.occupancy(FAMILY) == 1
    assert fakes.ticket(ticket_id_for(FAMILY, "u2")).status is TicketStatus.EXPIRED
    # WHEN the same jobs are delivered again (SQS at least once, a retried run) THEN nothing more is freed
    assert platform.sweep(jobs) == 0
    assert fakes.occupancy(FAMILY) == 1


def test_a_silent_seat_is_freed_by_the_first_run_after_its_lease_and_never_before(platform: Platform) -> None:
    rooms, clock = platform.rooms, platform.clock
    # GIVEN a listener whose app died right after a heartbeat 10 s after joining
    platform.fakes.seat(FAMILY, "silent")
    clock.advance(timedelta(seconds=10))
    rooms.touch(FAMILY, "silent", clock())
    lease_ends = clock() + LEASE
    # WHEN the minute runs go on, each followed by the sweepers
    freed_at = None
    while freed_at is None:
        platform.sweep(platform.minute_run())
        if "silent" not in platform.seated():
            freed_at = clock()
        clock.advance(timedelta(seconds=60))
    # THEN the seat lived its whole lease, and the first run after it freed it
    assert lease_ends <= freed_at < lease_ends + timedelta(seconds=60)


def test_a_run_that_dies_half_way_is_resumed_without_losing_a_bucket(platform: Platform) -> None:
    now_bucket = expiry_bucket(START, INTERVAL)
    platform.progress = ExpiryProgress(now_bucket - 6, START - timedelta(minutes=3))
    # GIVEN a sweep queue that becomes unreachable after two buckets' jobs
    platform.queue.broken_after = 2
    # WHEN the run dies on the third THEN the two buckets handed out are recorded, nothing after them
    with pytest.raises(ConnectionError):
        platform.housekeeping.run()
    assert platform.progress is not None and platform.progress.done == now_bucket - 4
    first = platform.queue.take()
    # WHEN its retry runs (the queue is back) THEN it goes on from there, the current bucket included
    platform.queue.broken_after = None
    platform.housekeeping.run()
    again = platform.queue.take()
    assert {job.bucket for job in first} == {now_bucket - 5, now_bucket - 4}
    assert {job.bucket for job in again} == set(range(now_bucket - 3, now_bucket + 1))


def test_a_run_after_an_outage_hands_out_a_bounded_number_of_buckets(platform: Platform) -> None:
    now_bucket = expiry_bucket(START, INTERVAL)
    platform.progress = ExpiryProgress(now_bucket - 1_000, START - timedelta(hours=8))
    report = platform.housekeeping.run()
    assert report.expiry_buckets == 20 and len(platform.queue.take()) == 20 * EXPIRY_SHARDS // SHARDS_PER_JOB
    # the next runs catch up from where it stopped
    assert platform.progress == ExpiryProgress(now_bucket - 980, START)


def test_a_bad_sweep_job_fails_its_record() -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from tests.conftest import load_event

    batch = SweepBatch(Fakes().sweeper())
    record = load_event("sweeper/sweep_batch")["Records"][0]
    batch.settle(SQSRecord(record))  # the sample: nothing to free
    with pytest.raises(ValidationError):
        batch.settle(SQSRecord({**record, "body": '{"bucket": 5}'}))
    assert batch.freed == 0
