"""Overflow worker: seats queued users in parallel rooms; failed records are reported one by one."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from rooms.config import settings
from rooms.overflow_service import OverflowService
from rooms.wiring import Adapters
from rooms.worker import OverflowBatch

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the AWS calls; patching all X-Ray knows costs cold start
metrics = Metrics()
# report every failed record, even when all fail, rather than failing the invocation
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# no caller waits on the worker: a late push still beats the client's slow poll (5 s), and a cold
# instance on a busy machine spends seconds on its first pushes. Well inside the 30 s timeout.
WORKER_BULK_PUSH_SECONDS = 10.0
# the composition root: this instance's use case over its adapters
adapters = Adapters(bulk_push_seconds=WORKER_BULK_PUSH_SECONDS)
service = OverflowService(
    adapters.rooms,
    adapters.tickets,
    settings().max_parallel_rooms,
    notifier=adapters.notifier,
    bans=adapters.bans,
    groups=adapters.groups,
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    batch = OverflowBatch(service, settings().overflow_max_receive_count).run(event)
    metrics.add_metric(name="OverflowSeated", unit=MetricUnit.Count, value=batch.seated)
    return process_partial_response(event=event, record_handler=batch.settle, processor=processor, context=context)
