"""Each DynamoDB operation through the meter: forwarded, and billed exactly from the item images.

How the images are known, exactly and cheaply (see images.py for the copy the meter keeps):
- old image: the meter's copy, under the item's lock (read from DynamoDB Local only when the copy is not
  sure, e.g. past the item's TTL);
- new image: PutItem's item; nothing for DeleteItem; UpdateItem's answer, asking for `ALL_NEW` when the
  client asked for no ReturnValues (and stripping it from the answer); otherwise, and for a transaction's
  updates (TransactWriteItems returns no images), one strongly consistent read after the write, still
  under the lock. So a single write costs DynamoDB Local nothing extra, a transaction with updates one
  BatchGetItem;
- reads are billed from the items they return; a Query or Scan with a filter or a projection, and a
  GetItem with a projection, return less than they read: their full items come from the meter's copy or,
  for Query and Scan, from the same read without filter and projection, sent once more (read-committed, as
  DynamoDB's own Query is: an item changed between the two reads is billed at its newer size).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import dynamodb_errors
from .accounting import (
    SCAN_KEY,
    Cost,
    condition_check,
    failed_condition,
    item_read,
    item_write,
    prepared_only,
    range_read,
    replayed,
)
from .faults import CONFLICT, THROTTLE, Draws
from .images import ItemImages
from .prediction import predicted_update
from .schema import KeyTuple, TableSchema, partition_key_text
from .sizes import Item, item_size
from .throttle import Refusal, Throttle
from .upstream import JSON_CONTENT_TYPE, Headers, Upstream

CONDITION_FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"
_TOKEN_WINDOW_S = 600.0  # a ClientRequestToken is valid for 10 minutes after its request finished
_PROJECTING = ("ProjectionExpression", "AttributesToGet")
_NARROWING = ("FilterExpression", "QueryFilter", "ScanFilter", "ConditionalOperator", *_PROJECTING)
_PLACEHOLDERS = re.compile(r"[#:][A-Za-z0-9_]+")
_KEY_CONDITION = re.compile(r"^\(*\s*(#?[A-Za-z0-9_.-]+)\s*=\s*(:[A-Za-z0-9_]+)\s*\)*$")


@dataclass
class Exchange:
    """One request through the meter."""

    operation: str
    path: str
    headers: Headers
    body: bytes
    payload: dict[str, Any]
    fault: str | None = None
    forwarded: bool = False  # set once sent on: from then on, the request may have done something
    answer: _Answer | None = None  # DynamoDB Local's answer, once it came
    touched: list[tuple[str, KeyTuple]] = field(default_factory=list)  # items it writes


@dataclass
class Outcome:
    """The answer, and what it cost (`throttled`: refused, the costs are what it would have used)."""

    status: int
    body: bytes
    headers: Headers = field(default_factory=list)
    costs: list[Cost] = field(default_factory=list)
    throttled: bool = False


@dataclass
class _Answer:
    status: int
    headers: Headers
    body: bytes
    _parsed: dict[str, Any] | None = None

    @property
    def parsed(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = json.loads(self.body) if self.body else {}
        return self._parsed

    @property
    def error(self) -> str:
        """The error code (`__type` after '#'), '' on success."""
        if self.status == 200:
            return ""
        return str(self.parsed.get("__type", "")).rpartition("#")[2]


@dataclass(frozen=True)
class _Target:
    """One item a write touches."""

    schema: TableSchema
    key: KeyTuple
    key_item: Item

    @property
    def lock_key(self) -> tuple[str, KeyTuple]:
        return (self.schema.name, self.key)


def json_outcome(status: int, payload: Mapping[str, Any], **extra: Any) -> Outcome:
    """An answer the meter writes itself (or rewrote): JSON with DynamoDB's CRC32 header."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("x-amz-crc32", str(zlib.crc32(body)))]
    return Outcome(status, body, headers, **extra)


def _rewritten(answer: _Answer, payload: Mapping[str, Any]) -> Outcome:
    outcome = json_outcome(answer.status, payload)
    kept = [(name, value) for name, value in answer.headers if name.lower() not in ("content-type", "x-amz-crc32")]
    outcome.headers = kept + outcome.headers
    return outcome


def _passed(answer: _Answer) -> Outcome:
    return Outcome(answer.status, answer.body, answer.headers)


class Operations:
    """The billing of every data-plane operation; `schema_of(table)` adopts tables on first use."""

    def __init__(
        self,
        upstream: Upstream,
        images: ItemImages,
        schema_of: Callable[[str], TableSchema | None],
        *,
        throttle: Throttle | None = None,
        draws: Draws | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.upstream = upstream
        self.images = images
        self.schema_of = schema_of
        self.throttle = throttle
        self.draws = draws or Draws(None)
        self._clock = clock
        # ClientRequestToken -> (expiry, request digest), oldest first
        self._tokens: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._tokens_lock = threading.Lock()
        self.handlers: dict[str, Callable[[Exchange], Outcome]] = {
            "GetItem": self.get_item,
            "PutItem": self.put_item,
            "UpdateItem": self.update_item,
            "DeleteItem": self.delete_item,
            "BatchGetItem": self.batch_get_item,
            "BatchWriteItem": self.batch_write_item,
            "Query": self.query,
            "Scan": self.scan,
            "TransactWriteItems": self.transact_write_items,
            "TransactGetItems": self.transact_get_items,
        }

    # -------------------------------------------------------------------------------------- helpers
    def forward(self, exchange: Exchange, payload: Mapping[str, Any] | None = None) -> _Answer:
        """Send the request on, as it came or (`payload`) as the meter changed it."""
        body = exchange.body if payload is None else json.dumps(payload).encode()
        exchange.forwarded = True
        status, headers, answer = self.upstream.exchange(exchange.path, exchange.headers, body)
        exchange.answer = _Answer(status, headers, answer)
        return exchange.answer

    def admit(self, exchange: Exchange, predicted: Sequence[Cost]) -> Refusal | None:
        """The throttle's verdict (or an injected throttle, on one of the keys the request touches)."""
        if exchange.fault == THROTTLE and predicted:
            cost = predicted[self.draws.choice(len(predicted))]
            return Refusal(cost.table, cost.index, cost.partition_key, "Write" if cost.wcu else "Read")
        if self.throttle is None:
            return None
        return self.throttle.admit(predicted)

    def locked(self, exchange: Exchange, targets: Sequence[_Target]) -> contextlib.AbstractContextManager[None]:
        """Hold the items' locks; the exchange remembers them, should its outcome be lost."""
        exchange.touched = [target.lock_key for target in targets]
        return self.images.locked(exchange.touched)

    def settle(self, predicted: Sequence[Cost], actual: Sequence[Cost]) -> None:
        if self.throttle is not None:
            self.throttle.settle(predicted, actual)

    def refused(self, refusal: Refusal, predicted: list[Cost]) -> Outcome:
        status, body = dynamodb_errors.throttled(self._schema(refusal.table), refusal.index, refusal.kind)
        return json_outcome(status, body, costs=predicted, throttled=True)

    def _schema(self, table: str) -> TableSchema:
        schema = self.schema_of(table)
        if schema is None:
            raise LookupError(table)
        return schema

    def old_images(self, targets: Iterable[_Target]) -> dict[tuple[str, KeyTuple], Item | None]:
        """The current image of each target (held under its lock by the caller)."""
        images: dict[tuple[str, KeyTuple], Item | None] = {}
        unknown: list[_Target] = []
        for target in targets:
            known, image = self.images.lookup(target.schema.name, target.key)
            if known:
                images[target.lock_key] = image
            else:
                unknown.append(target)
        if unknown:
            images.update(self.read_images(unknown))
        return images

    def read_images(self, targets: Sequence[_Target]) -> dict[tuple[str, KeyTuple], Item | None]:
        """Read these items from DynamoDB Local (consistently) and keep them."""
        found = {
            (table, self._schema(table).key(item)): item
            for table, item in self.upstream.items([(target.schema.name, target.key_item) for target in targets])
        }
        images: dict[tuple[str, KeyTuple], Item | None] = {}
        for target in targets:
            image = found.get(target.lock_key)
            self.images.store(target.schema.name, target.key, image)
            images[target.lock_key] = image
        return images

    def _target(self, table: str, item_or_key: Item) -> _Target:
        schema = self._schema(table)
        return _Target(schema, schema.key(item_or_key), schema.key_attributes(item_or_key))

    def _full_size(self, schema: TableSchema, key_item: Item, returned: Item | None) -> int:
        """The size of the whole item a projected read returned part of (the meter's copy, else a read)."""
        known, image = self.images.lookup(schema.name, schema.key(key_item))
        if not known:
            image = self.upstream.item(schema.name, key_item)
        return item_size(image) if (image is not None or returned is None) else item_size(returned)

    # --------------------------------------------------------------------------------- single writes
    def put_item(self, exchange: Exchange) -> Outcome:
        item = exchange.payload["Item"]
        return self._single_write(exchange, self._target(exchange.payload["TableName"], item), lambda old: item)

    def delete_item(self, exchange: Exchange) -> Outcome:
        target = self._target(exchange.payload["TableName"], exchange.payload["Key"])
        return self._single_write(exchange, target, lambda old: None)

    def update_item(self, exchange: Exchange) -> Outcome:
        target = self._target(exchange.payload["TableName"], exchange.payload["Key"])
        return self._single_write(
            exchange, target, lambda old: predicted_update(old, target.key_item, exchange.payload), update=True
        )

    def _single_write(
        self,
        exchange: Exchange,
        target: _Target,
        predict: Callable[[Item | None], Item | None],
        *,
        update: bool = False,
    ) -> Outcome:
        schema, payload = target.schema, exchange.payload
        asked = payload.get("ReturnValues", "NONE")
        with self.locked(exchange, [target]):
            old = self.old_images([target])[target.lock_key]
            predicted = item_write(schema, target.key_item, old, predict(old), transactional=False)
            refusal = self.admit(exchange, predicted)
            if refusal is not None:
                return self.refused(refusal, predicted)
            inject = update and asked == "NONE"
            try:
                answer = self.forward(exchange, {**payload, "ReturnValues": "ALL_NEW"} if inject else None)
            except BaseException:
                self.images.forget(schema.name, target.key)
                raise
            if answer.status != 200:
                if answer.status >= 500:
                    self.images.forget(schema.name, target.key)
                actual = [failed_condition(schema, target.key_item, old)] if answer.error == CONDITION_FAILED else []
                self.settle(predicted, actual)
                return Outcome(answer.status, answer.body, answer.headers, actual)
            if not update:
                new = predict(old)
            elif asked in ("NONE", "ALL_NEW"):
                new = answer.parsed.get("Attributes")
            else:
                new = self.upstream.item(schema.name, target.key_item)
            self.images.store(schema.name, target.key, new)
        actual = item_write(schema, target.key_item, old, new, transactional=False)
        self.settle(predicted, actual)
        if inject:
            stripped = {name: value for name, value in answer.parsed.items() if name != "Attributes"}
            return self._with_costs(_rewritten(answer, stripped), actual)
        return self._with_costs(_passed(answer), actual)

    @staticmethod
    def _with_costs(outcome: Outcome, costs: list[Cost]) -> Outcome:
        outcome.costs = costs
        return outcome

    # ---------------------------------------------------------------------------------- batch writes
    def batch_write_item(self, exchange: Exchange) -> Outcome:
        entries: list[tuple[str, dict[str, Any], _Target, Item | None]] = []
        for table, requests in exchange.payload["RequestItems"].items():
            for entry in requests:
                if "PutRequest" in entry:
                    item = entry["PutRequest"]["Item"]
                    entries.append((table, entry, self._target(table, item), item))
                else:
                    entries.append((table, entry, self._target(table, entry["DeleteRequest"]["Key"]), None))
        with self.locked(exchange, [target for _, _, target, _ in entries]):
            olds = self.old_images([target for _, _, target, _ in entries])
            admitted: list[tuple[str, dict[str, Any], _Target, Item | None, list[Cost]]] = []
            refused: list[tuple[str, dict[str, Any], list[Cost]]] = []
            refusals: list[Refusal] = []
            for table, entry, target, new in entries:
                predicted = item_write(target.schema, target.key_item, olds[target.lock_key], new, transactional=False)
                refusal = self.admit(exchange, predicted)
                if refusal is None:
                    admitted.append((table, entry, target, new, predicted))
                else:
                    refusals.append(refusal)
                    refused.append((table, entry, predicted))
            if not admitted:
                return self.refused(refusals[0], [cost for *_, predicted in refused for cost in predicted])
            request = exchange.payload
            if refused:
                items: dict[str, list[Any]] = {}
                for table, entry, *_ in admitted:
                    items.setdefault(table, []).append(entry)
                request = {**exchange.payload, "RequestItems": items}
            try:
                answer = self.forward(exchange, request if refused else None)
            except BaseException:
                for _, _, target, *_ in entries:
                    self.images.forget(target.schema.name, target.key)
                raise
            actual: list[Cost] = []
            if answer.status == 200:
                unprocessed = {
                    json.dumps(entry, sort_keys=True)
                    for requests in (answer.parsed.get("UnprocessedItems") or {}).values()
                    for entry in requests
                }
                for _, entry, target, new, _ in admitted:
                    if json.dumps(entry, sort_keys=True) in unprocessed:
                        continue
                    self.images.store(target.schema.name, target.key, new)
                    old = olds[target.lock_key]
                    actual += item_write(target.schema, target.key_item, old, new, transactional=False)
            elif answer.status >= 500:
                for _, _, target, *_ in admitted:
                    self.images.forget(target.schema.name, target.key)
            self.settle([cost for *_, predicted in admitted for cost in predicted], actual)
        if answer.status != 200 or not refused:
            return self._with_costs(_passed(answer), actual)
        parsed = dict(answer.parsed)
        unprocessed_items: dict[str, list[Any]] = dict(parsed.get("UnprocessedItems") or {})
        for table, entry, _ in refused:
            unprocessed_items.setdefault(table, []).append(entry)
        parsed["UnprocessedItems"] = unprocessed_items
        return self._with_costs(_rewritten(answer, parsed), actual)

    # ------------------------------------------------------------------------------------------ reads
    def get_item(self, exchange: Exchange) -> Outcome:
        payload = exchange.payload
        schema = self._schema(payload["TableName"])
        consistent = bool(payload.get("ConsistentRead"))
        predicted = [item_read(schema, payload["Key"], 0, consistent=consistent)]
        refusal = self.admit(exchange, predicted)
        if refusal is not None:
            return self.refused(refusal, predicted)
        answer = self.forward(exchange)
        actual: list[Cost] = []
        if answer.status == 200:
            item = answer.parsed.get("Item")
            projected = any(payload.get(name) for name in _PROJECTING)
            size = self._full_size(schema, payload["Key"], item) if projected and item else item_size(item)
            actual = [item_read(schema, payload["Key"], size, consistent=consistent)]
        self.settle(predicted, actual)
        return self._with_costs(_passed(answer), actual)

    def batch_get_item(self, exchange: Exchange) -> Outcome:
        requested = exchange.payload["RequestItems"]
        admitted: dict[str, dict[str, Any]] = {}
        refused: dict[str, dict[str, Any]] = {}
        refusals: list[Refusal] = []
        predicted_all: list[Cost] = []
        for table, request in requested.items():
            schema = self._schema(table)
            consistent = bool(request.get("ConsistentRead"))
            for key in request["Keys"]:
                predicted = [item_read(schema, key, 0, consistent=consistent)]
                refusal = self.admit(exchange, predicted)
                if refusal is not None:
                    refusals.append(refusal)
                    refused.setdefault(table, {**request, "Keys": []})["Keys"].append(key)
                else:
                    predicted_all += predicted
                    admitted.setdefault(table, {**request, "Keys": []})["Keys"].append(key)
        if not admitted:
            return self.refused(refusals[0], [])
        answer = self.forward(exchange, {**exchange.payload, "RequestItems": admitted} if refused else None)
        actual: list[Cost] = []
        if answer.status == 200:
            unprocessed = answer.parsed.get("UnprocessedKeys") or {}
            for table, request in admitted.items():
                schema = self._schema(table)
                consistent = bool(request.get("ConsistentRead"))
                projected = any(request.get(name) for name in _PROJECTING)
                found = {schema.key(item): item for item in answer.parsed.get("Responses", {}).get(table, [])}
                skipped = {schema.key(key) for key in (unprocessed.get(table) or {}).get("Keys", [])}
                for key in request["Keys"]:
                    if schema.key(key) in skipped:
                        continue
                    item = found.get(schema.key(key))
                    size = self._full_size(schema, key, item) if projected and item else item_size(item)
                    actual.append(item_read(schema, key, size, consistent=consistent))
        self.settle(predicted_all, actual)
        if answer.status != 200 or not refused:
            return self._with_costs(_passed(answer), actual)
        parsed = dict(answer.parsed)
        unprocessed_keys: dict[str, Any] = dict(parsed.get("UnprocessedKeys") or {})
        for table, request in refused.items():
            entry = unprocessed_keys.setdefault(table, {**request, "Keys": []})
            entry["Keys"] = list(entry.get("Keys", [])) + request["Keys"]
        parsed["UnprocessedKeys"] = unprocessed_keys
        return self._with_costs(_rewritten(answer, parsed), actual)

    def query(self, exchange: Exchange) -> Outcome:
        payload = exchange.payload
        schema = self._schema(payload["TableName"])
        index = payload.get("IndexName")
        index_schema = schema.index(index) if index else None
        key_name = index_schema.hash_key if index_schema else None if index else schema.hash_key
        partition_key = _query_partition_key(payload, key_name) if key_name else None
        return self._range_read(exchange, schema, index, partition_key, key_name)

    def scan(self, exchange: Exchange) -> Outcome:
        schema = self._schema(exchange.payload["TableName"])
        return self._range_read(exchange, schema, exchange.payload.get("IndexName"), SCAN_KEY, None)

    def _range_read(
        self,
        exchange: Exchange,
        schema: TableSchema,
        index: str | None,
        partition_key: str | None,
        key_name: str | None,
    ) -> Outcome:
        payload = exchange.payload
        consistent = bool(payload.get("ConsistentRead"))
        predicted = [range_read(schema, index, partition_key or "?", [], consistent=consistent)]
        refusal = self.admit(exchange, predicted if partition_key else [])
        if refusal is not None:
            return self.refused(refusal, predicted)
        answer = self.forward(exchange)
        actual: list[Cost] = []
        if answer.status == 200:
            narrowed = any(payload.get(name) for name in _NARROWING) or payload.get("Select") in (
                "COUNT",
                "SPECIFIC_ATTRIBUTES",
            )
            evaluated = answer.parsed.get("Items", [])
            if narrowed:
                status, probe = self.upstream.call(exchange.operation, _unnarrowed(payload))
                evaluated = probe.get("Items", []) if status == 200 else evaluated
            if partition_key is None:
                partition_key = partition_key_text(evaluated[0][key_name]) if evaluated and key_name else "?"
            actual = [range_read(schema, index, partition_key, map(item_size, evaluated), consistent=consistent)]
        self.settle(predicted if partition_key else [], actual)
        return self._with_costs(_passed(answer), actual)

    def transact_get_items(self, exchange: Exchange) -> Outcome:
        gets = [entry["Get"] for entry in exchange.payload["TransactItems"]]
        schemas = [self._schema(get["TableName"]) for get in gets]
        predicted = [
            item_read(schema, get["Key"], 0, consistent=True, transactional=True)
            for schema, get in zip(schemas, gets, strict=True)
        ]
        if exchange.fault == CONFLICT:
            return self._cancelled_get(gets, schemas, {self.draws.choice(len(gets)): dynamodb_errors.conflict_reason()})
        refusal = self.admit(exchange, predicted)
        if refusal is not None:
            return self._refused_transaction(refusal, predicted, predicted)
        answer = self.forward(exchange)
        actual: list[Cost] = []
        if answer.status == 200:
            for schema, get, response in zip(schemas, gets, answer.parsed.get("Responses", []), strict=False):
                item = response.get("Item")
                projected = bool(get.get("ProjectionExpression"))
                size = self._full_size(schema, get["Key"], item) if projected and item else item_size(item)
                actual.append(item_read(schema, get["Key"], size, consistent=True, transactional=True))
        elif answer.error == CANCELLED:
            actual = self._prepared_reads(gets, schemas)
        self.settle(predicted, actual)
        return self._with_costs(_passed(answer), actual)

    def _prepared_reads(self, gets: Sequence[Mapping[str, Any]], schemas: Sequence[TableSchema]) -> list[Cost]:
        """A cancelled TransactGetItems: each item's prepare read."""
        costs = []
        for schema, get in zip(schemas, gets, strict=True):
            known, image = self.images.lookup(schema.name, schema.key(get["Key"]))
            size = item_size(image) if known else item_size(self.upstream.item(schema.name, get["Key"]))
            costs.append(item_read(schema, get["Key"], size, consistent=True))
        return costs

    def _cancelled_get(
        self, gets: Sequence[Mapping[str, Any]], schemas: Sequence[TableSchema], reasons: Mapping[int, dict[str, Any]]
    ) -> Outcome:
        status, body = dynamodb_errors.cancelled([reasons.get(position) for position in range(len(gets))])
        return json_outcome(status, body, costs=self._prepared_reads(gets, schemas))

    # ----------------------------------------------------------------------------------- transactions
    def transact_write_items(self, exchange: Exchange) -> Outcome:
        actions: list[tuple[str, Mapping[str, Any], _Target]] = []
        for entry in exchange.payload["TransactItems"]:
            ((kind, action),) = entry.items()
            item_or_key = action["Item"] if kind == "Put" else action["Key"]
            actions.append((kind, action, self._target(action["TableName"], item_or_key)))
        targets = [target for _, _, target in actions]
        token = exchange.payload.get("ClientRequestToken")
        with self.locked(exchange, targets):
            olds = self.old_images(targets)
            if token and self._replay(token, exchange.body):
                answer = self.forward(exchange)
                costs = [replayed(t.schema, t.key_item, olds[t.lock_key]) for t in targets]
                return self._with_costs(_passed(answer), costs if answer.status == 200 else [])
            if exchange.fault == CONFLICT:
                position = self.draws.choice(len(actions))
                return self._cancelled_write(actions, olds, {position: dynamodb_errors.conflict_reason()})
            per_item = [self._predicted_action(kind, action, target, olds) for kind, action, target in actions]
            predicted = [cost for costs in per_item for cost in costs]
            refusal = self.admit(exchange, predicted)
            if refusal is not None:
                return self._refused_transaction(refusal, predicted, per_item)
            try:
                answer = self.forward(exchange)
            except BaseException:
                for target in targets:
                    self.images.forget(target.schema.name, target.key)
                raise
            actual: list[Cost] = []
            if answer.status == 200:
                updated = [target for kind, _, target in actions if kind == "Update"]
                news = self.read_images(updated) if updated else {}
                for kind, action, target in actions:
                    old = olds[target.lock_key]
                    if kind == "ConditionCheck":
                        actual.append(condition_check(target.schema, target.key_item, old))
                        continue
                    new = action["Item"] if kind == "Put" else None if kind == "Delete" else news[target.lock_key]
                    if kind != "Update":
                        self.images.store(target.schema.name, target.key, new)
                    actual += item_write(target.schema, target.key_item, old, new, transactional=True)
                if token:
                    self._remember(token, exchange.body)
            elif answer.error == CANCELLED:
                actual = self._prepared_writes(actions, olds)
            elif answer.status >= 500:
                for target in targets:
                    self.images.forget(target.schema.name, target.key)
            self.settle(predicted, actual)
        return self._with_costs(_passed(answer), actual)

    def _predicted_action(
        self, kind: str, action: Mapping[str, Any], target: _Target, olds: Mapping[tuple[str, KeyTuple], Item | None]
    ) -> list[Cost]:
        old = olds[target.lock_key]
        if kind == "ConditionCheck":
            return [condition_check(target.schema, target.key_item, old)]
        if kind == "Put":
            new: Item | None = action["Item"]
        elif kind == "Delete":
            new = None
        else:
            new = predicted_update(old, target.key_item, action)
        return item_write(target.schema, target.key_item, old, new, transactional=True)

    def _prepared_writes(
        self,
        actions: Sequence[tuple[str, Mapping[str, Any], _Target]],
        olds: Mapping[tuple[str, KeyTuple], Item | None],
    ) -> list[Cost]:
        return [
            prepared_only(target.schema, target.key_item, olds[target.lock_key], action.get("Item"))
            for _, action, target in actions
        ]

    def _cancelled_write(
        self,
        actions: Sequence[tuple[str, Mapping[str, Any], _Target]],
        olds: Mapping[tuple[str, KeyTuple], Item | None],
        reasons: Mapping[int, dict[str, Any]],
    ) -> Outcome:
        status, body = dynamodb_errors.cancelled([reasons.get(position) for position in range(len(actions))])
        return json_outcome(status, body, costs=self._prepared_writes(actions, olds))

    def _refused_transaction(
        self, refusal: Refusal, predicted: list[Cost], per_item: Sequence[Cost | Sequence[Cost]]
    ) -> Outcome:
        """TransactionCanceledException: a throttling reason on each item that touches the refused key."""
        schema = self._schema(refusal.table)
        reasons: list[dict[str, Any] | None] = []
        for costs in per_item:
            listed = [costs] if isinstance(costs, Cost) else costs
            refused_key = (refusal.table, refusal.index, refusal.partition_key)
            hit = any((cost.table, cost.index, cost.partition_key) == refused_key for cost in listed)
            reasons.append(dynamodb_errors.throttled_reason(schema, refusal.index) if hit else None)
        status, body = dynamodb_errors.cancelled(reasons)
        return json_outcome(status, body, costs=predicted, throttled=True)

    def _replay(self, token: str, body: bytes) -> bool:
        """Whether this TransactWriteItems repeats one that succeeded within the token's 10 minutes."""
        now = self._clock()
        with self._tokens_lock:
            seen = self._tokens.get(token)
            if seen is None or seen[0] < now:
                return False
            return seen[1] == _digest(body)

    def _remember(self, token: str, body: bytes) -> None:
        now = self._clock()
        with self._tokens_lock:
            while self._tokens and next(iter(self._tokens.values()))[0] < now:
                self._tokens.popitem(last=False)  # expired: tokens are remembered in time order
            self._tokens[token] = (now + _TOKEN_WINDOW_S, _digest(body))
            self._tokens.move_to_end(token)


def _digest(body: bytes) -> bytes:
    return zlib.crc32(body).to_bytes(4, "big") + len(body).to_bytes(8, "big")


def _query_partition_key(payload: Mapping[str, Any], key_name: str) -> str | None:
    """The partition key value a Query names (`key = :value` in its key condition), as text."""
    conditions = payload.get("KeyConditions")
    if conditions and key_name in conditions:
        values = conditions[key_name].get("AttributeValueList") or []
        return partition_key_text(values[0]) if values else None
    expression = payload.get("KeyConditionExpression")
    if not expression:
        return None
    names: Mapping[str, str] = payload.get("ExpressionAttributeNames") or {}
    values_by_name: Mapping[str, Any] = payload.get("ExpressionAttributeValues") or {}
    for clause in re.split(r"\s+AND\s+", str(expression), flags=re.IGNORECASE):
        match = _KEY_CONDITION.match(clause.strip())
        if match and names.get(match.group(1), match.group(1)) == key_name and match.group(2) in values_by_name:
            return partition_key_text(values_by_name[match.group(2)])
    return None


def _unnarrowed(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The same Query or Scan without filter, projection or count: every item it evaluates, whole.

    The page is the same: Limit and the 1 MB page size count evaluated items, before any filter."""
    probe = {name: value for name, value in payload.items() if name not in _NARROWING and name != "Select"}
    probe.pop("ReturnConsumedCapacity", None)
    used = set(_PLACEHOLDERS.findall(str(payload.get("KeyConditionExpression") or "")))
    for field_name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
        kept = {name: value for name, value in (payload.get(field_name) or {}).items() if name in used}
        if kept:
            probe[field_name] = kept
        else:
            probe.pop(field_name, None)
    return probe
