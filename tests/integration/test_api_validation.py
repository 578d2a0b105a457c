"""Bad input through the API function: media types, JSON, strict bodies, titles, path parameters, the document.

Each answer is a 4xx in the one error shape, documented for its operation in the OpenAPI document.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import ROOT, LambdaContext, api_event, load_function

CallApi = Callable[..., tuple[int, Any]]
ROOM = {"title": "Good Time", "capacity": 5}
SHOW = {
    "title": "Good Time Show",
    "starts_at": "2030-11-26T20:00:00+01:00",
    "ends_at": "2030-11-26T22:00:00+01:00",
    "timezone": "Europe/Paris",
    "capacity": 50,
}
# every route that reads a body
BODY_ROUTES = ["create_room", "join_room", "create_event", "update_event"]
SPEC = json.loads((ROOT / "docs" / "openapi.json").read_text())


def invoke(event: dict[str, Any], context: LambdaContext) -> tuple[int, dict[str, str], Any]:
    """The API function's answer to `event`, checked against the committed document for its operation."""
    response = load_function("api").lambda_handler(event, context)
    status, headers = response["statusCode"], response.get("headers") or {}
    body = json.loads(response["body"]) if response.get("body") else None
    assert_documented(event["routeKey"], status, body)
    return status, headers, body


def assert_documented(route_key: str, status: int, body: Any) -> None:
    method, _, path = route_key.partition(" ")
    if path == "/openapi.json":
        return
    responses = SPEC["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{route_key} answers {status}, which its document does not list"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": SPEC["components"]}).validate(body)


@pytest.fixture
def send(aws: dict[str, str], lambda_context: LambdaContext) -> Callable[..., tuple[int, dict[str, str], Any]]:
    """Send a sample event with changes: api_event's arguments plus `content_type` and `base64`."""

    def call(
        sample: str, *, content_type: str | None = "application/json", base64_body: bool = False, **changes: Any
    ) -> tuple[int, dict[str, str], Any]:
        event = api_event(sample, **changes)
        if content_type is None:
            event["headers"].pop("content-type", None)
        else:
            event["headers"]["content-type"] = content_type
        if base64_body:
            event["body"] = base64.b64encode(event["body"].encode("latin-1")).decode()
            event["isBase64Encoded"] = True
        return invoke(event, lambda_context)

    return call


def create_room(call_api: CallApi, host: str = "host-bob") -> str:
    status, body = call_api("create_room", sub=host, body=ROOM)
    assert status == 201, body
    return str(body["room_id"])


# ------------------------------------------------------------------ media types (issue 8, item 5)
@pytest.mark.parametrize(
    ("content_type", "raw", "encoded"),
    [
        ("text/plain", "hello", False),
        ("application/xml", "<room><title>x</title></room>", False),
        ("application/octet-stream", "\x00\x01binary", True),
        ("multipart/form-data", "--x\r\n\r\n", True),  # no boundary
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--x--',
            True,
        ),
        ("application/x-www-form-urlencoded", "title=x&capacity=5", False),
        ("text/json", json.dumps(ROOM), False),
    ],
)
@pytest.mark.parametrize("sample", BODY_ROUTES)
def test_a_body_that_is_not_json_is_a_415(
    send: Callable[..., Any], sample: str, content_type: str, raw: str, encoded: bool
) -> None:
    # GIVEN a body sent as something other than application/json
    status, headers, body = send(sample, raw_body=raw, content_type=content_type, base64_body=encoded)
    # THEN it is refused as a media type, never parsed, never a 500
    assert status == 415, body
    assert body["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE" and body["error"]["field"] == "body"
    assert headers["Accept"] == "application/json"


@pytest.mark.parametrize("content_type", [None, "application/json; charset=utf-8", "Application/JSON"])
def test_a_json_body_is_read_with_or_without_its_content_type(
    send: Callable[..., Any], content_type: str | None
) -> None:
    # a request without Content-Type is read as JSON, strictly: nothing is guessed from it
    status, _, room = send("create_room", body=ROOM, content_type=content_type)
    assert status == 201 and room["title"] == "Good Time"
    status, _, body = send("create_room", raw_body="title=x", content_type=content_type)
    assert status == 400 and body["error"]["code"] == "INVALID_JSON"


# ------------------------------------------------------------------ JSON (item 6)
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 1000 + "]" * 1000,
        '{"a":' * 1000 + "1" + "}" * 1000,
        '{"title": "x", "capacity": 5, "metadata": ' + '{"a":' * 5000 + '"b"' + "}" * 5001,
    ],
    ids=["array", "object", "in-a-field"],
)
@pytest.mark.parametrize("sample", BODY_ROUTES)
def test_json_nested_too_deep_is_invalid_json(send: Callable[..., Any], sample: str, raw: str) -> None:
    status, _, body = send(sample, raw_body=raw)
    assert status == 400 and body["error"]["code"] == "INVALID_JSON" and body["error"]["field"] == "body"


def test_a_body_that_is_not_utf8_json_is_invalid_json(send: Callable[..., Any]) -> None:
    status, _, body = send("create_room", raw_body="\xff\xfe{}", base64_body=True)
    assert status == 400 and body["error"]["code"] == "INVALID_JSON"


def test_deep_json_that_parses_is_a_422_naming_the_field(send: Callable[..., Any]) -> None:
    raw = (
        json.dumps({"title": "x", "capacity": 5, "metadata": {"a": "b"}})[:-1]
        + ', "extra": '
        + "[" * 200
        + "]" * 200
        + "}"
    )
    status, _, body = send("create_room", raw_body=raw)
    assert status == 422 and body["error"]["field"] == "extra"


# ------------------------------------------------------------------ strict bodies (item 9)
@pytest.mark.parametrize("raw", [[ROOM], [ROOM, ROOM], "Good Time", 5, True])
@pytest.mark.parametrize("sample", BODY_ROUTES)
def test_a_body_that_is_not_a_json_object_is_a_422(send: Callable[..., Any], sample: str, raw: Any) -> None:
    # GIVEN a JSON array (once read as its first element) or another JSON value
    status, _, body = send(sample, body=raw)
    # THEN it is refused as the body it is
    assert status == 422 and body["error"]["code"] == "VALIDATION_ERROR" and body["error"]["field"] == "body", body


def test_an_array_body_creates_no_room(send: Callable[..., Any]) -> None:
    assert send("create_room", body=[ROOM], headers={"Idempotency-Key": "array"})[0] == 422
    # the key was not spent on the array's first element: another body may still use it
    status, _, room = send("create_room", body={**ROOM, "capacity": 6}, headers={"Idempotency-Key": "array"})
    assert status == 201 and room["capacity"] == 6


@pytest.mark.parametrize("capacity", ["5", 5.0, True, "true", [5], {"value": 5}])
def test_capacity_is_a_json_integer(call_api: CallApi, capacity: Any) -> None:
    status, body = call_api("create_room", body={**ROOM, "capacity": capacity})
    assert status == 422 and body["error"]["field"] == "capacity", body


@pytest.mark.parametrize("promote", ["true", 1, 0, "yes"])
def test_promote_is_a_json_boolean(call_api: CallApi, promote: Any) -> None:
    room_id = create_room(call_api)
    status, body = call_api("join_room", path={"room_id": room_id}, sub="u1", body={"promote": promote})
    assert status == 422 and body["error"]["field"] == "promote", body
    assert call_api("get_room", path={"room_id": room_id})[1]["occupancy"] == 0


# ------------------------------------------------------------------ titles (item 10)
@pytest.mark.parametrize(
    "title",
    [
        "Good\x00Time",  # NUL
        "Good\u202eemiT",  # right-to-left override
        "\u200b",  # zero-width space only
        "Good\u2066Time\u2069",  # bidi isolates
        "\ufeffGood",  # byte order mark
        "   ",
        "\t\n",
        "\u3000",  # ideographic space only
        "Good\u2028Time",  # line separator
        "\u200d",  # a joiner joining nothing
        "Good \u200dTime",
    ],
)
def test_invisible_or_blank_titles_are_refused(call_api: CallApi, title: str) -> None:
    status, body = call_api("create_room", body={**ROOM, "title": title})
    assert status == 422 and body["error"]["code"] == "VALIDATION_ERROR" and body["error"]["field"] == "title", body


def test_a_lone_surrogate_title_is_refused(send: Callable[..., Any]) -> None:
    status, _, body = send("create_room", raw_body='{"title": "Good \\ud800", "capacity": 5}')
    assert status == 422 and body["error"]["field"] == "title", body


@pytest.mark.parametrize(
    ("title", "stored"),
    [
        ("  Cafe\u0301 live  ", "Caf\u00e9 live"),  # trimmed, in NFC
        ("\U0001f468\u200d\U0001f4bb live coding", "\U0001f468\u200d\U0001f4bb live coding"),  # emoji sequence
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),  # ZWNJ
        ("\u05e9\u05dc\u05d5\u05dd Good Time", "\u05e9\u05dc\u05d5\u05dd Good Time"),  # right-to-left text itself
    ],
)
def test_titles_are_stored_normalised(call_api: CallApi, title: str, stored: str) -> None:
    status, room = call_api("create_room", body={**ROOM, "title": title})
    assert status == 201 and room["title"] == stored
    assert call_api("get_room", path={"room_id": room["room_id"]})[1]["title"] == stored


# ------------------------------------------------------------------ path parameters (item 8)
SUBJECTS = [
    "auth0|u1",
    "samlp|acme|ann@example.com",
    "Zo\u00eb \u00dcnal",
    "\u674e\u96f7",
    "google-oauth2|1234567890",
    "host \U0001f399",
    "oidc/with-slash",
    "q?and#hash",
    "literal%7Cpercent",  # a subject that holds a percent sign: decoding it again would make it `literal|percent`
]


def kick_event(room_id: str, user_id: str, *, encoded_path: bool) -> dict[str, Any]:
    """The kick as API Gateway sends it (`rawPath` decoded) or as an RFC 3986 path (`rawPath` still encoded).

    Either way `pathParameters` holds the value decoded once, as the gateway cut it from the path.
    """
    event = api_event("kick_participant", path={"room_id": room_id, "user_id": user_id})
    if encoded_path:
        path = f"/rooms/{room_id}/participants/{quote(user_id, safe='')}"
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    return event


@pytest.mark.parametrize("encoded_path", [False, True], ids=["decoded-rawPath", "encoded-rawPath"])
@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_host_kicks_a_user_whatever_their_subject_holds(
    call_api: CallApi, lambda_context: LambdaContext, subject: str, encoded_path: bool
) -> None:
    # GIVEN a listener whose token subject holds characters that travel percent-encoded in a path
    room_id = create_room(call_api)
    assert call_api("join_room", path={"room_id": room_id}, sub=subject)[0] == 200
    # WHEN the host kicks that subject
    status, _, body = invoke(kick_event(room_id, subject, encoded_path=encoded_path), lambda_context)
    # THEN that very user is kicked, named as in their token
    assert status == 200 and body == {"kicked": True, "user_id": subject}
    _, page = call_api("list_participants", path={"room_id": room_id})
    assert page["participants"] == []


def test_a_path_parameter_is_decoded_exactly_once(call_api: CallApi, lambda_context: LambdaContext) -> None:
    room_id = create_room(call_api)
    call_api("join_room", path={"room_id": room_id}, sub="literal|percent")
    call_api("join_room", path={"room_id": room_id}, sub="literal%7Cpercent")
    status, _, body = invoke(kick_event(room_id, "literal%7Cpercent", encoded_path=True), lambda_context)
    assert status == 200 and body == {"kicked": True, "user_id": "literal%7Cpercent"}
    _, page = call_api("list_participants", path={"room_id": room_id})
    assert [seat["user_id"] for seat in page["participants"]] == ["literal|percent"]


def test_a_path_parameter_is_validated_decoded(call_api: CallApi, lambda_context: LambdaContext) -> None:
    room_id = create_room(call_api)
    # 128 characters once decoded (the limit), 768 encoded
    status, _, body = invoke(kick_event(room_id, "\u00e9" * 128, encoded_path=True), lambda_context)
    assert status == 200 and body["kicked"] is False
    status, _, body = invoke(kick_event(room_id, "\u00e9" * 129, encoded_path=True), lambda_context)
    assert status == 422 and body["error"]["field"] == "user_id"


# ------------------------------------------------------------------ the document (items 10 and 14)
def test_creates_are_documented_as_the_201_they_answer(call_api: CallApi) -> None:
    for path in ("/rooms", "/events"):
        responses = SPEC["paths"][path]["post"]["responses"]
        assert "201" in responses and "200" not in responses, path
    assert call_api("create_room", body=ROOM)[0] == 201


def test_every_operation_documents_the_gateway_answers_and_its_own_errors() -> None:
    gateway = SPEC["components"]["schemas"]["GatewayError"]
    assert gateway["required"] == ["message"] and "error" not in gateway["properties"]
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert {"401", "422", "429", "503", "default"} <= set(responses), (method, path)
            refs = json.dumps(responses["401"])
            assert "GatewayError" in refs and "ErrorResponse" in refs, (method, path)
            if "requestBody" in operation:
                assert {"400", "415"} <= set(responses), (method, path)
            if any(p["in"] == "path" for p in operation.get("parameters", [])):
                assert "404" in responses, (method, path)
    assert "HTTPValidationError" not in json.dumps(SPEC)


def test_the_gateway_401_conforms_to_the_document() -> None:
    assert_documented("POST /rooms", 401, {"message": "Unauthorized"})
    assert_documented("GET /rooms/{room_id}", 503, {"message": "Service Unavailable"})
    assert_documented("GET /events", 429, {"message": "Too Many Requests"})


def test_errors_from_the_use_cases_are_documented(call_api: CallApi, send: Callable[..., Any]) -> None:
    # each answer below is checked against its operation's document by `invoke`
    room_id = create_room(call_api)
    assert send("get_room", path={"room_id": "r_missing"})[0] == 404
    assert send("close_room", path={"room_id": room_id}, sub="not-the-host")[0] == 403
    assert send("heartbeat", path={"room_id": room_id}, sub="not-seated")[0] == 409
    assert send("list_participants", path={"room_id": room_id}, query={"cursor": "garbage"})[0] == 400
    assert send("get_ticket", sub=None)[0] == 401
    send("close_room", path={"room_id": room_id})
    assert send("join_room", path={"room_id": room_id}, sub="late")[0] == 409


def test_the_document_is_the_committed_one_cached_and_public(
    lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rooms.api import resolver

    builds: list[int] = []
    real = resolver.openapi_json

    def counted(app: Any) -> str:
        builds.append(1)
        return real(app)

    monkeypatch.setattr(resolver, "openapi_json", counted)
    app = resolver.build_resolver()
    event = api_event("openapi", sub=None)
    answers = [app.resolve(event, lambda_context) for _ in range(3)]
    # built once for the instance, the same text as docs/openapi.json, cacheable by clients
    assert len(builds) == 1
    assert {answer["statusCode"] for answer in answers} == {200}
    assert answers[0]["body"] + "\n" == (ROOT / "docs" / "openapi.json").read_text()
    assert answers[0]["headers"]["Cache-Control"] == resolver.OPENAPI_CACHE_CONTROL
