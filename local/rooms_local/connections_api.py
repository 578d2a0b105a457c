"""The local @connections API (API Gateway's management API of a WebSocket API), as botocore's
`apigatewaymanagementapi` client calls it: POST sends a frame, GET describes, DELETE closes.

    POST   /<stage>/@connections/<id>   body: the data, sent as one frame    200
    GET    /<stage>/@connections/<id>   {"connectedAt", "identity", "lastActiveAt"}
    DELETE /<stage>/@connections/<id>                                        204

A connection that is not open answers 410 GoneException (the client raises `GoneException`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from .http_event import HttpRequest, HttpResponse, json_response
from .http_server import HttpServer
from .ws_server import MAX_MESSAGE_BYTES, LiveConnection, WebSocketServer

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> HttpResponse:
    # botocore's rest-json parser reads the code from this header, as the service sends it
    return json_response(status, {"message": message}, [("x-amzn-ErrorType", code)])


def _timestamp(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ConnectionsApi:
    """Serves the @connections API of `server`'s stage on host:port (0 = a free port)."""

    def __init__(self, server: WebSocketServer, *, host: str = "127.0.0.1", port: int = 0):
        self.server = server
        self.prefix = f"/{server.api.stage.name}/@connections/"
        self._http = HttpServer(self.handle, host=host, port=port)

    @property
    def url(self) -> str:
        """What the functions' apigatewaymanagementapi clients take as endpoint_url."""
        host, port = self._http.address
        return f"http://{host}:{port}/{self.server.api.stage.name}"

    def start(self) -> None:
        self._http.start()

    def stop(self) -> None:
        self._http.stop()

    def handle(self, request: HttpRequest) -> HttpResponse:
        if not request.raw_path.startswith(self.prefix) or "/" in request.raw_path[len(self.prefix) :]:
            return _error(403, "ForbiddenException", "Forbidden")
        connection_id = unquote(request.raw_path[len(self.prefix) :])
        match request.method:
            case "POST":
                if len(request.body) > MAX_MESSAGE_BYTES:
                    return _error(413, "PayloadTooLargeException", "Message too long")
                if self.server.post(connection_id, request.body):
                    return HttpResponse(200, [("content-type", "application/json")], b"")
            case "GET":
                live = self.server.connection(connection_id)
                if live is not None:
                    return json_response(200, self._describe(live))
            case "DELETE":
                if self.server.close(connection_id):
                    return HttpResponse(204, [], b"")
            case _:
                return _error(403, "ForbiddenException", "Forbidden")
        return _error(410, "GoneException", f"connection {connection_id} is gone")

    @staticmethod
    def _describe(live: LiveConnection) -> dict[str, Any]:
        # the wire names (botocore hands them out as ConnectedAt, Identity.SourceIp...)
        return {
            "connectedAt": _timestamp(live.info.connected_at_ms / 1000),
            "identity": {"sourceIp": live.info.source_ip, "userAgent": live.info.user_agent},
            "lastActiveAt": _timestamp(live.last_active),
        }
