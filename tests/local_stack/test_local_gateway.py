"""The local HTTP API: routing, the JWT authorizer and the payload-2.0 event, with in-process fakes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from rooms_local.gateway import Gateway, Router
from rooms_local.http_event import HttpRequest, HttpResponse
from rooms_local.template import HttpRoute, Template, load_template
from rooms_local.tokens import DEFAULT_SECRET, mint_token, secret


class Recorder:
    """An in-process stand-in for a function: records events, answers with `reply(event)`."""

    def __init__(self, reply: Any = None):
        self.events: list[dict[str, Any]] = []
        self.reply = reply or (lambda event: {"statusCode": 200, "body": "ok"})

    def invoke(self, event: Mapping[str, Any]) -> Any:
        self.events.append(dict(event))
        return self.reply(event)


@pytest.fixture
def template(fake_template: Path) -> Template:
    return load_template(fake_template)


@pytest.fixture
def api() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(template: Template, api: Recorder) -> Iterator[Gateway]:
    """Not serving: tests call handle() directly, the HTTP test starts it."""
    gateway = Gateway(template.routes, template.http_apis, {"ApiFunction": api})
    yield gateway
    gateway.stop()


def request(
    method: str,
    target: str,
    *,
    token: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> HttpRequest:
    path, _, query = target.partition("?")
    all_headers = [("Host", "127.0.0.1:1234"), ("User-Agent", "pytest"), *(headers or [])]
    if token is not None:
        all_headers.append(("Authorization", f"Bearer {token}"))
    return HttpRequest(method, path, query, all_headers, body, "127.0.0.9")


def body_of(response: HttpResponse) -> Any:
    return json.loads(response.body)


# ---------------------------------------------------------------------- routing
def _route(method: str, path: str) -> HttpRoute:
    return HttpRoute("F", f"{method} {path}", "Api", method, path, None, ())


def test_router_prefers_literals_then_variables_then_greedy_then_any() -> None:
    router = Router(
        [
            _route("ANY", "/{proxy+}"),
            _route("GET", "/items/{id}"),
            _route("GET", "/items/special"),
            _route("ANY", "/items/{id}"),
            _route("GET", "/items/{id}/{rest+}"),
        ]
    )

    def key(method: str, path: str) -> tuple[str, dict[str, str]]:
        matched = router.match(method, path)
        assert matched is not None
        return matched[0].route_key, matched[1]

    assert key("GET", "/items/special") == ("GET /items/special", {})
    assert key("GET", "/items/a%20b") == ("GET /items/{id}", {"id": "a b"})
    assert key("POST", "/items/7") == ("ANY /items/{id}", {"id": "7"})
    assert key("GET", "/items/7/x/y") == ("GET /items/{id}/{rest+}", {"id": "7", "rest": "x/y"})
    assert key("DELETE", "/other/deep/path") == ("ANY /{proxy+}", {"proxy": "other/deep/path"})
    assert Router([_route("GET", "/a")]).match("POST", "/a") is None


# ---------------------------------------------------------------------- authorizer
def test_missing_token_is_401_and_the_function_is_not_called(gateway: Gateway, api: Recorder) -> None:
    response = gateway.handle(request("GET", "/items/1"))
    assert (response.status, body_of(response)) == (401, {"message": "Unauthorized"})
    assert ("www-authenticate", "Bearer") in response.headers
    assert api.events == []


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param(
            jwt.encode({"sub": "u", "iss": "rooms-local", "aud": "rooms-local", "exp": 2**31}, "x" * 32),
            id="bad-signature",
        ),
        pytest.param(mint_token("u", ttl_seconds=-10), id="expired"),
        pytest.param(mint_token("u", extra_claims={"aud": "someone-else"}), id="wrong-audience"),
        pytest.param(mint_token("u", extra_claims={"iss": "https://elsewhere"}), id="wrong-issuer"),
        pytest.param(mint_token("u", extra_claims={"nbf": int(time.time()) + 600}), id="not-yet-valid"),
        pytest.param(jwt.encode({"sub": "u", "iss": "rooms-local", "aud": "rooms-local"}, secret()), id="no-exp"),
    ],
)
def test_invalid_tokens_are_401(gateway: Gateway, api: Recorder, token: str) -> None:
    response = gateway.handle(request("GET", "/items/1", token=token))
    assert (response.status, body_of(response)) == (401, {"message": "Unauthorized"})
    assert api.events == []


def test_token_without_bearer_prefix_and_cognito_client_id_are_accepted(gateway: Gateway, api: Recorder) -> None:
    token = jwt.encode({"sub": "u", "iss": "rooms-local", "client_id": "rooms-local", "exp": 2**31}, DEFAULT_SECRET)
    response = gateway.handle(request("GET", "/items/1", headers=[("authorization", token)]))
    assert response.status == 200


def test_route_scopes_need_a_matching_scope(gateway: Gateway, api: Recorder) -> None:
    without = gateway.handle(request("DELETE", "/items/1", token=mint_token("u", extra_claims={"scope": "read"})))
    assert (without.status, body_of(without)) == (403, {"message": "Forbidden"})
    with_scope = gateway.handle(
        request("DELETE", "/items/1", token=mint_token("u", extra_claims={"scope": "read admin"}))
    )
    assert with_scope.status == 200
    assert api.events[-1]["requestContext"]["authorizer"]["jwt"]["scopes"] == ["read", "admin"]


def test_public_route_needs_no_token_and_gets_no_authorizer(gateway: Gateway, api: Recorder) -> None:
    response = gateway.handle(request("GET", "/health"))
    assert response.status == 200
    assert "authorizer" not in api.events[0]["requestContext"]


def test_unknown_route_or_method_is_404(gateway: Gateway) -> None:
    for method, path in (("GET", "/nowhere"), ("PUT", "/health"), ("GET", "/items")):
        response = gateway.handle(request(method, path, token=mint_token("u")))
        assert (response.status, body_of(response)) == (404, {"message": "Not Found"})


# ---------------------------------------------------------------------- the event
def test_event_has_the_http_api_v2_shape(gateway: Gateway, api: Recorder) -> None:
    token = mint_token("user-1", extra_claims={"groups": ["hosts", "admins"], "verified": True})
    gateway.handle(
        request(
            "GET",
            "/items/it%201?a=1&b=x%20y&a=2&empty=",
            token=token,
            headers=[("X-Multi", "one"), ("x-multi", "two"), ("Cookie", "c1=v1; c2=v2")],
        )
    )
    (event,) = api.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/it%201"
    assert event["rawQueryString"] == "a=1&b=x%20y&a=2&empty="
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "empty": ""}
    assert event["pathParameters"] == {"item_id": "it 1"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["authorization"] == f"Bearer {token}"
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/items/it%201",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.9",
        "userAgent": "pytest",
    }
    assert context["routeKey"] == event["routeKey"]
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 5
    assert context["time"].endswith("+0000")
    claims = context["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "user-1"
    assert claims["groups"] == "[hosts admins]"  # API Gateway's rendering of a list claim
    assert claims["verified"] == "true"
    assert isinstance(claims["exp"], str) and claims["exp"].isdigit()
    assert context["authorizer"]["jwt"]["scopes"] is None


def test_text_bodies_are_plain_and_binary_ones_base64(gateway: Gateway, api: Recorder) -> None:
    token = mint_token("u")
    gateway.handle(
        request("POST", "/items", token=token, headers=[("content-type", "application/json")], body=b'{"a":1}')
    )
    gateway.handle(request("POST", "/items", token=token, headers=[("content-type", "image/png")], body=b"\x89PNG"))
    text, binary = api.events
    assert (text["body"], text["isBase64Encoded"]) == ('{"a":1}', False)
    assert (base64.b64decode(binary["body"]), binary["isBase64Encoded"]) == (b"\x89PNG", True)


# ---------------------------------------------------------------------- the response
@pytest.mark.parametrize(
    ("result", "status", "headers", "body"),
    [
        ({"statusCode": 201, "headers": {"x-a": "1"}, "body": "made"}, 201, [("x-a", "1")], b"made"),
        ({"statusCode": 200, "cookies": ["a=1", "b=2"]}, 200, [("set-cookie", "a=1"), ("set-cookie", "b=2")], b""),
        (
            {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True},
            200,
            [],
            b"\x00\x01",
        ),
        ({"no": "statusCode"}, 200, [("content-type", "application/json")], b'{"no": "statusCode"}'),
    ],
)
def test_proxy_results_become_http_responses(
    template: Template, result: Any, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    gateway = Gateway(template.routes, template.http_apis, {"ApiFunction": Recorder(lambda event: result)})
    try:
        response = gateway.handle(request("GET", "/health"))
    finally:
        gateway.stop()
    assert response.status == status
    assert response.body == body
    for header in headers:
        assert header in response.headers
    assert any(name == "apigw-requestid" for name, _ in response.headers)


def test_function_errors_are_500_and_slow_ones_503(template: Template) -> None:
    def fail(event: Any) -> Any:
        raise RuntimeError("handler blew up")

    failing = Gateway(template.routes, template.http_apis, {"ApiFunction": Recorder(fail)})
    try:
        response = failing.handle(request("GET", "/health"))
    finally:
        failing.stop()
    assert (response.status, body_of(response)) == (500, {"message": "Internal Server Error"})

    slow_routes = [HttpRoute("ApiFunction", "Slow", "Api", "GET", "/slow", None, (), timeout_ms=100)]
    slow = Gateway(slow_routes, template.http_apis, {"ApiFunction": Recorder(lambda e: time.sleep(1))})
    try:
        response = slow.handle(request("GET", "/slow"))
    finally:
        slow.stop()
    assert (response.status, body_of(response)) == (503, {"message": "Service Unavailable"})


def test_served_over_http_on_loopback(gateway: Gateway, api: Recorder) -> None:
    gateway.start()
    assert gateway.url.startswith("http://127.0.0.1:")
    auth = {"authorization": f"Bearer {mint_token('u')}"}
    with httpx.Client(base_url=gateway.url) as http:
        ok = http.post("/items", json={"id": "1"}, headers=auth)
        chunked = http.post(
            "/items", content=iter([b'{"id":', b'"2"}']), headers={**auth, "content-type": "text/plain"}
        )
        denied = http.post("/items", json={"id": "1"})
        head = http.head("/health")  # routes are per method, as in API Gateway: no HEAD route here
    assert (ok.status_code, ok.text) == (200, "ok")
    assert chunked.status_code == 200
    assert (denied.status_code, denied.json()) == (401, {"message": "Unauthorized"})
    assert (head.status_code, head.content) == (404, b"")
    assert api.events[0]["body"] == '{"id":"1"}'
    assert api.events[0]["headers"]["content-type"] == "application/json"
    assert api.events[1]["body"] == '{"id":"2"}'
    assert "transfer-encoding" in api.events[1]["headers"]


def test_a_function_that_cannot_run_locally_is_500(template: Template) -> None:
    gateway = Gateway(template.routes, template.http_apis, {})
    try:
        response = gateway.handle(request("GET", "/health"))
    finally:
        gateway.stop()
    assert (response.status, body_of(response)) == (500, {"message": "Internal Server Error"})
