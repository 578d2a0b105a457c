"""WebSocket connection function: `$connect` records the connection, `$disconnect` forgets it (a seat it
held gets the grace), and `$default` answers `hold` and `watch` with a frame on the socket."""

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from rooms.config import settings
from rooms.presence import Presence
from rooms.service import RoomService
from rooms.wiring import Adapters

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the AWS calls; patching all X-Ray knows costs cold start
# the composition root: this instance's use case over its adapters
adapters = Adapters()
presence = Presence(
    connections=adapters.connections,
    holds=adapters.rooms,
    rooms=RoomService(adapters.rooms, adapters.tickets, adapters.publisher),
    releases=adapters.sweep_queue,
    grace_seconds=settings().presence_grace_seconds,
)


def _opened_at(context: dict[str, Any]) -> datetime | None:
    millis = context.get("connectedAt")
    return datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int | float) else None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["requestContext"]
    authorizer = request.get("authorizer") or {}
    # the authorizer's context on $connect, and every later route of the same connection
    user_id = authorizer.get("user_id") or authorizer.get("principalId")
    connection_id = request["connectionId"]
    kind = request.get("eventType")
    if not user_id:
        logger.error("no caller in the request context", extra={"route": request.get("routeKey")})
        return {"statusCode": 401 if kind == "CONNECT" else 200}
    if kind == "CONNECT":
        presence.connect(user_id, connection_id, _opened_at(request))
        return {"statusCode": 200}
    if kind == "DISCONNECT":
        presence.disconnect(user_id, connection_id)
        return {"statusCode": 200}
    reply = presence.message(user_id, connection_id, event.get("body"), _opened_at(request))
    return {"statusCode": 200} if reply is None else {"statusCode": 200, "body": json.dumps(reply)}
