"""The local stream mapping's pure parts: records in Lambda's JSON shape, and which record a failed batch
is retried from (Lambda's rules for ReportBatchItemFailures)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rooms_local.stream_source import RecordFilter, first_failed, lambda_record

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/local"


def streams_api_record(sequence: str = "1") -> dict[str, Any]:
    """A GetRecords record as boto3 parses it: its time a datetime, binary values bytes."""
    return {
        "eventID": "e1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 12, 3, 14, 0, tzinfo=UTC),
            "Keys": {"pk": {"S": "ROOM#r1"}, "sk": {"S": "ROOM"}},
            "NewImage": {"pk": {"S": "ROOM#r1"}, "blob": {"B": b"\x00\x01"}, "m": {"M": {"l": {"L": [{"B": b"x"}]}}}},
            "OldImage": {"pk": {"S": "ROOM#r1"}, "n": {"N": "1"}},
            "SequenceNumber": sequence,
            "SizeBytes": 20,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def test_a_record_is_converted_to_lambdas_json_with_the_templates_arn_and_region() -> None:
    record = lambda_record(streams_api_record(), STREAM_ARN, "eu-west-1")
    assert record["eventSourceARN"] == STREAM_ARN and record["awsRegion"] == "eu-west-1"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(
        datetime(2026, 12, 3, 14, 0, tzinfo=UTC).timestamp()
    )
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}
    assert record["dynamodb"]["NewImage"]["m"] == {"M": {"l": {"L": [{"B": "eA=="}]}}}
    assert record["dynamodb"]["OldImage"]["n"] == {"N": "1"}


def test_no_pattern_passes_everything_and_patterns_are_alternatives() -> None:
    record = lambda_record(streams_api_record(), STREAM_ARN, "us-east-1")
    assert RecordFilter(()).passes(record)
    rooms = '{"dynamodb": {"Keys": {"sk": {"S": ["ROOM"]}}}}'
    seats = '{"dynamodb": {"Keys": {"sk": {"S": ["SEAT"]}}}}'
    assert RecordFilter((seats, rooms)).passes(record)
    assert not RecordFilter((seats,)).passes(record)


BATCH = [lambda_record(streams_api_record(str(n)), STREAM_ARN, "us-east-1") for n in (10, 11, 12)]


@pytest.mark.parametrize(
    ("response", "reports_items", "retry_from"),
    [
        (None, True, None),
        ({"batchItemFailures": []}, True, None),
        ({"batchItemFailures": [{"itemIdentifier": "12"}, {"itemIdentifier": "11"}]}, True, 1),  # the lowest
        ({"batchItemFailures": [{"itemIdentifier": "99"}]}, True, 0),  # an unknown one fails the batch
        ({"batchItemFailures": [{"itemIdentifier": None}]}, True, 0),
        ({"batchItemFailures": "11"}, True, 0),
        ("not a dict", True, 0),
        ({"batchItemFailures": [{"itemIdentifier": "11"}]}, False, None),  # without the response type
    ],
)
def test_a_batch_is_retried_from_its_lowest_failed_record(
    response: Any, reports_items: bool, retry_from: int | None
) -> None:
    assert first_failed(response, BATCH, reports_items) == retry_from
