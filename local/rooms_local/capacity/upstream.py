"""The meter's connection to DynamoDB Local: requests forwarded as they came, and the meter's own reads.

One keep-alive connection per thread. DynamoDB Local wants an Authorization header but does not verify
the signature (checked: a request with a made-up signature is served; one without the header is refused),
so forwarded requests keep the client's header even when the meter changed the body, and the meter's own
requests carry a fixed one. None of the meter's own requests is metered: they are not the functions'.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from .sizes import Item

TARGET_PREFIX = "DynamoDB_20120810."
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
# hop-by-hop headers, and what the meter must set itself (length) or must not pass (compression)
DROPPED_REQUEST_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
    | {"host", "content-length", "accept-encoding"}
)
_OWN_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
)
_IDLE_RECONNECT_S = 20.0  # Jetty closes idle connections; start afresh rather than find out mid-request
_BATCH_GET_LIMIT = 100

Headers = list[tuple[str, str]]


class UpstreamError(RuntimeError):
    """DynamoDB Local refused one of the meter's own requests."""


class Upstream:
    def __init__(self, endpoint: str, timeout: float = 60.0):
        parts = urlsplit(endpoint)
        self.endpoint = endpoint
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, and whether it served a request before (it may have gone stale)."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and time.monotonic() - self._local.used > _IDLE_RECONNECT_S:
            connection.close()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
            return connection, False
        return connection, True

    def exchange(self, path: str, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        """POST a request as it came (hop-by-hop headers aside); the answer as DynamoDB Local gave it."""
        sent = {name: value for name, value in headers if name.lower() not in DROPPED_REQUEST_HEADERS}
        for attempt in (1, 2):
            connection, reused = self._connection()
            try:
                connection.request("POST", path or "/", body=body, headers=sent)
                response = connection.getresponse()
                answer = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                self._local.connection = None
                if reused and attempt == 1:  # a keep-alive connection the server had closed: nothing was done
                    continue
                raise
            except BaseException:
                connection.close()
                self._local.connection = None
                raise
            self._local.used = time.monotonic()
            if response.will_close:
                connection.close()
                self._local.connection = None
            return response.status, response.getheaders(), answer
        raise AssertionError("unreachable")

    def call(self, operation: str, payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """One of the meter's own requests; the status and the parsed answer."""
        headers = [
            ("Content-Type", JSON_CONTENT_TYPE),
            ("X-Amz-Target", TARGET_PREFIX + operation),
            ("Authorization", _OWN_AUTHORIZATION),
        ]
        status, _, body = self.exchange("/", headers, json.dumps(payload).encode())
        return status, json.loads(body) if body else {}

    def _checked(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        status, answer = self.call(operation, payload)
        if status != 200:
            raise UpstreamError(f"{operation}: HTTP {status} {answer}")
        return answer

    # ------------------------------------------------------------------------- the meter's own reads
    def items(self, keys: Sequence[tuple[str, Item]]) -> Iterator[tuple[str, Item]]:
        """Strongly consistent reads of (table, key) pairs: the (table, item) of those that exist."""
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {}
            for table, key in keys[start : start + _BATCH_GET_LIMIT]:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(dict(key))
            while request:
                answer = self._checked("BatchGetItem", {"RequestItems": request})
                for table, found in answer.get("Responses", {}).items():
                    for item in found:
                        yield table, item
                request = answer.get("UnprocessedKeys") or {}

    def item(self, table: str, key: Item) -> Item | None:
        answer = self._checked("GetItem", {"TableName": table, "Key": dict(key), "ConsistentRead": True})
        item: Item | None = answer.get("Item")
        return item

    def scan(self, table: str) -> Iterator[Item]:
        """Every item of a table, strongly consistent."""
        request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            answer = self._checked("Scan", request)
            yield from answer.get("Items", [])
            if not answer.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def describe(self, table: str) -> tuple[dict[str, Any], str | None] | None:
        """DescribeTable and its TTL attribute, or None when there is no such table."""
        status, answer = self.call("DescribeTable", {"TableName": table})
        if status != 200:
            return None
        ttl = self._checked("DescribeTimeToLive", {"TableName": table}).get("TimeToLiveDescription") or {}
        enabled = ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
        return answer["Table"], ttl.get("AttributeName") if enabled else None
