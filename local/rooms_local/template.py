"""Reads template.yaml into typed specs of what the local stack must run.

Everything here comes from the template (after SAM Globals and intrinsics), so a table, queue,
function or route added there shows up locally without touching this package.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .cfn_yaml import load_yaml
from .intrinsics import Resolver, TemplateError, check_rules, parameter_values
from .naming import LocalNaming

__all__ = [
    "FunctionSpec",
    "HttpApiSpec",
    "HttpRoute",
    "JwtAuthorizerSpec",
    "QueueSpec",
    "Redrive",
    "ScheduleGroupSpec",
    "SqsEventSpec",
    "TableSpec",
    "Template",
    "TemplateError",
    "TemplateSchedule",
    "load_template",
]

log = logging.getLogger(__name__)

IMPLICIT_HTTP_API = "ServerlessHttpApi"  # what SAM creates for HttpApi events without an ApiId
_FUNCTION_KEYS = (
    "CodeUri",
    "Handler",
    "Runtime",
    "Timeout",
    "MemorySize",
    "Environment",
    "Layers",
    "ReservedConcurrentExecutions",
)
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "SqsManagedSseEnabled",
)


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    arn: str
    create_kwargs: dict[str, Any]  # ready for dynamodb.create_table(**create_kwargs)
    ttl_attribute: str | None


@dataclass(frozen=True)
class Redrive:
    dead_letter_arn: str
    dead_letter_id: str | None  # logical id, when the DLQ is in the template
    max_receive_count: int


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    url: str
    arn: str
    attributes: dict[str, str]  # create_queue attributes, without the redrive policy
    redrive: Redrive | None
    visibility_timeout: int


@dataclass(frozen=True)
class ScheduleGroupSpec:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class TemplateSchedule:
    """An EventBridge Scheduler schedule the template declares: a function's ScheduleV2 event (SAM makes
    it an AWS::Scheduler::Schedule named after the function and the event) or such a resource.

    The local stack creates it in moto, where the scheduler runner finds it with the API's schedules.
    """

    logical_id: str
    name: str
    group: str
    arn: str
    expression: str
    timezone: str
    target: dict[str, Any]  # Arn, RoleArn, Input, RetryPolicy, DeadLetterConfig, as create_schedule takes it
    state: str = "ENABLED"
    start_date: datetime | None = None
    end_date: datetime | None = None
    description: str | None = None
    flexible_time_window: dict[str, Any] = field(default_factory=lambda: {"Mode": "OFF"})
    function_id: str | None = None  # the function whose ScheduleV2 event this is

    def create_kwargs(self) -> dict[str, Any]:
        """Arguments of scheduler.create_schedule."""
        kwargs: dict[str, Any] = {
            "Name": self.name,
            "GroupName": self.group,
            "ScheduleExpression": self.expression,
            "ScheduleExpressionTimezone": self.timezone,
            "FlexibleTimeWindow": self.flexible_time_window,
            "Target": self.target,
            "State": self.state,
        }
        optional = {"StartDate": self.start_date, "EndDate": self.end_date, "Description": self.description}
        kwargs.update({key: value for key, value in optional.items() if value is not None})
        return kwargs


@dataclass(frozen=True)
class JwtAuthorizerSpec:
    name: str
    identity_source: str  # e.g. "$request.header.Authorization"
    issuer: str | None
    audience: tuple[str, ...]
    scopes: tuple[str, ...]  # default AuthorizationScopes of routes using it
    kind: str = "jwt"


@dataclass(frozen=True)
class HttpApiSpec:
    logical_id: str
    default_authorizer: str | None
    authorizers: dict[str, JwtAuthorizerSpec]


@dataclass(frozen=True)
class HttpRoute:
    function_id: str
    event_name: str
    api_id: str
    method: str  # upper case, or "ANY"
    path: str  # "/rooms/{room_id}", or "$default"
    authorizer: str | None  # None for Auth: {Authorizer: NONE} or an API without authorizers
    scopes: tuple[str, ...]
    payload_format_version: str = "2.0"
    timeout_ms: int = 30_000

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsEventSpec:
    function_id: str
    event_name: str
    queue_id: str
    queue_arn: str
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    enabled: bool = True


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    code_dir: Path | None
    handler: str
    runtime: str | None
    timeout_s: int
    memory_mb: int
    environment: dict[str, str]
    layer_dirs: tuple[Path, ...]
    reserved_concurrency: int | None
    http_routes: tuple[HttpRoute, ...] = ()
    sqs_events: tuple[SqsEventSpec, ...] = ()
    schedule_events: tuple[TemplateSchedule, ...] = ()  # its ScheduleV2 events
    other_events: dict[str, str] = field(default_factory=dict)  # event name -> Type, not emulated


@dataclass(frozen=True)
class Template:
    path: Path
    parameters: dict[str, Any]
    conditions: dict[str, bool]
    refs: dict[str, str]  # logical id -> local `Ref` value of every resource that exists
    tables: dict[str, TableSpec]
    queues: dict[str, QueueSpec]
    schedule_groups: dict[str, ScheduleGroupSpec]
    functions: dict[str, FunctionSpec]
    http_apis: dict[str, HttpApiSpec]
    # by logical id: the functions' ScheduleV2 events and the AWS::Scheduler::Schedule resources
    schedules: dict[str, TemplateSchedule] = field(default_factory=dict)

    @property
    def routes(self) -> list[HttpRoute]:
        return [route for spec in self.functions.values() for route in spec.http_routes]

    @property
    def sqs_events(self) -> list[SqsEventSpec]:
        return [event for spec in self.functions.values() for event in spec.sqs_events]


def load_template(
    path: str | Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    naming: LocalNaming | None = None,
) -> Template:
    """Load a SAM template and resolve it for a local stack named by `naming`."""
    path = Path(path).resolve()
    document = load_yaml(path)
    resolver = Resolver(document, parameter_values(document, parameters or {}), naming or LocalNaming())
    check_rules(document, resolver)
    return _Reader(path, document, resolver).read()


class _Reader:
    def __init__(self, path: Path, document: dict[str, Any], resolver: Resolver):
        self.path = path
        self.root = path.parent
        self.globals: dict[str, Any] = document.get("Globals") or {}
        self.resolver = resolver
        self.resources = {
            logical_id: resource
            for logical_id, resource in (document.get("Resources") or {}).items()
            if resolver.enabled(logical_id)
        }

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {key: res for key, res in self.resources.items() if res.get("Type") in types}

    def read(self) -> Template:
        refs = {key: str(self.resolver.ref(key)) for key in self.resources}
        queues = {key: self.queue(key, res) for key, res in self.of_type("AWS::SQS::Queue").items()}
        _check_redrive_allowed(queues)
        http_apis = self.http_apis()
        functions = {
            key: self.function(key, res, queues, http_apis)
            for key, res in self.of_type("AWS::Serverless::Function").items()
        }
        if any(route.api_id == IMPLICIT_HTTP_API for f in functions.values() for route in f.http_routes):
            http_apis.setdefault(IMPLICIT_HTTP_API, HttpApiSpec(IMPLICIT_HTTP_API, None, {}))
        schedules = {event.logical_id: event for spec in functions.values() for event in spec.schedule_events}
        for key, res in self.of_type("AWS::Scheduler::Schedule").items():
            schedules[key] = self.schedule_resource(key, res)
        return Template(
            path=self.path,
            parameters=self.resolver.parameters,
            conditions=self.resolver.conditions(),
            refs=refs,
            tables={
                key: self.table(key, res)
                for key, res in self.of_type("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable").items()
            },
            queues=queues,
            schedule_groups={
                key: ScheduleGroupSpec(key, self.attr(key, "Ref"), self.attr(key, "Arn"))
                for key in self.of_type("AWS::Scheduler::ScheduleGroup")
            },
            functions=functions,
            http_apis=http_apis,
            schedules=schedules,
        )

    def attr(self, logical_id: str, attribute: str) -> str:
        return str(self.resolver.get_att(logical_id, attribute))

    def properties(
        self, resource: Mapping[str, Any], globals_section: str | None = None, keys: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Properties after SAM Globals, resolved; only `keys` when given (the rest may not resolve)."""
        own = resource.get("Properties") or {}
        if globals_section:
            own = _sam_merge(self.globals.get(globals_section) or {}, own)
        if keys:
            own = {key: value for key, value in own.items() if key in keys}
        return self.resolver.resolve(own)

    # ------------------------------------------------------------------ tables
    def table(self, logical_id: str, resource: Mapping[str, Any]) -> TableSpec:
        props = self.properties(resource, "SimpleTable" if "Simple" in resource["Type"] else None)
        name = self.attr(logical_id, "Ref")
        if resource["Type"] == "AWS::Serverless::SimpleTable":
            kwargs = _simple_table_kwargs(name, props)
        else:
            kwargs = _table_kwargs(name, props)
        ttl = props.get("TimeToLiveSpecification") or {}
        ttl_enabled = str(ttl.get("Enabled", False)).lower() == "true"
        return TableSpec(
            logical_id, name, self.attr(logical_id, "Arn"), kwargs, ttl["AttributeName"] if ttl_enabled else None
        )

    # ------------------------------------------------------------------ queues
    def queue(self, logical_id: str, resource: Mapping[str, Any]) -> QueueSpec:
        props = self.properties(resource)
        attributes = {key: _text(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        if "RedriveAllowPolicy" in props:
            attributes["RedriveAllowPolicy"] = _json_text(props["RedriveAllowPolicy"])
        redrive = None
        if props.get("RedrivePolicy"):
            policy = props["RedrivePolicy"]
            policy = json.loads(policy) if isinstance(policy, str) else policy
            target = str(policy["deadLetterTargetArn"])
            dlq_id = next((key for key in self.of_type("AWS::SQS::Queue") if self.attr(key, "Arn") == target), None)
            redrive = Redrive(target, dlq_id, int(policy["maxReceiveCount"]))
        return QueueSpec(
            logical_id=logical_id,
            name=self.attr(logical_id, "QueueName"),
            url=self.attr(logical_id, "QueueUrl"),
            arn=self.attr(logical_id, "Arn"),
            attributes=attributes,
            redrive=redrive,
            visibility_timeout=int(attributes.get("VisibilityTimeout", 30)),
        )

    # ------------------------------------------------------------------ HTTP APIs
    def http_apis(self) -> dict[str, HttpApiSpec]:
        apis = {}
        for logical_id, resource in self.of_type("AWS::Serverless::HttpApi").items():
            auth = self.properties(resource, "HttpApi", ("Auth",)).get("Auth") or {}
            authorizers = {name: _authorizer(name, config) for name, config in (auth.get("Authorizers") or {}).items()}
            apis[logical_id] = HttpApiSpec(logical_id, auth.get("DefaultAuthorizer"), authorizers)
        return apis

    # ------------------------------------------------------------------ functions
    def function(
        self,
        logical_id: str,
        resource: Mapping[str, Any],
        queues: Mapping[str, QueueSpec],
        http_apis: Mapping[str, HttpApiSpec],
    ) -> FunctionSpec:
        props = self.properties(resource, "Function", _FUNCTION_KEYS)
        code_uri = props.get("CodeUri")
        variables = (props.get("Environment") or {}).get("Variables") or {}
        layers = {self.attr(key, "Ref"): key for key in self.of_type("AWS::Serverless::LayerVersion")}
        layer_dirs = tuple(
            (
                self.root / str(self.properties(self.resources[layers[arn]], keys=("ContentUri",))["ContentUri"])
            ).resolve()
            for arn in props.get("Layers") or []
            if arn in layers  # a published layer (ARN) is expected to be installed in the venv
        )
        routes, sqs_events, schedules, others = [], [], [], {}
        # Events stay unresolved here: each kind resolves what it reads.
        raw_events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in raw_events.items():
            if event["Type"] == "HttpApi":
                routes.append(self.http_route(logical_id, event_name, event, http_apis))
            elif event["Type"] == "SQS":
                event_props = self.resolver.resolve(event.get("Properties") or {})
                sqs_events.append(_sqs_event(logical_id, event_name, event_props, queues))
            elif event["Type"] == "ScheduleV2":
                schedules.append(self.schedule_v2(logical_id, event_name, event))
            else:
                others[event_name] = event["Type"]
        reserved = props.get("ReservedConcurrentExecutions")
        return FunctionSpec(
            logical_id=logical_id,
            name=self.attr(logical_id, "Ref"),
            arn=self.attr(logical_id, "Arn"),
            code_dir=(self.root / code_uri).resolve() if isinstance(code_uri, str) else None,
            handler=str(props.get("Handler", "")),
            runtime=props.get("Runtime"),
            timeout_s=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment={key: self.resolver.dynamic_references(_text(value)) for key, value in variables.items()},
            layer_dirs=layer_dirs,
            reserved_concurrency=None if reserved is None else int(reserved),
            http_routes=tuple(routes),
            sqs_events=tuple(sqs_events),
            schedule_events=tuple(schedules),
            other_events=others,
        )

    # ------------------------------------------------------------------ schedules
    def schedule_v2(self, function_id: str, event_name: str, event: Mapping[str, Any]) -> TemplateSchedule:
        """A ScheduleV2 event as SAM expands it: a schedule named `<FunctionId><EventName>` (unless Name
        or OmitName says otherwise) that invokes the function with Input."""
        props = self.resolver.resolve(event.get("Properties") or {})
        logical_id = f"{function_id}{event_name}"
        if props.get("Name"):
            name = str(props["Name"])
        elif str(props.get("OmitName", "")).lower() == "true":
            name = self.resolver.naming.name(logical_id, "AWS::Scheduler::Schedule", {})
        else:
            name = logical_id
        target: dict[str, Any] = {"Arn": self.attr(function_id, "Arn")}
        for key in ("RoleArn", "Input", "RetryPolicy"):
            if props.get(key) is not None:
                target[key] = props[key]
        dead_letter = props.get("DeadLetterConfig") or {}
        if dead_letter.get("Arn"):
            target["DeadLetterConfig"] = {"Arn": str(dead_letter["Arn"])}
        elif dead_letter:
            log.warning("%s.%s: only a DeadLetterConfig with an Arn is emulated", function_id, event_name)
        return self._schedule(logical_id, name, props, target, function_id)

    def schedule_resource(self, logical_id: str, resource: Mapping[str, Any]) -> TemplateSchedule:
        props = self.properties(resource)
        name = str(props.get("Name") or self.attr(logical_id, "Ref"))
        target = dict(props.get("Target") or {})
        return self._schedule(logical_id, name, props, target, None)

    def _schedule(
        self, logical_id: str, name: str, props: Mapping[str, Any], target: dict[str, Any], function_id: str | None
    ) -> TemplateSchedule:
        if not props.get("ScheduleExpression"):
            raise TemplateError(f"{logical_id}: a schedule needs a ScheduleExpression")
        naming = self.resolver.naming
        group = str(props.get("GroupName") or "default")
        target.setdefault("RoleArn", f"arn:aws:iam::{naming.account}:role/{naming.stack}-{logical_id}Role")
        if "Input" in target and not isinstance(target["Input"], str):
            target["Input"] = json.dumps(target["Input"])
        if target.get("RetryPolicy"):
            target["RetryPolicy"] = {key: int(value) for key, value in target["RetryPolicy"].items()}
        return TemplateSchedule(
            logical_id=logical_id,
            name=name,
            group=group,
            arn=naming.arn("scheduler", f"schedule/{group}/{name}"),
            expression=str(props["ScheduleExpression"]),
            timezone=str(props.get("ScheduleExpressionTimezone") or "UTC"),
            target=target,
            state=str(props.get("State") or "ENABLED"),
            start_date=_date(props.get("StartDate")),
            end_date=_date(props.get("EndDate")),
            description=props.get("Description"),
            flexible_time_window=dict(props.get("FlexibleTimeWindow") or {"Mode": "OFF"}),
            function_id=function_id,
        )

    def http_route(
        self, function_id: str, event_name: str, event: Mapping[str, Any], http_apis: Mapping[str, HttpApiSpec]
    ) -> HttpRoute:
        # Read ApiId before resolving it: the logical id is what names the API here.
        raw_api = (event.get("Properties") or {}).get("ApiId")
        api_id = raw_api["Ref"] if isinstance(raw_api, dict) and "Ref" in raw_api else IMPLICIT_HTTP_API
        props = self.resolver.resolve(event.get("Properties") or {})
        api = http_apis.get(api_id, HttpApiSpec(api_id, None, {}))
        auth = props.get("Auth") or {}
        authorizer = auth.get("Authorizer", api.default_authorizer)
        if authorizer == "NONE":
            authorizer = None
        if authorizer is not None and authorizer not in api.authorizers:
            raise TemplateError(f"{function_id}.{event_name}: unknown authorizer {authorizer}")
        default_scopes = api.authorizers[authorizer].scopes if authorizer else ()
        has_path = "Path" in props or "Method" in props
        return HttpRoute(
            function_id=function_id,
            event_name=event_name,
            api_id=api_id,
            method=str(props.get("Method", "ANY")).upper(),
            path=str(props.get("Path", "/{proxy+}")) if has_path else "$default",
            authorizer=authorizer,
            scopes=tuple(auth.get("AuthorizationScopes") or default_scopes),
            payload_format_version=str(props.get("PayloadFormatVersion", "2.0")),
            timeout_ms=int(props.get("TimeoutInMillis", 30_000)),
        )


# ---------------------------------------------------------------------- helpers
def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _date(value: Any) -> datetime | None:
    """A StartDate or EndDate: ISO-8601 text (UTC when it has no offset)."""
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _check_redrive_allowed(queues: Mapping[str, QueueSpec]) -> None:
    """SQS refuses a RedrivePolicy that its dead-letter queue's RedriveAllowPolicy does not allow."""
    by_arn = {queue.arn: queue for queue in queues.values()}
    for queue in queues.values():
        target = by_arn.get(queue.redrive.dead_letter_arn) if queue.redrive else None
        if target is None or "RedriveAllowPolicy" not in target.attributes:
            continue
        policy = json.loads(target.attributes["RedriveAllowPolicy"])
        permission = policy.get("redrivePermission", "allowAll")
        if permission == "denyAll" or (permission == "byQueue" and queue.arn not in policy.get("sourceQueueArns", [])):
            raise TemplateError(
                f"{queue.logical_id}: the RedriveAllowPolicy of {target.logical_id} does not allow it as a source"
            )


def _sam_merge(global_value: Any, own: Any) -> Any:
    """SAM Globals: maps merge, lists concatenate (globals first), the resource wins otherwise."""
    is_intrinsic = isinstance(own, dict) and len(own) == 1 and next(iter(own)).startswith(("Fn::", "Ref"))
    if isinstance(global_value, dict) and isinstance(own, dict) and not is_intrinsic:
        merged = dict(global_value)
        for key, value in own.items():
            merged[key] = _sam_merge(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(own, list):
        return global_value + own
    return own


def _throughput(value: Mapping[str, Any] | None) -> dict[str, int]:
    value = value or {}
    return {
        "ReadCapacityUnits": int(value.get("ReadCapacityUnits", 5)),
        "WriteCapacityUnits": int(value.get("WriteCapacityUnits", 5)),
    }


def _table_kwargs(name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    billing = str(props.get("BillingMode", "PROVISIONED"))
    provisioned = billing == "PROVISIONED"
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": billing,
    }
    if provisioned:
        kwargs["ProvisionedThroughput"] = _throughput(props.get("ProvisionedThroughput"))
    gsis = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
        | ({"ProvisionedThroughput": _throughput(index.get("ProvisionedThroughput"))} if provisioned else {})
        for index in props.get("GlobalSecondaryIndexes") or []
    ]
    if gsis:
        kwargs["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
        for index in props.get("LocalSecondaryIndexes") or []
    ]
    if lsis:
        kwargs["LocalSecondaryIndexes"] = lsis
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return kwargs


def _simple_table_kwargs(name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
    kind = {"String": "S", "Number": "N", "Binary": "B"}[key.get("Type", "String")]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "BillingMode": "PROVISIONED" if props.get("ProvisionedThroughput") else "PAY_PER_REQUEST",
    }
    if props.get("ProvisionedThroughput"):
        kwargs["ProvisionedThroughput"] = _throughput(props["ProvisionedThroughput"])
    return kwargs


def _authorizer(name: str, config: Mapping[str, Any]) -> JwtAuthorizerSpec:
    jwt = config.get("JwtConfiguration")
    audience = (jwt or {}).get("audience") or []
    return JwtAuthorizerSpec(
        name=name,
        identity_source=str(config.get("IdentitySource", "$request.header.Authorization")),
        issuer=(jwt or {}).get("issuer"),
        audience=tuple(map(str, audience if isinstance(audience, list) else [audience])),
        scopes=tuple(config.get("AuthorizationScopes") or ()),
        kind="jwt" if jwt is not None else "lambda",
    )


def _sqs_event(
    function_id: str, event_name: str, props: Mapping[str, Any], queues: Mapping[str, QueueSpec]
) -> SqsEventSpec:
    arn = str(props["Queue"])
    queue = next((spec for spec in queues.values() if spec.arn == arn), None)
    if queue is None:
        raise TemplateError(f"{function_id}.{event_name}: queue {arn} is not declared in the template")
    scaling = props.get("ScalingConfig") or {}
    concurrency = scaling.get("MaximumConcurrency")
    return SqsEventSpec(
        function_id=function_id,
        event_name=event_name,
        queue_id=queue.logical_id,
        queue_arn=arn,
        batch_size=int(props.get("BatchSize", 10)),
        batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        maximum_concurrency=None if concurrency is None else int(concurrency),
        enabled=str(props.get("Enabled", True)).lower() == "true",
    )
