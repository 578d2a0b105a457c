"""SAM features the local stack never coded for work locally, because it runs SAM's own transform."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rooms_local.gateway import Gateway
from rooms_local.http_event import HttpRequest
from rooms_local.template import TemplateError, load_template

# An HTTP API declared OpenAPI-first: /status exists only in the DefinitionBody, /items only as an
# event, which SAM merges into the same body. The hand-written reader ignored DefinitionBody.
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionBody:
        openapi: "3.0.1"
        info: {title: status, version: "1"}
        paths:
          /status:
            get:
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                payloadFormatVersion: "2.0"
                timeoutInMillis: 5000
                uri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/\\
                  ${StatusFunction.Arn}/invocations"
  StatusFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: status/
      Handler: app.handler
      Runtime: python3.11
      Events:
        Items:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /items}
"""


class Recorder:
    """An in-process stand-in for the function: records the events it is invoked with."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: Mapping[str, Any]) -> Any:
        self.events.append(dict(event))
        return {"statusCode": 200, "body": "ok"}


def test_routes_of_an_openapi_definition_body_are_served_locally(tmp_path: Path) -> None:
    # GIVEN a template whose HTTP API declares a route in its OpenAPI DefinitionBody
    (tmp_path / "template.yaml").write_text(textwrap.dedent(TEMPLATE))
    template = load_template(tmp_path / "template.yaml")
    # THEN both the body's route and the event's are routes of the function
    routes = {route.route_key: route for route in template.routes}
    assert set(routes) == {"GET /status", "GET /items"}
    assert routes["GET /status"].timeout_ms == 5000  # the integration's own setting
    assert routes["GET /items"].event_name == "Items"
    # AND the local gateway serves the body's route with the function
    function = Recorder()
    gateway = Gateway(template.routes, template.http_apis, {"StatusFunction": function})
    try:
        response = gateway.handle(HttpRequest("GET", "/status", "", [("Host", "127.0.0.1")], b"", "127.0.0.9"))
    finally:
        gateway.stop()
    assert (response.status, response.body) == (200, b"ok")
    assert [event["routeKey"] for event in function.events] == ["GET /status"]
    assert function.events[0]["requestContext"]["http"]["path"] == "/status"


def test_a_template_sam_rejects_fails_to_load_with_sams_reason(tmp_path: Path) -> None:
    # GIVEN a function SAM cannot deploy (no Runtime for zip code), as `sam validate` would say
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Fn: {Type: AWS::Serverless::Function, Properties: {CodeUri: fn/, Handler: app.handler}}\n"
    )
    # THEN the local stack refuses it for SAM's reason instead of guessing
    with pytest.raises(TemplateError, match="Runtime and Handler needs to be present"):
        load_template(tmp_path / "template.yaml")
