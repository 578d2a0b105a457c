"""Integration tests index seats over 16 expiry shards, not the production 128.

moto answers every DynamoDB query in milliseconds and every SQS call in time growing with the queue's
depth, and a minute run hands out every shard of every due bucket: with 128 shards a run that looks back
over ten buckets would be 1,408 queries and 176 queued jobs. What depends on the shard count itself (the
crc32 spread, the jobs of a bucket, the arithmetic of 128) is tested in tests/unit; the local stack's
tests run the production count.
"""

from __future__ import annotations

import pytest

INTEGRATION_EXPIRY_SHARDS = 16


@pytest.fixture(autouse=True)
def fewer_expiry_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    from rooms.domain import expiry

    monkeypatch.setattr(expiry, "EXPIRY_SHARDS", INTEGRATION_EXPIRY_SHARDS)
