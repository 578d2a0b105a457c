"""Sweeper: frees the expired seats of the expiry shards the minute run hands out (and closed sockets'
seats), and promotes into freed main-room seats (its own, and those a leave or a kick asks for); failed
records are reported one by one (SQS delivers them again, then dead-letters them)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from rooms.promotion import Promoter
from rooms.service import utcnow
from rooms.sweeper import ExpirySweeper, SweepBatch
from rooms.wiring import Adapters

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the AWS calls; patching all X-Ray knows costs cold start
metrics = Metrics()
# report every failed record, even when all fail, rather than failing the invocation
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# the composition root: this instance's use case over its adapters
adapters = Adapters()
promoter = Promoter(adapters.rooms, adapters.tickets, utcnow, notifier=adapters.notifier)
sweeper = ExpirySweeper(adapters.housekeeping, adapters.tickets, promoter=promoter)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    batch = SweepBatch(sweeper)
    response = process_partial_response(event=event, record_handler=batch.settle, processor=processor, context=context)
    metrics.add_metric(name="GhostSeatsFreed", unit=MetricUnit.Count, value=batch.freed)
    metrics.add_metric(name="SeatsPromoted", unit=MetricUnit.Count, value=batch.promoted)
    return response
