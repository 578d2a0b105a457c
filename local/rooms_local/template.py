"""Reads template.yaml into typed specs of what the local stack must run.

The SAM template goes through AWS's own transform first (sam_transform.py); what is read here is the
CloudFormation it produces, with intrinsics resolved locally. So a table, queue, function, route or
schedule added there, in any form SAM accepts, shows up locally without touching this package.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .cfn_yaml import load_yaml
from .intrinsics import Resolver, TemplateError, check_rules, parameter_values
from .naming import LocalNaming
from .sam_transform import local_code_path, sam_transform
from .websocket_template import WebSocketApiSpec, is_websocket_api, read_websocket_apis

__all__ = [
    "EventBusSpec",
    "FunctionSpec",
    "HttpApiSpec",
    "HttpRoute",
    "JwtAuthorizerSpec",
    "QueueSpec",
    "Redrive",
    "ScheduleGroupSpec",
    "SqsEventSpec",
    "StreamEventSpec",
    "TableSpec",
    "Template",
    "TemplateError",
    "TemplateSchedule",
    "WebSocketApiSpec",
    "load_template",
]

log = logging.getLogger(__name__)

# Only these are resolved: the rest (roles, policies, tags) may hold what has no local value.
_FUNCTION_KEYS = (
    "Code",
    "Handler",
    "Runtime",
    "Timeout",
    "MemorySize",
    "Environment",
    "Layers",
    "ReservedConcurrentExecutions",
)
_ANY_METHOD = "x-amazon-apigateway-any-method"
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")
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
    scopes: tuple[str, ...] = ()  # SAM writes an authorizer's default scopes into each route
    kind: str = "jwt"


@dataclass(frozen=True)
class HttpApiSpec:
    logical_id: str
    authorizers: dict[str, JwtAuthorizerSpec]  # each route names its own (SAM applied the default)


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
class StreamEventSpec:
    """A function's DynamoDB stream event source mapping (rooms_local.stream_source runs it)."""

    function_id: str
    event_name: str
    table_id: str
    stream_arn: str  # the template's (local) StreamArn, which the records carry as eventSourceARN
    starting_position: str  # TRIM_HORIZON or LATEST
    batch_size: int
    batching_window_s: float
    report_batch_item_failures: bool
    maximum_retry_attempts: int  # -1: until the record leaves the stream
    on_failure_queue_id: str | None  # the template's queue a batch given up on is sent to
    filter_patterns: tuple[str, ...]  # EventBridge-syntax patterns; a record matching none is dropped
    enabled: bool = True


@dataclass(frozen=True)
class EventBusSpec:
    logical_id: str
    name: str
    arn: str


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
    stream_events: tuple[StreamEventSpec, ...] = ()
    schedule_events: tuple[TemplateSchedule, ...] = ()  # its ScheduleV2 events


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
    websocket_apis: dict[str, WebSocketApiSpec] = field(default_factory=dict)
    event_buses: dict[str, EventBusSpec] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # the stack's Outputs that resolve locally

    @property
    def routes(self) -> list[HttpRoute]:
        return [route for spec in self.functions.values() for route in spec.http_routes]

    @property
    def sqs_events(self) -> list[SqsEventSpec]:
        return [event for spec in self.functions.values() for event in spec.sqs_events]

    @property
    def stream_events(self) -> list[StreamEventSpec]:
        return [event for spec in self.functions.values() for event in spec.stream_events]


def load_template(
    path: str | Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    naming: LocalNaming | None = None,
) -> Template:
    """Load a SAM template, transform it as AWS would and resolve it for a local stack named by `naming`."""
    path = Path(path).resolve()
    naming = naming or LocalNaming()
    document = load_yaml(path)
    values = parameter_values(document, parameters or {})
    check_rules(document, Resolver(document, values, naming))
    cloudformation = sam_transform(document, values, naming)
    generated = set(cloudformation.get("Resources") or {}) - set(document.get("Resources") or {})
    resolver = Resolver(cloudformation, values, naming)
    return _Reader(path, cloudformation, resolver, generated, _declaration_order(document)).read()


def _declaration_order(document: Mapping[str, Any]) -> dict[str, int]:
    """The SAM template's logical ids in order, each function followed by its events' (SAM names what it
    makes of one `<FunctionId><EventName>`), so routes, sources and schedules list as declared."""
    order = []
    for logical_id, resource in (document.get("Resources") or {}).items():
        events = (resource.get("Properties") or {}).get("Events")
        order += [logical_id, *(f"{logical_id}{name}" for name in (events if isinstance(events, dict) else ()))]
    return {logical_id: index for index, logical_id in enumerate(order)}


class _Reader:
    """Reads the transformed (CloudFormation) template: `generated` are the resources SAM made, `declared`
    orders them as the SAM template declared what they came from."""

    def __init__(
        self, path: Path, document: dict[str, Any], resolver: Resolver, generated: set[str], declared: dict[str, int]
    ):
        self.path = path
        self.root = path.parent
        self.resolver = resolver
        self.generated = generated
        self.declared = declared
        self.document = document
        self.resources = {
            logical_id: resource
            for logical_id, resource in (document.get("Resources") or {}).items()
            if resolver.enabled(logical_id)
        }

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        found = {key: res for key, res in self.resources.items() if res.get("Type") in types}
        return dict(sorted(found.items(), key=lambda item: self.declared.get(item[0], len(self.declared))))

    def read(self) -> Template:
        queues = {key: self.queue(key, res) for key, res in self.of_type("AWS::SQS::Queue").items()}
        _check_redrive_allowed(queues)
        http_apis = {key: self.http_api(key, res) for key, res in self.of_type("AWS::ApiGatewayV2::Api").items()}
        http_apis = {key: spec for key, spec in http_apis.items() if not is_websocket_api(self.resources[key])}
        functions = {key: self.function(key, res) for key, res in self.of_type("AWS::Lambda::Function").items()}
        websocket_apis = read_websocket_apis(
            self.resources,
            {key: self.attr(key, "Ref") for key in self.resources},
            self.properties,
            lambda uri: _integrated_function(uri, functions),
        )
        schedules = {
            key: self.schedule(key, res, functions) for key, res in self.of_type("AWS::Scheduler::Schedule").items()
        }
        routes = [
            route
            for key, res in self.of_type("AWS::ApiGatewayV2::Api").items()
            if key in http_apis
            for route in self.http_routes(key, res, functions, http_apis[key])
        ]
        routes.sort(key=lambda route: self.declared.get(f"{route.function_id}{route.event_name}", len(self.declared)))
        tables = {key: self.table(key, res) for key, res in self.of_type("AWS::DynamoDB::Table").items()}
        streams = {self.attr(key, "StreamArn"): key for key in tables}
        mappings = self.of_type("AWS::Lambda::EventSourceMapping")
        stream_events = [
            self.stream_event(key, res, streams, queues, functions)
            for key, res in mappings.items()
            if str(self.properties(res, ("EventSourceArn",)).get("EventSourceArn")) in streams
        ]
        sqs_events = [
            event
            for key, res in mappings.items()
            if str(self.properties(res, ("EventSourceArn",)).get("EventSourceArn")) not in streams
            and (event := self.sqs_event(key, res, queues, functions)) is not None
        ]
        functions = {
            key: replace(
                spec,
                http_routes=tuple(route for route in routes if route.function_id == key),
                sqs_events=tuple(event for event in sqs_events if event.function_id == key),
                stream_events=tuple(event for event in stream_events if event.function_id == key),
                schedule_events=tuple(s for s in schedules.values() if s.function_id == key),
            )
            for key, spec in functions.items()
        }
        return Template(
            path=self.path,
            parameters=self.resolver.parameters,
            conditions=self.resolver.conditions(),
            refs={key: str(self.resolver.ref(key)) for key in self.resources},
            tables=tables,
            queues=queues,
            schedule_groups={
                key: ScheduleGroupSpec(key, self.attr(key, "Ref"), self.attr(key, "Arn"))
                for key in self.of_type("AWS::Scheduler::ScheduleGroup")
            },
            functions=functions,
            http_apis=http_apis,
            schedules=schedules,
            websocket_apis=websocket_apis,
            event_buses={
                key: EventBusSpec(key, self.attr(key, "Ref"), self.attr(key, "Arn"))
                for key in self.of_type("AWS::Events::EventBus")
            },
            outputs=self.outputs(),
        )

    def outputs(self) -> dict[str, str]:
        """The Outputs whose condition holds, resolved, execute-api URLs of the template's APIs made local;
        one that cannot be resolved locally is left out."""
        found = {}
        for name, output in (self.document.get("Outputs") or {}).items():
            condition = output.get("Condition")
            if condition is not None and not self.resolver.condition(condition):
                continue
            try:
                found[name] = self.local_urls(_text(self.resolver.resolve(output.get("Value"))))
            except TemplateError as error:
                log.info("output %s has no local value: %s", name, error)
        return found

    def local_urls(self, text: str) -> str:
        """`text` with the AWS URLs of the template's own APIs (`https://<api id>.execute-api.<region>.
        <suffix>`, `wss://` for a WebSocket API's clients) pointed at the local servers that emulate them."""
        return self.resolver.naming.local_api_urls(
            text,
            {
                self.attr(key, "Ref"): is_websocket_api(res)
                for key, res in self.of_type("AWS::ApiGatewayV2::Api").items()
            },
        )

    def attr(self, logical_id: str, attribute: str) -> str:
        return str(self.resolver.get_att(logical_id, attribute))

    def properties(self, resource: Mapping[str, Any], keys: tuple[str, ...] = ()) -> dict[str, Any]:
        """Properties resolved; only `keys` when given (the rest may not resolve)."""
        own = resource.get("Properties") or {}
        if keys:
            own = {key: value for key, value in own.items() if key in keys}
        return self.resolver.resolve(own)

    def logical_id_of(self, value: Any, candidates: Mapping[str, Any], attribute: str) -> str | None:
        """Which of `candidates` a resolved value (a name or an ARN) refers to."""
        return next((key for key in candidates if self.attr(key, attribute) == str(value)), None)

    # ------------------------------------------------------------------ tables
    def table(self, logical_id: str, resource: Mapping[str, Any]) -> TableSpec:
        props = self.properties(resource)
        name = self.attr(logical_id, "Ref")
        ttl = props.get("TimeToLiveSpecification") or {}
        ttl_enabled = str(ttl.get("Enabled", False)).lower() == "true"
        return TableSpec(
            logical_id,
            name,
            self.attr(logical_id, "Arn"),
            _table_kwargs(name, props),
            ttl["AttributeName"] if ttl_enabled else None,
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
            dlq_id = self.logical_id_of(target, self.of_type("AWS::SQS::Queue"), "Arn")
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

    # ------------------------------------------------------------------ functions
    def function(self, logical_id: str, resource: Mapping[str, Any]) -> FunctionSpec:
        props = self.properties(resource, _FUNCTION_KEYS)
        code = local_code_path(props.get("Code"))
        variables = (props.get("Environment") or {}).get("Variables") or {}
        layer_dirs = []
        for arn in props.get("Layers") or []:  # a published layer (an ARN) is expected in the venv
            layer_id = self.logical_id_of(arn, self.of_type("AWS::Lambda::LayerVersion"), "Ref")
            content = (
                local_code_path(self.properties(self.resources[layer_id], ("Content",)).get("Content"))
                if layer_id
                else None
            )
            if content is not None:
                layer_dirs.append((self.root / content).resolve())
        reserved = props.get("ReservedConcurrentExecutions")
        return FunctionSpec(
            logical_id=logical_id,
            name=self.attr(logical_id, "Ref"),
            arn=self.attr(logical_id, "Arn"),
            code_dir=(self.root / code).resolve() if code is not None else None,
            handler=str(props.get("Handler", "")),
            runtime=props.get("Runtime"),
            timeout_s=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            environment={
                key: self.local_urls(self.resolver.dynamic_references(_text(value))) for key, value in variables.items()
            },
            layer_dirs=tuple(layer_dirs),
            reserved_concurrency=None if reserved is None else int(reserved),
        )

    def event_name(self, logical_id: str, function_id: str, suffix: str = "") -> str:
        """SAM names what it makes for an event `<FunctionId><EventName><suffix>`."""
        if logical_id in self.generated and logical_id.startswith(function_id) and logical_id.endswith(suffix):
            return logical_id[len(function_id) : len(logical_id) - len(suffix)]
        return logical_id

    # ------------------------------------------------------------------ SQS event sources
    def sqs_event(
        self,
        logical_id: str,
        resource: Mapping[str, Any],
        queues: Mapping[str, QueueSpec],
        functions: Mapping[str, FunctionSpec],
    ) -> SqsEventSpec | None:
        props = self.properties(resource)
        queue = next((spec for spec in queues.values() if spec.arn == str(props.get("EventSourceArn"))), None)
        if queue is None:
            log.warning("%s: only SQS event sources of the template's queues run locally", logical_id)
            return None
        name = str(props["FunctionName"])
        function_id = next((key for key, spec in functions.items() if name in (spec.name, spec.arn)), None)
        if function_id is None:
            raise TemplateError(f"{logical_id}: function {name} is not declared in the template")
        if props.get("FilterCriteria"):
            log.warning("%s: FilterCriteria is not applied locally; every message reaches the function", logical_id)
        concurrency = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
        batch_size = int(props.get("BatchSize", 10))
        window = float(props.get("MaximumBatchingWindowInSeconds", 0))
        if batch_size > 10 and window < 1:  # Lambda refuses the mapping, so the deployment would fail
            raise TemplateError(
                f"{logical_id}: a BatchSize over 10 needs a MaximumBatchingWindowInSeconds of at least 1"
            )
        return SqsEventSpec(
            function_id=function_id,
            event_name=self.event_name(logical_id, function_id),
            queue_id=queue.logical_id,
            queue_arn=queue.arn,
            batch_size=batch_size,
            batching_window_s=window,
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            maximum_concurrency=None if concurrency is None else int(concurrency),
            enabled=str(props.get("Enabled", True)).lower() == "true",
        )

    # ------------------------------------------------------------------ DynamoDB stream event sources
    def stream_event(
        self,
        logical_id: str,
        resource: Mapping[str, Any],
        streams: Mapping[str, str],
        queues: Mapping[str, QueueSpec],
        functions: Mapping[str, FunctionSpec],
    ) -> StreamEventSpec:
        props = self.properties(resource)
        name = str(props["FunctionName"])
        function_id = next((key for key, spec in functions.items() if name in (spec.name, spec.arn)), None)
        if function_id is None:
            raise TemplateError(f"{logical_id}: function {name} is not declared in the template")
        position = str(props.get("StartingPosition", ""))
        if position not in ("TRIM_HORIZON", "LATEST"):  # Lambda refuses a stream mapping without one
            raise TemplateError(f"{logical_id}: a stream mapping needs a StartingPosition of TRIM_HORIZON or LATEST")
        batch_size = int(props.get("BatchSize", 100))
        if not 1 <= batch_size <= 10000:
            raise TemplateError(f"{logical_id}: a stream mapping's BatchSize is 1 to 10000")
        failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        failure_queue = self.logical_id_of(failure, queues, "Arn") if failure else None
        if failure and failure_queue is None:
            log.warning(
                "%s: only an on-failure destination that is one of the template's queues runs locally", logical_id
            )
        patterns = tuple(str(f["Pattern"]) for f in (props.get("FilterCriteria") or {}).get("Filters") or [])
        for pattern in patterns:
            try:
                json.loads(pattern)
            except ValueError:
                raise TemplateError(f"{logical_id}: a filter pattern is not JSON: {pattern}") from None
        return StreamEventSpec(
            function_id=function_id,
            event_name=self.event_name(logical_id, function_id),
            table_id=streams[str(props["EventSourceArn"])],
            stream_arn=str(props["EventSourceArn"]),
            starting_position=position,
            batch_size=batch_size,
            batching_window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
            on_failure_queue_id=failure_queue,
            filter_patterns=patterns,
            enabled=str(props.get("Enabled", True)).lower() == "true",
        )

    # ------------------------------------------------------------------ schedules
    def schedule(
        self, logical_id: str, resource: Mapping[str, Any], functions: Mapping[str, FunctionSpec]
    ) -> TemplateSchedule:
        props = self.properties(resource)
        if not props.get("ScheduleExpression"):
            raise TemplateError(f"{logical_id}: a schedule needs a ScheduleExpression")
        name = str(props.get("Name") or self.attr(logical_id, "Ref"))
        group = str(props.get("GroupName") or "default")
        target = dict(props.get("Target") or {})
        if "Input" in target and not isinstance(target["Input"], str):
            target["Input"] = json.dumps(target["Input"])
        if target.get("RetryPolicy"):
            target["RetryPolicy"] = {key: int(value) for key, value in target["RetryPolicy"].items()}
        # a ScheduleV2 event is one SAM made; a schedule written as such is no function's event
        function_id = self.logical_id_of(target.get("Arn"), functions, "Arn") if logical_id in self.generated else None
        return TemplateSchedule(
            logical_id=logical_id,
            name=name,
            group=group,
            arn=self.resolver.naming.arn("scheduler", f"schedule/{group}/{name}"),
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

    # ------------------------------------------------------------------ HTTP APIs (their OpenAPI body)
    def http_api(self, logical_id: str, resource: Mapping[str, Any]) -> HttpApiSpec:
        body = self.properties(resource, ("Body",)).get("Body") or {}
        schemes = (body.get("components") or {}).get("securitySchemes") or {}
        authorizers = {
            name: _authorizer(name, scheme["x-amazon-apigateway-authorizer"])
            for name, scheme in schemes.items()
            if "x-amazon-apigateway-authorizer" in scheme
        }
        return HttpApiSpec(logical_id, authorizers)

    def http_routes(
        self, api_id: str, resource: Mapping[str, Any], functions: Mapping[str, FunctionSpec], api: HttpApiSpec
    ) -> list[HttpRoute]:
        body = self.properties(resource, ("Body",)).get("Body") or {}
        permissions = self._route_permissions(api_id)
        routes = []
        for path, operations in (body.get("paths") or {}).items():
            for operation_key, operation in operations.items():
                integration = operation.get("x-amazon-apigateway-integration") if isinstance(operation, dict) else None
                if not integration:
                    continue
                method = "ANY" if operation_key == _ANY_METHOD else operation_key.upper()
                function_id = _integrated_function(str(integration.get("uri", "")), functions)
                if function_id is None:
                    log.warning("%s %s %s: only Lambda proxy integrations run locally", api_id, method, path)
                    continue
                security = operation.get("security") or [{}]
                authorizer, scopes = next(iter(security[0].items()), (None, []))
                if authorizer is not None and authorizer != "NONE" and authorizer not in api.authorizers:
                    raise TemplateError(f"{api_id} {method} {path}: unknown authorizer {authorizer}")
                route_key = "$default" if path == "$default" else f"{method} {path}"
                routes.append(
                    HttpRoute(
                        function_id=function_id,
                        event_name=permissions.get((function_id, method, _PATH_PARAMETER.sub("*", path)), route_key),
                        api_id=api_id,
                        method=method,
                        path=path,
                        authorizer=None if authorizer == "NONE" else authorizer,
                        scopes=tuple(scopes),
                        payload_format_version=str(integration.get("payloadFormatVersion", "2.0")),
                        timeout_ms=int(integration.get("timeoutInMillis", 30_000)),
                    )
                )
        return routes

    def _route_permissions(self, api_id: str) -> dict[tuple[str, str, str], str]:
        """(function, method, path pattern) -> event name, from the permissions SAM made for each event."""
        found = {}
        api = self.attr(api_id, "Ref")
        for key, resource in self.of_type("AWS::Lambda::Permission").items():
            raw = resource.get("Properties") or {}
            function_ref = raw.get("FunctionName")
            if key not in self.generated or not isinstance(function_ref, dict) or "Ref" not in function_ref:
                continue
            source = str(self.properties(resource, ("SourceArn",)).get("SourceArn", ""))
            parts = source.split(":", 5)[-1].split("/", 3)  # <api>/<stage>/<method>/<path>
            if len(parts) == 4 and parts[0] == api:
                function_id = function_ref["Ref"]
                method = "ANY" if parts[2] == "*" else parts[2]
                found[(function_id, method, f"/{parts[3]}")] = self.event_name(key, function_id, "Permission")
        return found


# ---------------------------------------------------------------------- helpers
def _integrated_function(uri: str, functions: Mapping[str, FunctionSpec]) -> str | None:
    """The function of a Lambda proxy integration URI (`...:lambda:path/.../functions/<arn>/invocations`)."""
    return next((key for key, spec in functions.items() if f"/functions/{spec.arn}/invocations" in uri), None)


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


def _authorizer(name: str, config: Mapping[str, Any]) -> JwtAuthorizerSpec:
    """An `x-amazon-apigateway-authorizer` of the OpenAPI body."""
    jwt = config.get("jwtConfiguration") or {}
    audience = jwt.get("audience") or []
    source = config.get("identitySource", "$request.header.Authorization")
    return JwtAuthorizerSpec(
        name=name,
        identity_source=str(source[0] if isinstance(source, list) else source),
        issuer=jwt.get("issuer"),
        audience=tuple(map(str, audience if isinstance(audience, list) else [audience])),
        kind="jwt" if config.get("type") == "jwt" else "lambda",
    )
