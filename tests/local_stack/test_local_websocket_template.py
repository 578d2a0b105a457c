"""The template's WebSocket API as the local stack reads it: the real template.yaml, the test template,
and each feature the local server does not emulate refused at load."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rooms_local.cfn_yaml import load_yaml
from rooms_local.intrinsics import TemplateError
from rooms_local.naming import LocalNaming
from rooms_local.template import load_template

REAL_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TEST_TEMPLATE = Path(__file__).parent / "data" / "websocket" / "template.yaml"
NAMING = LocalNaming(
    stack="t",
    api_endpoint="http://127.0.0.1:9000",
    websocket_endpoint="ws://127.0.0.1:9001",
    connections_endpoint="http://127.0.0.1:9002",
)


def test_the_real_templates_websocket_api_is_read() -> None:
    template = load_template(REAL_TEMPLATE, naming=NAMING)
    api = template.websocket_apis["WebSocketApi"]
    assert "WebSocketApi" not in template.http_apis  # served by the WebSocket server, not the gateway
    assert (api.api_id, api.route_selection_field, api.stage.name) == ("t-WebSocketApi", "action", "dev")
    assert set(api.routes) == {"$connect", "$disconnect", "$default", "ping"}
    connect = api.routes["$connect"]
    assert (connect.integration.kind, connect.integration.function_id) == ("AWS_PROXY", "ConnectionFunction")
    authorizer = api.authorizers[connect.authorizer_id or ""]
    assert (authorizer.function_id, authorizer.identity_sources) == (
        "AuthorizerFunction",
        ("route.request.querystring.token",),
    )
    assert api.routes["$default"].route_response and not api.routes["$disconnect"].route_response
    assert (api.routes["ping"].integration.kind, api.routes["ping"].route_response) == ("MOCK", False)
    assert api.routes["$disconnect"].authorizer_id is None
    assert (api.stage.throttling_rate_limit, api.stage.throttling_burst_limit) == (2000.0, 1000)


def test_the_execute_api_urls_of_the_templates_apis_are_the_local_servers() -> None:
    template = load_template(REAL_TEMPLATE, naming=NAMING)
    # the functions' @connections endpoint (https://) and the clients' URL (wss://), with the stage path
    for spec in template.functions.values():
        if "ROOMS_WEBSOCKET_ENDPOINT" in spec.environment:
            assert spec.environment["ROOMS_WEBSOCKET_ENDPOINT"] == "http://127.0.0.1:9002/dev"
    assert template.outputs["WebSocketUrl"] == "ws://127.0.0.1:9001/dev"
    assert template.outputs["ApiUrl"] == "http://127.0.0.1:9000"  # the HTTP API's, on the gateway
    assert NAMING.local_api_urls("https://other.execute-api.us-east-1.amazonaws.com/x", {"t-Api": True}) == (
        "https://other.execute-api.us-east-1.amazonaws.com/x"  # not the template's: left alone
    )


def test_the_local_issuer_parameters_point_the_authorizer_at_the_local_jwks() -> None:
    parameters = {"JwtIssuer": "rooms-local", "JwtAudience": "rooms-local", "JwksUrl": "http://127.0.0.1:9000/jwks"}
    env = load_template(REAL_TEMPLATE, parameters=parameters, naming=NAMING).functions["AuthorizerFunction"].environment
    assert (env["ROOMS_JWT_ISSUER"], env["ROOMS_JWT_AUDIENCE"], env["ROOMS_JWKS_URL"]) == (
        "rooms-local",
        "rooms-local",
        "http://127.0.0.1:9000/jwks",
    )


def test_the_test_template_is_read_like_the_real_one() -> None:
    api = load_template(TEST_TEMPLATE, naming=NAMING).websocket_apis["WebSocketApi"]
    assert set(api.routes) == {"$connect", "$disconnect", "$default", "quiet", "ping"}
    assert api.stage.name == "live"


# ---------------------------------------------------------------------- what is refused at load
def _resources(document: dict[str, Any]) -> dict[str, Any]:
    return document["Resources"]


def _props(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda document: _resources(document)[name]["Properties"]


def _second_stage(document: dict[str, Any]) -> None:
    _resources(document)["OtherStage"] = copy.deepcopy(_resources(document)["Stage"])
    _resources(document)["OtherStage"]["Properties"]["StageName"] = "other"


def _second_api(document: dict[str, Any]) -> None:
    _resources(document)["OtherApi"] = copy.deepcopy(_resources(document)["WebSocketApi"])


def _integration_response(document: dict[str, Any]) -> None:
    _resources(document)["Answer"] = {
        "Type": "AWS::ApiGatewayV2::IntegrationResponse",
        "Properties": {
            "ApiId": {"Ref": "WebSocketApi"},
            "IntegrationId": {"Ref": "PingIntegration"},
            "IntegrationResponseKey": "$default",
        },
    }


def _mock_with_response(document: dict[str, Any]) -> None:
    _resources(document)["PingResponse"] = {
        "Type": "AWS::ApiGatewayV2::RouteResponse",
        "Properties": {
            "ApiId": {"Ref": "WebSocketApi"},
            "RouteId": {"Ref": "PingRoute"},
            "RouteResponseKey": "$default",
        },
    }


def _set(resource: str, **values: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda document: _props(resource)(document).update(values)


_OTHER_FUNCTION = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:x"
REFUSED: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("header route selection", _set("WebSocketApi", RouteSelectionExpression="$request.header.x"), "RouteSelection"),
    ("IAM authorization", _set("DisconnectRoute", AuthorizationType="AWS_IAM"), "AWS_IAM"),
    (
        "an authorizer off $connect",
        _set("DefaultRoute", AuthorizationType="CUSTOM", AuthorizerId={"Ref": "Authorizer"}),
        "only \\$connect",
    ),
    ("an HTTP integration", _set("Integration", IntegrationType="HTTP_PROXY"), "HTTP_PROXY"),
    ("another function", _set("Integration", IntegrationUri=f"{_OTHER_FUNCTION}/invocations"), "names no function"),
    ("a JWT authorizer", _set("Authorizer", AuthorizerType="JWT"), "REQUEST"),
    ("a context identity source", _set("Authorizer", IdentitySource=["context.x"]), "identity source"),
    ("API keys", _set("DefaultRoute", ApiKeyRequired=True), "API keys"),
    ("request models", _set("DefaultRoute", RequestModels={"$default": "m"}), "RequestModels"),
    ("route settings", _set("Stage", RouteSettings={}), "RouteSettings"),
    ("a non-default route response", _set("DefaultRouteResponse", RouteResponseKey="ok"), "route response"),
    ("a missing target", lambda d: _props("QuietRoute")(d).pop("Target"), "no Target"),
    ("two stages", _second_stage, "exactly one Stage"),
    ("two WebSocket APIs", _second_api, "one WebSocket API"),
    ("an integration response", _integration_response, "IntegrationResponse"),
    ("a MOCK route with a route response", _mock_with_response, "MOCK"),
]


@pytest.mark.parametrize(("change", "message"), [(c, m) for _, c, m in REFUSED], ids=[name for name, _, _ in REFUSED])
def test_what_the_local_websocket_api_does_not_emulate_fails_at_load(
    tmp_path: Path, change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    document = load_yaml(TEST_TEMPLATE)
    change(document)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(document))
    with pytest.raises(TemplateError, match=message):
        load_template(path, naming=NAMING)
