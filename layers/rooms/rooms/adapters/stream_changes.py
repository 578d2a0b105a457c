"""Reads a DynamoDB stream record (as Lambda delivers it, through Powertools' data class) as an ItemChange."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from rooms.domain.lifecycle import ItemChange


def change_of(record: DynamoDBRecord) -> ItemChange:
    stream = record.dynamodb
    if stream is None or record.event_name is None or record.event_id is None:
        raise ValueError("not a DynamoDB stream record: no dynamodb, eventName or eventID")
    created = stream.approximate_creation_date_time
    return ItemChange(
        change_id=record.event_id,
        kind=record.event_name.name,
        # the stream's time of the change (to the second); a record without one is told as of now
        at=datetime.fromtimestamp(created, UTC) if created is not None else datetime.now(UTC),
        old=stream.old_image or {},
        new=stream.new_image or {},
    )
