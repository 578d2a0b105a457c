"""Scheduler function: EventBridge Scheduler invokes it to open a show, close it, or run housekeeping."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rooms.scheduled import ScheduledServices, dispatch

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the AWS calls; patching all X-Ray knows costs cold start
metrics = Metrics()
# the composition root: the use cases of this instance, built on first use
services = ScheduledServices()
_METRICS = {
    "expiry_jobs_enqueued": "ExpirySweepJobsEnqueued",
    "promoted": "UsersPromoted",
    "rooms_closed": "EmptyRoomsClosed",
    "dead_letters": "OverflowDeadLettersSeen",
    "tickets_seated": "StaleTicketsSeated",
    "tickets_republished": "StaleTicketsRepublished",
    "tickets_failed": "StaleTicketsFailed",
    "provisioned_rooms": "ParallelRoomsProvisioned",
}


@logger.inject_lambda_context(correlation_id_path="event_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = dispatch(event, services)
    metrics.add_dimension(name="action", value=str(result["action"]))
    metrics.add_metric(name="ScheduledActions", unit=MetricUnit.Count, value=1)  # flushes the dimension too
    for field, metric in _METRICS.items():
        if isinstance(result.get(field), int):
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=result[field])
    logger.info("scheduled action done", extra=result)
    return result
