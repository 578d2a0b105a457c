"""How the API reads API Gateway's HTTP event: path parameters exactly as the gateway decoded them, JSON bodies only.

Path parameters. An HTTP API percent-decodes the request path before it builds the event: `rawPath` holds
the decoded path (`/rooms/r_1/participants/auth0|u1`, or `a/b` for a segment sent as `a%2Fb`), and
`pathParameters` the values of the route it matched, decoded too. Powertools matches its routes with a
regex on the path and passes the matched text on as-is, so a decoded `/`, `?` or `#` breaks the match and
a path that arrives still encoded (an emulator, a test) hands `auth0%7Cu1` to the route. Here the path
Powertools matches is rebuilt from the gateway's own route key with every parameter percent-encoded, and
the route receives the gateway's `pathParameters`: decoded once, by the gateway, never again.

Bodies. Powertools also parses form and multipart bodies, and fails with a 500 on some of them; this API
takes JSON objects only: any other media type is a 415, a body too deeply nested to parse is INVALID_JSON,
and a JSON value that is not an object (an array) is a 422 rather than its first element.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from re import Match
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

JSON_MEDIA_TYPE = "application/json"
_VARIABLE = re.compile(r"\{(\w+)\}")


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`; no header -> ``."""
    return (content_type or "").split(";", maxsplit=1)[0].strip().lower()


def with_encoded_path(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event with `rawPath` rebuilt from its route key and percent-encoded path parameters.

    Events without path parameters, or whose route key is not a route of variables (`$default`), pass as they are.
    """
    method, _, template = str(event.get("routeKey", "")).partition(" ")
    parameters = event.get("pathParameters") or {}
    names = _VARIABLE.findall(template)
    if not method or not names or any(name not in parameters for name in names):
        return event
    path = _VARIABLE.sub(lambda found: quote(str(parameters[found.group(1)]), safe=""), template)
    stage = (event.get("requestContext") or {}).get("stage", "$default")
    prefix = "" if stage in ("$default", None) else f"/{stage}"  # Powertools strips a named stage itself
    return {**event, "rawPath": prefix + path}


class JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading the body as a JSON object and nothing else.

    Its `_get_body` is the one place Powertools reads a body (only for routes that take one), and it runs
    before any middleware of ours could, so this is where the media type and the JSON are checked.
    """

    def _get_body(self, app: Any) -> dict[str, Any]:
        event = app.current_event
        kind = media_type(event.headers.get("content-type"))
        if kind not in ("", JSON_MEDIA_TYPE):  # no content-type: the body is still parsed as JSON, strictly
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[{"type": "unsupported_content_type", "loc": ("body",), "msg": kind[:100], "input": {}}],
            )
        try:
            body = event.json_body
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}}]
            ) from None
        if body is not None and not isinstance(body, dict):
            raise RequestValidationError(
                [{"type": "model_type", "loc": ("body",), "msg": "the body must be a JSON object", "input": {}}]
            )
        return body  # type: ignore[return-value]  # None when there is no body, as Powertools' own parser returns


class GatewayResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver, reading path parameters and bodies as described above."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True)
        self._request_validation_middleware = JsonBodyValidation()

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        return super().resolve(with_encoded_path(event), context)

    def _convert_matches_into_route_keys(self, match: Match[str]) -> dict[str, str]:
        decoded = self.current_event.path_parameters
        return {name: decoded.get(name, value) for name, value in match.groupdict().items()}
