"""Where a seat's lease end is indexed, and which index partitions a minute run hands to the sweepers.

A seat is indexed in gsi2 under `EXPIRY#<bucket>#<shard>`: bucket = its lease end // the heartbeat
interval, shard = crc32(its key) % EXPIRY_SHARDS, and the index's sort key starts with the lease end,
so a sweeper reads only what has expired. Every heartbeat moves its seat to the next bucket. A minute
run hands each due bucket out as EXPIRY_SHARDS / SHARDS_PER_JOB sweep jobs (one message each).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

# 1,000,000 listeners heartbeating every 30 s make 33,333 heartbeats/s, each putting its seat's entry
# into the bucket of its new lease end (and deleting it from the previous bucket, another key): every
# key of the current bucket takes 33,333 / EXPIRY_SHARDS WCU/s. 64 shards would be 521, too close to a
# partition's 1,000 once a storm's listeners beat in phase and its joins land on the same keys; 128
# leave 260, and a bucket is still swept by only 128 queries (one message each).
EXPIRY_SHARDS = 128
# Shards one sweep job (one queue message) covers: 16 jobs a bucket, so 100,000 seats expiring in a
# minute (two or three 30 s buckets) are 32 to 48 jobs of about 2,000 to 3,000 seats to run side by side.
SHARDS_PER_JOB = 8
# A run this soon after the last fan-out (a retry, or a fast local clock) does not hand out the current
# bucket again: below the minute schedule, so on time the current bucket is swept every run.
REFAN_CURRENT_AFTER = timedelta(seconds=50)


@dataclass(frozen=True)
class SweepJob:
    """One sweeper's work: free the expired seats indexed in these shards of one expiry bucket."""

    bucket: int
    shards: tuple[int, ...]


@dataclass(frozen=True)
class ExpiryProgress:
    """How far the minute runs got: every bucket up to `done` was handed out after it ended."""

    done: int
    fanned_out_at: datetime


def expiry_bucket(when: datetime, interval_seconds: int) -> int:
    """The bucket of a lease ending at `when`."""
    return int(when.timestamp()) // interval_seconds


def expiry_shard(key: str) -> int:
    """The shard of a seat (by its stable key): spreads one bucket's writes over EXPIRY_SHARDS keys."""
    return zlib.crc32(key.encode()) % EXPIRY_SHARDS


def sweep_jobs(bucket: int) -> list[SweepJob]:
    """Every shard of `bucket`, SHARDS_PER_JOB to a job."""
    shards = range(EXPIRY_SHARDS)
    return [SweepJob(bucket, tuple(shards[start : start + SHARDS_PER_JOB])) for start in shards[::SHARDS_PER_JOB]]


def buckets_to_sweep(last_done: int | None, now_bucket: int, most: int, first_lookback: int) -> range:
    """Buckets from the one after the last fully swept to the current one (partly past).

    At most `most`: after an outage the sweep catches up over a few runs. With no record, it looks
    `first_lookback` buckets back.
    """
    first = now_bucket - first_lookback if last_done is None else last_done + 1
    return range(first, min(now_bucket, first + most - 1) + 1)


def buckets_to_fan_out(
    progress: ExpiryProgress | None, now: datetime, interval_seconds: int, most: int, first_lookback: int
) -> range:
    """The expiry buckets a minute run at `now` hands out: every bucket since the last one done, the
    current one (partly past) included, so a seat is freed by the first run after its lease ends.

    Nothing when only the current bucket is left and it was handed out less than REFAN_CURRENT_AFTER ago.
    """
    now_bucket = expiry_bucket(now, interval_seconds)
    due = buckets_to_sweep(progress.done if progress else None, now_bucket, most, first_lookback)
    if progress is not None and list(due) == [now_bucket] and now - progress.fanned_out_at < REFAN_CURRENT_AFTER:
        return range(0)
    return due
