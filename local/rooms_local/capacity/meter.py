"""The capacity meter: an HTTP proxy that speaks DynamoDB's JSON protocol in front of DynamoDB Local, and
records what AWS would bill for every request (see operations.py and accounting.py) in its Ledger.

Requests and answers pass through byte for byte, except what the meter adds and removes (`ReturnValues`
asked for an UpdateItem that asked for none, throttled items of a batch moved to its unprocessed list) and
the answers it gives itself: throttling (`Throttle`), injected faults (`FaultConfig`). An operation the meter
does not bill (CreateTable, DescribeTable, ...) is forwarded as it is and counted.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from . import dynamodb_errors
from .accounting import merged
from .faults import INTERNAL_ERROR, Draws, DynamoDBFaults, FaultConfig
from .images import ItemImages
from .ledger import Charge, Ledger
from .operations import Exchange, Operations, Outcome, json_outcome
from .schema import TableSchema, schema_from_description, schemas_from_template
from .throttle import Throttle
from .upstream import TARGET_PREFIX, Headers, Upstream

if TYPE_CHECKING:
    from ..template import Template

log = logging.getLogger(__name__)
_TABLE_CHANGES = frozenset({"CreateTable", "DeleteTable"})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class CapacityMeter:
    """`with CapacityMeter(upstream, schemas) as meter:` point clients at `meter.endpoint`; read `meter.ledger`.

    `schemas` (by table name) come from the template; a table it does not name is described by DynamoDB
    Local on first use. `throttle` enforces AWS's per-key limits; `faults` injects DynamoDB failures.
    """

    def __init__(
        self,
        upstream: str,
        schemas: Mapping[str, TableSchema] | None = None,
        *,
        throttle: Throttle | None = None,
        faults: FaultConfig | None = None,
        ledger: Ledger | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.upstream = Upstream(upstream)
        self.schemas = dict(schemas or {})
        self.ledger = ledger or Ledger()
        self.images = ItemImages()
        self.throttle = throttle
        self.faults: DynamoDBFaults | None = None
        self.operations = Operations(self.upstream, self.images, self._schema, throttle=throttle)
        self.inject(faults)
        self._request_ids = itertools.count(1)
        self._ids_lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.meter = self
        self._thread: threading.Thread | None = None

    def inject(self, faults: FaultConfig | None) -> None:
        """Answer the requests that come from now on with these faults (None: no more faults)."""
        self.faults = DynamoDBFaults(faults) if faults and faults.dynamodb else None
        self.operations.draws = self.faults.draws if self.faults else Draws(None)

    @classmethod
    def for_template(
        cls,
        template: Template,
        upstream: str,
        *,
        throughput_scale: float | None = None,
        faults: FaultConfig | None = None,
    ) -> CapacityMeter:
        """A meter for the template's tables; `throughput_scale` turns throttling on (1.0: AWS's limits)."""
        throttle = Throttle(throughput_scale) if throughput_scale is not None else None
        return cls(upstream, schemas_from_template(template), throttle=throttle, faults=faults)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> CapacityMeter:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="rooms-local-meter", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> CapacityMeter:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ tables
    def _schema(self, table: str) -> TableSchema | None:
        """The table's schema, following its items from the first request that names it."""
        if self.images.adopted(table):
            return self.images.schema(table)
        with self.images.adopting():
            if self.images.adopted(table):
                return self.images.schema(table)
            described = self.upstream.describe(table)
            if described is None:
                return None  # no such table: DynamoDB Local answers the request itself
            schema = self.schemas.get(table) or schema_from_description(described[0], ttl_attribute=described[1])
            self.images.adopt(schema, self.upstream.scan(table))
            return schema

    # ----------------------------------------------------------------------------------------- requests
    def answer(self, path: str, headers: Headers, body: bytes) -> Outcome:
        """Serve one request: bill it, forward it (or answer it), record it."""
        target = next((value for name, value in headers if name.lower() == "x-amz-target"), "")
        operation = target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else ""
        handler = self.operations.handlers.get(operation)
        if handler is None:
            status, answer_headers, answer = self.upstream.exchange(path, headers, body)
            if operation in _TABLE_CHANGES and status == 200:
                self.images.drop(_table_named(body))
            self.ledger.record([], operation=operation or "unknown")
            return Outcome(status, answer, answer_headers)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):  # not JSON: DynamoDB Local says what is wrong with it
            return self._unbilled(operation, path, headers, body)
        exchange = Exchange(operation, path, headers, body, payload)
        exchange.fault = self.faults.pick(operation) if self.faults else None
        if exchange.fault == INTERNAL_ERROR:
            outcome = json_outcome(*dynamodb_errors.internal_error())
        else:
            try:
                outcome = handler(exchange)
            except Exception:
                if not exchange.forwarded:
                    # a request the meter cannot read (no such table, a malformed or legacy shape): it did
                    # nothing yet, so DynamoDB Local answers it, as it would without the meter, unbilled
                    log.debug("capacity meter: %s forwarded unbilled", operation, exc_info=True)
                    return self._unbilled(operation, path, headers, body)
                if exchange.answer is None:
                    raise  # no answer came: the client sees a 500 and retries, as after a lost connection
                # the meter failed after DynamoDB Local answered: the client gets that answer, unbilled,
                # and the items it wrote are read afresh before their next write
                log.exception("capacity meter: could not bill %s", operation)
                for table, key in exchange.touched:
                    self.images.forget(table, key)
                self.ledger.record([], operation=operation)
                return Outcome(exchange.answer.status, exchange.answer.body, exchange.answer.headers)
        self._record(operation, outcome)
        return outcome

    def _unbilled(self, operation: str, path: str, headers: Headers, body: bytes) -> Outcome:
        status, answer_headers, answer = self.upstream.exchange(path, headers, body)
        self.ledger.record([], operation=operation)
        return Outcome(status, answer, answer_headers)

    def _record(self, operation: str, outcome: Outcome) -> None:
        with self._ids_lock:
            request_id = next(self._request_ids)
        at = time.time()
        charges = [
            Charge(
                at=at,
                operation=operation,
                table=cost.table,
                index=cost.index,
                partition_key=cost.partition_key,
                wcu=cost.wcu,
                rcu=cost.rcu,
                throttled=outcome.throttled,
                request_id=request_id,
            )
            for cost in merged(outcome.costs)
        ]
        self.ledger.record(charges, operation=operation)


def _table_named(body: bytes) -> str:
    return str(json.loads(body).get("TableName", ""))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    meter: CapacityMeter


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections
    disable_nagle_algorithm = True  # small answers go out at once, not after the client's delayed ACK
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            outcome = self.server.meter.answer(self.path, list(self.headers.items()), body)
        except Exception:
            log.exception("capacity meter: request failed")
            outcome = json_outcome(*dynamodb_errors.internal_error())
        head = [f"HTTP/1.1 {outcome.status} {_REASONS.get(outcome.status, '')}"]
        head += [f"{name}: {value}" for name, value in outcome.headers if name.lower() not in _HOP_BY_HOP]
        head.append(f"Content-Length: {len(outcome.body)}")
        # one write: status line, headers and body in a single segment
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + outcome.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request
