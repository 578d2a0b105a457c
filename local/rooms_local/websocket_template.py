"""The template's WebSocket APIs: an AWS::ApiGatewayV2::Api of ProtocolType WEBSOCKET and the Routes,
Integrations, RouteResponses, Authorizers and Stage that name it.

SAM has no WebSocket resource, so these are read as CloudFormation declares them. What the local
WebSocket server does not emulate (IAM authorization, API keys, models, integration responses, other
integration types, route settings) is refused here, at load, rather than silently served differently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .intrinsics import TemplateError

__all__ = [
    "API_TYPE",
    "RequestAuthorizerSpec",
    "WebSocketApiSpec",
    "WebSocketIntegration",
    "WebSocketRoute",
    "WebSocketStageSpec",
    "is_websocket_api",
    "read_websocket_apis",
]

API_TYPE = "AWS::ApiGatewayV2::Api"
_ROUTE = "AWS::ApiGatewayV2::Route"
_INTEGRATION = "AWS::ApiGatewayV2::Integration"
_ROUTE_RESPONSE = "AWS::ApiGatewayV2::RouteResponse"
_AUTHORIZER = "AWS::ApiGatewayV2::Authorizer"
_STAGE = "AWS::ApiGatewayV2::Stage"
_DEPLOYMENT = "AWS::ApiGatewayV2::Deployment"
_NOT_EMULATED = ("AWS::ApiGatewayV2::IntegrationResponse", "AWS::ApiGatewayV2::Model")
_BODY_FIELD = re.compile(r"^\$request\.body\.([A-Za-z0-9_]+)$")
_IDENTITY_SOURCE = re.compile(r"^route\.request\.(querystring|header)\.(.+)$")
_TARGET = re.compile(r"^integrations/(.+)$")
_WEBSOCKET_TIMEOUT_MS = 29_000  # API Gateway's default and maximum integration timeout for WebSocket APIs

# The properties the local server honours (or that change nothing it does: names, logs, tags).
_KNOWN = {
    API_TYPE: {"Name", "Description", "ProtocolType", "RouteSelectionExpression", "Tags", "Version"},
    _ROUTE: {"ApiId", "RouteKey", "Target", "AuthorizationType", "AuthorizerId", "RouteResponseSelectionExpression"}
    | {"OperationName", "ApiKeyRequired"},
    _INTEGRATION: {"ApiId", "IntegrationType", "IntegrationUri", "IntegrationMethod", "TimeoutInMillis"}
    | {"Description", "PayloadFormatVersion", "TemplateSelectionExpression", "RequestTemplates"}
    | {"PassthroughBehavior", "CredentialsArn"},
    _ROUTE_RESPONSE: {"ApiId", "RouteId", "RouteResponseKey"},
    _AUTHORIZER: {"ApiId", "Name", "AuthorizerType", "AuthorizerUri", "IdentitySource", "AuthorizerCredentialsArn"},
    _STAGE: {"ApiId", "StageName", "AutoDeploy", "DeploymentId", "Description", "Tags", "AccessLogSettings"}
    | {"DefaultRouteSettings"},
}
_ROUTE_SETTINGS = {"ThrottlingRateLimit", "ThrottlingBurstLimit", "DataTraceEnabled", "LoggingLevel"} | {
    "DetailedMetricsEnabled"
}


@dataclass(frozen=True)
class WebSocketIntegration:
    logical_id: str
    kind: str  # "AWS_PROXY" (a function) or "MOCK" (absorbed: nothing runs, nothing is sent back)
    function_id: str | None
    timeout_ms: int = _WEBSOCKET_TIMEOUT_MS


@dataclass(frozen=True)
class WebSocketRoute:
    route_key: str  # "$connect", "$disconnect", "$default" or a value of the selection expression
    integration: WebSocketIntegration
    authorizer_id: str | None = None  # logical id of its REQUEST authorizer (AuthorizationType CUSTOM)
    route_response: bool = False  # the integration's answer goes back to the client


@dataclass(frozen=True)
class RequestAuthorizerSpec:
    logical_id: str
    name: str
    function_id: str
    identity_sources: tuple[str, ...]  # e.g. ("route.request.querystring.token",)


@dataclass(frozen=True)
class WebSocketStageSpec:
    name: str
    throttling_rate_limit: float | None = None
    throttling_burst_limit: int | None = None


@dataclass(frozen=True)
class WebSocketApiSpec:
    logical_id: str
    api_id: str  # its local `Ref`
    route_selection_field: str  # the `x` of `$request.body.x`
    routes: dict[str, WebSocketRoute]
    authorizers: dict[str, RequestAuthorizerSpec]
    stage: WebSocketStageSpec

    def route_for(self, route_key: str) -> WebSocketRoute | None:
        return self.routes.get(route_key)


def is_websocket_api(resource: Mapping[str, Any]) -> bool:
    return resource.get("Type") == API_TYPE and (resource.get("Properties") or {}).get("ProtocolType") == "WEBSOCKET"


Resolve = Callable[[Mapping[str, Any]], dict[str, Any]]  # a resource's properties, resolved
FunctionOf = Callable[[str], str | None]  # the function a `.../functions/<arn>/invocations` URI invokes


def read_websocket_apis(
    resources: Mapping[str, Mapping[str, Any]], refs: Mapping[str, str], resolve: Resolve, function_of: FunctionOf
) -> dict[str, WebSocketApiSpec]:
    """Every WebSocket API of `resources` (the enabled ones, by logical id); `refs` maps logical ids to
    their local `Ref`. Raises TemplateError for what the local server would not serve as AWS does."""
    apis = {key: res for key, res in resources.items() if is_websocket_api(res)}
    if len(apis) > 1:
        raise TemplateError(f"{', '.join(apis)}: the local stack serves one WebSocket API, not {len(apis)}")
    by_ref = {refs[key]: key for key in apis}
    members: dict[str, dict[str, list[tuple[str, dict[str, Any]]]]] = {key: {} for key in apis}
    for key, resource in resources.items():
        kind = str(resource.get("Type", ""))
        if kind not in (_ROUTE, _INTEGRATION, _ROUTE_RESPONSE, _AUTHORIZER, _STAGE, _DEPLOYMENT, *_NOT_EMULATED):
            continue
        props = resolve(resource)
        api_key = by_ref.get(str(props.get("ApiId", "")))
        if api_key is None:
            continue  # an HTTP API's (SAM makes a Stage for each)
        if kind in _NOT_EMULATED:
            raise TemplateError(f"{key}: {kind} is not emulated by the local WebSocket API")
        unknown = set(props) - _KNOWN.get(kind, set(props))
        if unknown:
            raise TemplateError(f"{key}: {kind} {', '.join(sorted(unknown))} not emulated by the local WebSocket API")
        members[api_key].setdefault(kind, []).append((key, props))
    return {key: _api(key, resolve(api), refs, members[key], function_of) for key, api in apis.items()}


def _api(
    logical_id: str,
    resource: dict[str, Any],
    refs: Mapping[str, str],
    members: Mapping[str, list[tuple[str, dict[str, Any]]]],
    function_of: FunctionOf,
) -> WebSocketApiSpec:
    unknown = set(resource) - _KNOWN[API_TYPE]
    if unknown:
        raise TemplateError(f"{logical_id}: {', '.join(sorted(unknown))} not emulated by the local WebSocket API")
    expression = str(resource.get("RouteSelectionExpression", ""))
    selection = _BODY_FIELD.match(expression)
    if selection is None:
        raise TemplateError(f"{logical_id}: only a RouteSelectionExpression $request.body.<field> runs locally")
    integrations = {key: _integration(key, props, function_of) for key, props in members.get(_INTEGRATION, [])}
    authorizers = {key: _authorizer(key, props, function_of) for key, props in members.get(_AUTHORIZER, [])}
    with_response = {
        str(props["RouteId"]): _route_response(key, props) for key, props in members.get(_ROUTE_RESPONSE, [])
    }
    routes: dict[str, WebSocketRoute] = {}
    for key, props in members.get(_ROUTE, []):
        route = _route(key, props, refs, integrations, authorizers, has_response=refs[key] in with_response)
        if route.route_key in routes:
            raise TemplateError(f"{key}: a second route {route.route_key}")
        routes[route.route_key] = route
    stages = members.get(_STAGE, [])
    if len(stages) != 1:
        raise TemplateError(f"{logical_id}: the local WebSocket API serves exactly one Stage, found {len(stages)}")
    return WebSocketApiSpec(
        logical_id=logical_id,
        api_id=refs[logical_id],
        route_selection_field=selection.group(1),
        routes=routes,
        authorizers=authorizers,
        stage=_stage(*stages[0]),
    )


def _integration(logical_id: str, props: Mapping[str, Any], function_of: FunctionOf) -> WebSocketIntegration:
    kind = str(props.get("IntegrationType", ""))
    timeout_ms = int(props.get("TimeoutInMillis", _WEBSOCKET_TIMEOUT_MS))
    if kind == "MOCK":
        return WebSocketIntegration(logical_id, kind, None, timeout_ms)
    if kind != "AWS_PROXY":
        raise TemplateError(f"{logical_id}: only AWS_PROXY (Lambda) and MOCK integrations run locally, not {kind}")
    if props.get("RequestTemplates"):
        raise TemplateError(f"{logical_id}: RequestTemplates of an AWS_PROXY integration are not emulated")
    function_id = function_of(str(props.get("IntegrationUri", "")))
    if function_id is None:
        raise TemplateError(f"{logical_id}: IntegrationUri names no function of the template")
    return WebSocketIntegration(logical_id, kind, function_id, timeout_ms)


def _authorizer(logical_id: str, props: Mapping[str, Any], function_of: FunctionOf) -> RequestAuthorizerSpec:
    if props.get("AuthorizerType") != "REQUEST":
        raise TemplateError(f"{logical_id}: a WebSocket API's authorizer is REQUEST, not {props.get('AuthorizerType')}")
    function_id = function_of(str(props.get("AuthorizerUri", "")))
    if function_id is None:
        raise TemplateError(f"{logical_id}: AuthorizerUri names no function of the template")
    sources = props.get("IdentitySource") or []
    sources = [sources] if isinstance(sources, str) else sources
    for source in sources:
        if not _IDENTITY_SOURCE.match(str(source)):
            raise TemplateError(
                f"{logical_id}: identity source {source} is not emulated (query strings and headers are)"
            )
    return RequestAuthorizerSpec(logical_id, str(props.get("Name", logical_id)), function_id, tuple(map(str, sources)))


def _route_response(logical_id: str, props: Mapping[str, Any]) -> str:
    if props.get("RouteResponseKey") != "$default":
        raise TemplateError(f"{logical_id}: only the $default route response is emulated")
    return logical_id


def _route(
    logical_id: str,
    props: Mapping[str, Any],
    refs: Mapping[str, str],
    integrations: Mapping[str, WebSocketIntegration],
    authorizers: Mapping[str, RequestAuthorizerSpec],
    *,
    has_response: bool,
) -> WebSocketRoute:
    route_key = str(props.get("RouteKey", ""))
    if str(props.get("ApiKeyRequired", False)).lower() == "true":
        raise TemplateError(f"{logical_id}: API keys are not emulated")
    target = _TARGET.match(str(props.get("Target", "")))
    integration = next((spec for key, spec in integrations.items() if target and refs[key] == target.group(1)), None)
    if integration is None:
        raise TemplateError(f"{logical_id}: route {route_key} has no Target integrations/<an integration of its API>")
    expression = props.get("RouteResponseSelectionExpression")
    if expression not in (None, "$default"):
        raise TemplateError(f"{logical_id}: only RouteResponseSelectionExpression $default is emulated")
    if has_response and integration.kind == "MOCK":
        raise TemplateError(f"{logical_id}: a route response of a MOCK integration is not emulated")
    authorization = str(props.get("AuthorizationType", "NONE"))
    authorizer_id = None
    if authorization == "CUSTOM":
        if route_key != "$connect":
            raise TemplateError(f"{logical_id}: only $connect takes an authorizer")
        authorizer_id = next((key for key in authorizers if refs[key] == str(props.get("AuthorizerId"))), None)
        if authorizer_id is None:
            raise TemplateError(f"{logical_id}: AuthorizerId names no authorizer of its API")
    elif authorization != "NONE":
        raise TemplateError(f"{logical_id}: AuthorizationType {authorization} is not emulated (NONE and CUSTOM are)")
    return WebSocketRoute(route_key, integration, authorizer_id, has_response)


def _stage(logical_id: str, props: Mapping[str, Any]) -> WebSocketStageSpec:
    settings = props.get("DefaultRouteSettings") or {}
    unknown = set(settings) - _ROUTE_SETTINGS
    if unknown:
        raise TemplateError(f"{logical_id}: DefaultRouteSettings {', '.join(sorted(unknown))} not emulated")
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    return WebSocketStageSpec(
        name=str(props["StageName"]),
        throttling_rate_limit=None if rate is None else float(rate),
        throttling_burst_limit=None if burst is None else int(burst),
    )
