"""The local HTTP API: routing, the JWT authorizer and the payload-2.0 event, with in-process fakes."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h11
import httpx
import jwt
import pytest

from rooms_local.gateway import Gateway, Router
from rooms_local.http_event import HttpRequest, HttpResponse, decode_path
from rooms_local.http_server import MAX_BODY_BYTES, MAX_HEAD_BYTES
from rooms_local.lambda_pool import LambdaPool, lambda_environment
from rooms_local.template import HttpRoute, Template, load_template
from rooms_local.tokens import DEFAULT_SECRET, mint_token, secret

FAR_FUTURE = 4_102_444_800  # 2100-01-01: a time no test run reaches, however slow the machine
SAFETY_S = 60.0  # a socket wait that only a broken gateway would reach


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


def _signed(**claims: Any) -> str:
    return jwt.encode({"sub": "u", "iss": "rooms-local", "aud": "rooms-local", **claims}, secret())


# Each token is minted when its test runs, and fails for one reason only (the others are far from
# their limits), so a slow run cannot make a token valid or invalid for another reason.
@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(lambda: "not-a-jwt", "Not enough segments", id="garbage"),
        pytest.param(
            lambda: jwt.encode({"sub": "u", "iss": "rooms-local", "aud": "rooms-local", "exp": FAR_FUTURE}, "x" * 32),
            "Signature verification failed",
            id="bad-signature",
        ),
        pytest.param(lambda: _signed(exp=int(time.time()) - 3600), "Signature has expired", id="expired"),
        pytest.param(lambda: _signed(exp=FAR_FUTURE, aud="someone-else"), "audience not allowed", id="wrong-audience"),
        pytest.param(lambda: _signed(exp=FAR_FUTURE, iss="https://elsewhere"), "Invalid issuer", id="wrong-issuer"),
        pytest.param(lambda: _signed(exp=FAR_FUTURE + 1, nbf=FAR_FUTURE), "not yet valid (nbf)", id="not-yet-valid"),
        pytest.param(lambda: _signed(exp=FAR_FUTURE + 1, iat=FAR_FUTURE), "not yet valid (iat)", id="issued-in-future"),
        pytest.param(_signed, 'Token is missing the "exp" claim', id="no-exp"),
        pytest.param(lambda: _signed(exp=str(FAR_FUTURE)), "exp claim must be a number", id="exp-as-string"),
        pytest.param(lambda: _signed(exp=FAR_FUTURE, nbf="0"), "nbf claim must be a number", id="nbf-as-string"),
        pytest.param(lambda: _signed(exp=FAR_FUTURE, iat="0"), "iat claim must be a number", id="iat-as-string"),
        pytest.param(lambda: _signed(exp=FAR_FUTURE, nbf=True), "nbf claim must be a number", id="nbf-as-boolean"),
    ],
)
def test_invalid_tokens_are_401(gateway: Gateway, api: Recorder, make_token: Callable[[], str], reason: str) -> None:
    response = gateway.handle(request("GET", "/items/1", token=make_token()))
    assert (response.status, body_of(response)) == (401, {"message": "Unauthorized"})
    challenge = dict(response.headers)["www-authenticate"]
    assert reason in challenge
    assert api.events == []


def test_fractional_time_claims_are_numbers_too(gateway: Gateway, api: Recorder) -> None:
    response = gateway.handle(request("GET", "/items/1", token=_signed(exp=FAR_FUTURE + 0.5, iat=1.5)))
    assert response.status == 200


def test_two_authorization_headers_are_one_comma_joined_value_and_no_token(gateway: Gateway, api: Recorder) -> None:
    # GIVEN two valid tokens in two Authorization headers
    first, second = mint_token("first"), mint_token("second")
    headers = [("Authorization", f"Bearer {first}"), ("authorization", f"Bearer {second}")]
    # WHEN the route needs a token
    response = gateway.handle(request("GET", "/items/1", headers=headers))
    # THEN API Gateway reads "Bearer a,Bearer b", which is not a JWT: 401, and no first-wins
    assert (response.status, body_of(response)) == (401, {"message": "Unauthorized"})
    assert api.events == []
    # AND a public route sees the joined value in its event
    gateway.handle(request("GET", "/health", headers=headers))
    assert api.events[0]["headers"]["authorization"] == f"Bearer {first},Bearer {second}"


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
    before = int(time.time() * 1000)
    gateway.handle(
        request(
            "GET",
            "/items/it%201?a=1&b=x%20y&a=2&empty=",
            token=token,
            headers=[("X-Multi", "one"), ("x-multi", "two"), ("Cookie", "c1=v1; c2=v2")],
        )
    )
    after = int(time.time() * 1000) + 1
    (event,) = api.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/it 1"  # HTTP APIs hand Lambda the decoded path
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
        "path": "/items/it 1",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.9",
        "userAgent": "pytest",
    }
    assert context["routeKey"] == event["routeKey"]
    assert context["stage"] == "$default"
    assert context["requestId"]
    assert before <= context["timeEpoch"] <= after
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

    # A function that answers only once the test lets it: past the integration timeout, whatever the load.
    release = threading.Event()
    slow_routes = [HttpRoute("ApiFunction", "Slow", "Api", "GET", "/slow", None, (), timeout_ms=100)]
    slow = Gateway(slow_routes, template.http_apis, {"ApiFunction": Recorder(lambda e: release.wait(SAFETY_S))})
    try:
        response = slow.handle(request("GET", "/slow"))
    finally:
        release.set()
        slow.stop()
    assert (response.status, body_of(response)) == (503, {"message": "Service Unavailable"})


@pytest.mark.parametrize(
    "result",
    [
        pytest.param({"statusCode": "200", "body": "x"}, id="status-as-string"),
        pytest.param({"statusCode": True}, id="status-as-boolean"),
        pytest.param({"statusCode": 99}, id="status-below-200"),
        pytest.param({"statusCode": 700}, id="status-above-599"),
        pytest.param({"statusCode": 200, "body": {"a": 1}}, id="body-not-a-string"),
        pytest.param({"statusCode": 200, "headers": [["x", "1"]]}, id="headers-not-an-object"),
        pytest.param({"statusCode": 200, "headers": {"x": "a\r\nset-cookie: s=1"}}, id="header-injection"),
        pytest.param({"statusCode": 200, "headers": {"bad name": "1"}}, id="header-name-not-a-token"),
        pytest.param({"statusCode": 200, "body": "not base64!", "isBase64Encoded": True}, id="bad-base64"),
        pytest.param({"statusCode": 200, "cookies": "a=1"}, id="cookies-not-a-list"),
    ],
)
def test_results_api_gateway_cannot_use_are_500(template: Template, result: Any) -> None:
    gateway = Gateway(template.routes, template.http_apis, {"ApiFunction": Recorder(lambda event: result)})
    try:
        response = gateway.handle(request("GET", "/health"))
    finally:
        gateway.stop()
    assert (response.status, body_of(response)) == (500, {"message": "Internal Server Error"})


# ---------------------------------------------------------------------- the path, as API Gateway decodes it
@pytest.mark.parametrize(
    ("sent", "raw_path"),
    [
        # Captured from live HTTP APIs: decoded twice, cut at a "?" the first pass reveals.
        ("/capture/plain", "/capture/plain"),
        ("/capture/space%20value", "/capture/space value"),
        ("/capture/question%3Fvalue", "/capture/question"),
        ("/capture/hash%23value", "/capture/hash#value"),
        ("/capture/slash%2Fvalue", "/capture/slash/value"),
        ("/capture/unicode-%CE%BB-%E4%B8%96%E7%95%8C", "/capture/unicode-λ-世界"),
        ("/capture/literal%252Fvalue", "/capture/literal/value"),
        ("/capture/literal%253Fvalue", "/capture/literal?value"),
        ("/capture/literal%2525value", "/capture/literal%value"),
        ("/rooms/r_1/participants/auth0%7Cu1", "/rooms/r_1/participants/auth0|u1"),
    ],
)
def test_the_path_is_decoded_as_http_apis_decode_it(sent: str, raw_path: str) -> None:
    assert decode_path(sent) == raw_path


@pytest.mark.parametrize("path", ["/items/percent%25done", "/items/a%zz", "/items/trailing%", "/items/%FF"])
def test_a_path_that_cannot_be_decoded_is_400_before_routing(gateway: Gateway, api: Recorder, path: str) -> None:
    response = gateway.handle(request("GET", path, token=mint_token("u")))
    assert (response.status, body_of(response)) == (400, {"message": "Bad Request"})
    assert api.events == []


def test_path_parameters_are_decoded_once_and_an_encoded_slash_stays_in_its_segment(
    gateway: Gateway, api: Recorder
) -> None:
    gateway.handle(request("GET", "/items/auth0%7Cu1", token=mint_token("u")))
    gateway.handle(request("GET", "/items/a%2Fb", token=mint_token("u")))
    pipe, slash = api.events
    assert (pipe["routeKey"], pipe["pathParameters"], pipe["rawPath"]) == (
        "GET /items/{item_id}",
        {"item_id": "auth0|u1"},
        "/items/auth0|u1",
    )
    assert (slash["routeKey"], slash["pathParameters"], slash["rawPath"]) == (
        "GET /items/{item_id}",
        {"item_id": "a/b"},
        "/items/a/b",
    )


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


# ---------------------------------------------------------------------- the front door, over raw sockets
# What a client library would refuse to send is written by hand; every answer is API Gateway's JSON.
@pytest.fixture
def served(gateway: Gateway) -> Gateway:
    gateway.start()
    return gateway


def _address(gateway: Gateway) -> tuple[str, int]:
    host, _, port = gateway.url.removeprefix("http://").partition(":")
    return host, int(port)


def exchange(gateway: Gateway, *parts: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `parts` as they are, then read one response."""
    with socket.create_connection(_address(gateway), timeout=SAFETY_S) as sock:
        for part in parts:
            sock.sendall(part)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def _head(request_line: str, *headers: str) -> bytes:
    return "\r\n".join([request_line, "Host: 127.0.0.1", *headers, "", ""]).encode("latin-1")


AUTH = f"Authorization: Bearer {mint_token('u', ttl_seconds=10**9)}"


@pytest.mark.parametrize(
    ("parts", "status", "message"),
    [
        pytest.param(
            [_head("POST /items HTTP/1.1", AUTH, f"Content-Length: {MAX_BODY_BYTES + 1}")],
            413,
            "Request Entity Too Large",
            id="declared-body-over-10MB",
        ),
        pytest.param(
            [_head("POST /items HTTP/1.1", AUTH, "Transfer-Encoding: chunked")]
            + [b"100000\r\n" + b"a" * 0x100000 + b"\r\n"] * 11
            + [b"0\r\n\r\n"],
            413,
            "Request Entity Too Large",
            id="chunked-body-over-10MB",
        ),
        pytest.param(
            [_head("GET /items/1 HTTP/1.1", AUTH, "X-Big: " + "a" * MAX_HEAD_BYTES)],
            431,
            "Request Header Fields Too Large",
            id="headers-over-10240-bytes",
        ),
        pytest.param(
            [_head("GET /items/" + "a" * MAX_HEAD_BYTES + " HTTP/1.1", AUTH)],
            431,
            "Request Header Fields Too Large",
            id="url-over-10240-bytes",
        ),
        pytest.param(
            [_head("GET /items/1 HTTP/1.1", *(f"X-{n}: {'a' * 1000}" for n in range(200)))],
            431,
            "Request Header Fields Too Large",
            id="headers-over-the-parse-buffer",
        ),
        pytest.param(
            [_head("POST /items HTTP/1.1", AUTH, "Content-Length: -1")], 400, "Bad Request", id="negative-length"
        ),
        pytest.param(
            [_head("POST /items HTTP/1.1", AUTH, "Content-Length: ten")], 400, "Bad Request", id="length-not-a-number"
        ),
        pytest.param(
            [_head("POST /items HTTP/1.1", AUTH, "Content-Length: 1", "Content-Length: 2"), b"ab"],
            400,
            "Bad Request",
            id="conflicting-lengths",
        ),
        pytest.param(
            [_head("POST /items HTTP/1.1", AUTH, "Transfer-Encoding: chunked"), b"zz\r\nab\r\n0\r\n\r\n"],
            400,
            "Bad Request",
            id="chunk-size-not-hex",
        ),
        pytest.param(
            [_head("POST /items HTTP/1.1", AUTH, "Transfer-Encoding: chunked"), b"2\r\nabcdef\r\n0\r\n\r\n"],
            400,
            "Bad Request",
            id="chunk-longer-than-its-size",
        ),
        pytest.param(
            [_head("POST /items HTTP/1.1", AUTH, "Transfer-Encoding: gzip")], 400, "Bad Request", id="unknown-coding"
        ),
        pytest.param([b"NOT AN HTTP REQUEST\r\n\r\n"], 400, "Bad Request", id="garbage-request-line"),
        pytest.param([_head("GET /items/1 HTTP/1.1", "Bad Header Without Colon")], 400, "Bad Request", id="bad-header"),
        pytest.param([_head("GET /items/caf\xe9 HTTP/1.1", AUTH)], 400, "Bad Request", id="raw-non-ascii-target"),
        pytest.param([_head("GET /items/a%zz HTTP/1.1", AUTH)], 400, "Bad Request", id="malformed-escape"),
        pytest.param([_head("TRACE /health HTTP/1.1")], 404, "Not Found", id="trace"),
        pytest.param([_head("BREW /health HTTP/1.1")], 404, "Not Found", id="unknown-method"),
    ],
)
def test_malformed_and_oversized_requests_get_api_gateway_json(
    served: Gateway, api: Recorder, parts: list[bytes], status: int, message: str
) -> None:
    answered, headers, body = exchange(served, *parts)
    assert (answered, json.loads(body)) == (status, {"message": message})
    assert headers["content-type"] == "application/json"
    assert api.events == []


def test_the_limits_are_inclusive_and_a_refused_body_still_gets_its_answer(served: Gateway, api: Recorder) -> None:
    auth = {"authorization": f"Bearer {mint_token('u')}", "content-type": "text/plain"}
    with httpx.Client(base_url=served.url, timeout=SAFETY_S) as client:
        # GIVEN a body of exactly 10 MB, and one a byte over it, sent whole by an ordinary client
        at_limit = client.post("/items", content=b"a" * MAX_BODY_BYTES, headers=auth)
        over = client.post("/items", content=b"a" * (MAX_BODY_BYTES + 1), headers=auth)
        # AND headers of exactly the quota
        room = MAX_HEAD_BYTES - len("GET /health HTTP/1.1") - 300
        big_header = client.get("/health", headers={"x-pad": "a" * room})
    # THEN the first reaches the function, the second is refused, and the client reads the refusal
    assert at_limit.status_code == 200
    assert (over.status_code, over.json()) == (413, {"message": "Request Entity Too Large"})
    assert big_header.status_code == 200
    assert [len(event.get("body", "")) for event in api.events] == [MAX_BODY_BYTES, 0]


@pytest.mark.parametrize(
    "partial",
    [
        pytest.param(_head("POST /items HTTP/1.1", AUTH, "Content-Length: 10") + b"abc", id="mid-body"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n", id="mid-headers"),
    ],
)
def test_a_client_that_stops_mid_request_gets_408_not_a_hang(template: Template, api: Recorder, partial: bytes) -> None:
    # The server's idle timeout is short here; the test itself only waits for the answer.
    gateway = Gateway(template.routes, template.http_apis, {"ApiFunction": api}, idle_timeout_s=0.2)
    gateway.start()
    try:
        status, _, body = exchange(gateway, partial)
    finally:
        gateway.stop()
    assert (status, json.loads(body)) == (408, {"message": "Request Timeout"})
    assert api.events == []


def test_expect_100_continue_is_answered_or_refused_before_the_body(served: Gateway, api: Recorder) -> None:
    with socket.create_connection(_address(served), timeout=SAFETY_S) as sock:
        sock.sendall(
            _head(
                "POST /items HTTP/1.1",
                AUTH,
                "Content-Type: application/json",
                "Content-Length: 2",
                "Expect: 100-continue",
            )
        )
        interim = b""
        while b"\r\n\r\n" not in interim and (data := sock.recv(1024)):
            interim += data
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"{}")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200
    status, _, body = exchange(
        served, _head("POST /items HTTP/1.1", AUTH, f"Content-Length: {MAX_BODY_BYTES + 1}", "Expect: 100-continue")
    )
    assert (status, json.loads(body)) == (413, {"message": "Request Entity Too Large"})
    assert [event["body"] for event in api.events] == ["{}"]


def test_keep_alive_serves_pipelined_requests_in_order(served: Gateway, api: Recorder) -> None:
    # GIVEN two requests sent back to back on one connection, the second asking to close it
    with socket.create_connection(_address(served), timeout=SAFETY_S) as sock:
        sock.sendall(_head("GET /health?n=1 HTTP/1.1") + _head("GET /health?n=2 HTTP/1.1", "Connection: close"))
        received = b""
        while data := sock.recv(65536):
            received += data
    # THEN both are answered, in order, on that connection (parsed by h11 as a client would)
    client = h11.Connection(h11.CLIENT)
    client.receive_data(received)
    client.receive_data(b"")
    statuses = []
    for n in (1, 2):
        client.send(h11.Request(method="GET", target=f"/health?n={n}", headers=[("host", "127.0.0.1")]))
        client.send(h11.EndOfMessage())
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Response):
                statuses.append(event.status_code)
        if n == 1:
            client.start_next_cycle()
    assert statuses == [200, 200]
    assert [event["rawQueryString"] for event in api.events] == ["n=1", "n=2"]


# ---------------------------------------------------------------------- Lambda's own payload limits
@pytest.fixture(scope="module")
def pooled(fake_template: Path) -> Iterator[Gateway]:
    """The fake API function in a real instance: its GET route echoes the event it received."""
    template = load_template(fake_template)
    spec = template.functions["ApiFunction"]
    with LambdaPool(spec, lambda_environment(spec, {}), max_instances=1) as pool:
        gateway = Gateway(template.routes, template.http_apis, {"ApiFunction": pool})
        yield gateway
        gateway.stop()


def test_an_event_over_lambdas_6_mb_is_413(pooled: Gateway) -> None:
    # 7 MB is within API Gateway's 10 MB but over Lambda's synchronous request limit.
    body = b"a" * (7 * 1024 * 1024)
    response = pooled.handle(
        request("GET", "/items/1", token=mint_token("u"), headers=[("content-type", "text/plain")], body=body)
    )
    assert (response.status, body_of(response)) == (413, {"message": "Request Entity Too Large"})


def test_a_result_over_lambdas_6_mb_is_500(pooled: Gateway) -> None:
    # A 2 MB body of quotes: a 4 MB event, echoed back escaped twice, is an 8 MB result.
    body = b'"' * (2 * 1024 * 1024)
    headers = [("content-type", "text/plain")]
    response = pooled.handle(request("GET", "/items/1", token=mint_token("u"), headers=headers, body=body))
    assert (response.status, body_of(response)) == (500, {"message": "Internal Server Error"})
    small = pooled.handle(request("GET", "/items/1", token=mint_token("u"), headers=headers, body=b'"'))
    assert small.status == 200  # the same function, under the limit
