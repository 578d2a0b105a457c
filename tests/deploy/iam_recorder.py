"""A pytest plugin that records every AWS call each function's handler makes, as IAM sees it.

`pytest -p tests.deploy.iam_recorder tests/integration` writes {function: [[action, resource ARN], ...]}
to the file named by ROOMS_IAM_RECORD. Calls made outside a handler (test setup) are not recorded.
A transaction or a batch is recorded as the item actions IAM checks for it.
"""

from __future__ import annotations

import contextvars
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import botocore.client
import pytest

ACCOUNT = "123456789012"  # moto's
# functions/<name>/app.py
FUNCTIONS = ("api", "authorizer", "connection", "lifecycle", "overflow_worker", "scheduler", "sweeper")
# the @connections API's operations, each authorised as execute-api:ManageConnections on its method
_CONNECTION_METHODS = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# SQS authorises a batch with the action of one message
_SQS_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)
_calls: dict[str, set[tuple[str, str]]] = {}


def _dynamodb(region: str, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str]]:
    def table(name: str, index: str | None = None) -> str:
        arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            for kind, request in item.items():
                yield f"dynamodb:{_TRANSACT_ACTIONS[kind]}", table(request["TableName"])
    elif operation == "TransactGetItems":
        for item in params["TransactItems"]:
            yield "dynamodb:GetItem", table(item["Get"]["TableName"])
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for name in params["RequestItems"]:
            yield f"dynamodb:{operation}", table(name)
    else:
        yield f"dynamodb:{operation}", table(params["TableName"], params.get("IndexName"))


def _connections(region: str, endpoint: str, operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """https://<api id>.execute-api.<region>.amazonaws.com/<stage>: the resource is the connection's route."""
    url = urlparse(endpoint)
    api_id, stage = url.netloc.split(".")[0], url.path.strip("/")  # netloc keeps the id's case
    method = _CONNECTION_METHODS.get(operation, operation)
    resource = f"arn:aws:execute-api:{region}:{ACCOUNT}:{api_id}/{stage}/{method}/@connections/{params['ConnectionId']}"
    yield "execute-api:ManageConnections", resource


def _resources(
    service: str, region: str, endpoint: str, operation: str, params: dict[str, Any]
) -> Iterator[tuple[str, str]]:
    if service == "execute-api" and "ConnectionId" in params:
        yield from _connections(region, endpoint, operation, params)
    elif service == "dynamodb":
        yield from _dynamodb(region, operation, params)
    elif service == "sqs" and "QueueUrl" in params:
        account, name = urlparse(params["QueueUrl"]).path.strip("/").split("/")[-2:]
        yield f"sqs:{_SQS_BATCH_ACTIONS.get(operation, operation)}", f"arn:aws:sqs:{region}:{account}:{name}"
    elif service == "scheduler" and "Name" in params:
        group = params.get("GroupName") or "default"
        yield f"scheduler:{operation}", f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule/{group}/{params['Name']}"
        if "RoleArn" in params.get("Target", {}):  # handing a role to the Scheduler is a PassRole
            yield "iam:PassRole", params["Target"]["RoleArn"]
    elif service == "events" and operation == "PutEvents":
        for entry in params["Entries"]:
            bus = entry.get("EventBusName") or "default"
            yield (
                "events:PutEvents",
                bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{ACCOUNT}:event-bus/{bus}",
            )
    else:
        yield f"{service}:{operation}", "*"


_make_api_call = botocore.client.BaseClient._make_api_call


def _recording_call(self: Any, operation: str, params: dict[str, Any]) -> Any:
    function = _current.get()
    if function is not None:
        service = self.meta.service_model.signing_name or self.meta.service_model.service_name
        calls = _resources(service, self.meta.region_name, self.meta.endpoint_url, operation, params)
        _calls.setdefault(function, set()).update(calls)
    return _make_api_call(self, operation, params)


botocore.client.BaseClient._make_api_call = _recording_call


def pytest_sessionstart(session: pytest.Session) -> None:
    from tests.conftest import load_function

    for name in FUNCTIONS:
        module = load_function(name)
        handler = module.lambda_handler

        def recorded(event: Any, context: Any, _handler: Any = handler, _name: str = name) -> Any:
            token = _current.set(_name)
            _calls.setdefault(_name, set())  # it ran, even if it calls nothing (the authorizer)
            try:
                return _handler(event, context)
            finally:
                _current.reset(token)

        module.__dict__["lambda_handler"] = recorded


def pytest_sessionfinish(session: pytest.Session) -> None:
    record = {function: sorted(calls) for function, calls in _calls.items()}
    with open(os.environ["ROOMS_IAM_RECORD"], "w", encoding="utf-8") as stream:
        json.dump(record, stream, indent=1)
