"""Lifecycle relay: reads the table's stream (filtered by the event source mapping to the items that can
tell something) and puts room, show and promotion events on the EventBridge bus. A record whose events
the bus refused is reported failed: Lambda retries from it, and once its retries are spent the
mapping's on-failure destination (a dead-letter queue with an alarm) keeps where it was."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from rooms.adapters.event_bus import EventBridgeBus
from rooms.adapters.stream_changes import change_of
from rooms.lifecycle import LifecycleRelay
from rooms.wiring import Adapters

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
# the composition root: this instance's relay over its adapters
adapters = Adapters()
relay = LifecycleRelay(adapters.rooms, EventBridgeBus())


def relay_record(record: DynamoDBRecord) -> None:
    events = relay.relay(change_of(record))
    if events:
        metrics.add_metric(name="LifecycleEventsPublished", unit=MetricUnit.Count, value=len(events))
        logger.debug("published", extra={"events": [event.id for event in events]})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    response = process_partial_response(event=event, record_handler=relay_record, processor=processor, context=context)
    failed = len(response.get("batchItemFailures", []))
    if failed:
        metrics.add_metric(name="LifecycleRecordsFailed", unit=MetricUnit.Count, value=failed)
    return response
