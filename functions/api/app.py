"""HTTP API function: Powertools resolves the route; the layer's services do the work."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from rooms.api.resolver import build_resolver

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the AWS calls; patching all X-Ray knows costs cold start
metrics = Metrics()
app = build_resolver()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
