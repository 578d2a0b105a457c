"""The `rooms` CLI, over the in-memory API."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest

from rooms_client.cli import build_parser, main
from rooms_client.devtoken import AUDIENCE
from tests.sdk.sdk_fakes import FakeRoomsApi


def run(api: FakeRoomsApi, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--api-url", "http://api.test", *argv], transport=httpx.MockTransport(api))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_token_prints_a_dev_token_for_the_user(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "alice", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, options={"verify_signature": False}, audience=AUDIENCE)
    assert claims["sub"] == "alice"


def test_create_join_family_leave(fake_api: FakeRoomsApi, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(fake_api, capsys, "--user", "host", "create-room", "--title", "Show", "--capacity", "1")
    assert code == 0
    room_id = json.loads(out)["room_id"]
    # the first listener gets the only seat; the second is queued and followed into p1
    assert json.loads(run(fake_api, capsys, "--user", "u1", "join", room_id)[1])["room_id"] == room_id
    seat = json.loads(run(fake_api, capsys, "--user", "u2", "join", room_id)[1])
    assert seat["room_id"] == f"{room_id}-p1"
    _, table, _ = run(fake_api, capsys, "--user", "host", "family", room_id)
    assert f"family {room_id}: 2/2 seated" in table and f"{room_id}-p1" in table
    family = json.loads(run(fake_api, capsys, "--user", "host", "family", room_id, "--json")[1])
    assert family["total_occupancy"] == 2
    left = json.loads(run(fake_api, capsys, "--user", "u2", "leave", room_id)[1])
    assert left == {"left": True, "room_id": f"{room_id}-p1", "ticket_cancelled": False}


def test_join_without_following_and_ticket_follow(fake_api: FakeRoomsApi, capsys: pytest.CaptureFixture[str]) -> None:
    room_id = json.loads(run(fake_api, capsys, "--user", "host", "create-room", "--title", "S", "--capacity", "1")[1])[
        "room_id"
    ]
    run(fake_api, capsys, "--user", "u1", "join", room_id)
    code, out, _ = run(fake_api, capsys, "--user", "u2", "join", room_id, "--no-follow")
    queued = json.loads(out)
    assert code == 0 and queued["status"] == "queued"
    ticket_id = queued["ticket"]["ticket_id"]
    code, out, _ = run(fake_api, capsys, "--user", "u2", "ticket", ticket_id, "--follow")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[-1]["status"] == "seated" and lines[-1]["room_id"] == f"{room_id}-p1"


def test_api_errors_exit_1_with_the_code(fake_api: FakeRoomsApi, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(fake_api, capsys, "--user", "u1", "join", "r_missing")
    assert code == 1 and "ROOM_NOT_FOUND" in err
    code, _, err = run(fake_api, capsys, "family", "r_missing")  # no identity at all
    assert code == 1 and "401 UNAUTHENTICATED" in err


def test_create_event_sends_the_show(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(201, json={"event_id": "e_1", **seen[-1]})

    argv = ["--api-url", "http://api.test", "--token", "t", "create-event", "--title", "Daily"]
    argv += ["--starts-at", "2025-06-01T20:00:00+02:00", "--ends-at", "2025-06-01T21:00:00+02:00"]
    argv += ["--capacity", "5000", "--expected-audience", "12000", "--recurrence", "weekly"]
    assert main(argv, transport=httpx.MockTransport(answer)) == 0
    assert seen[0]["recurrence"] == "weekly" and seen[0]["timezone"] == "UTC"
    assert json.loads(capsys.readouterr().out)["event_id"] == "e_1"


def test_defaults_and_meta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOMS_API_URL", "https://rooms.example.com")
    args = build_parser().parse_args(["create-room", "--title", "S", "--capacity", "3", "--meta", "lang=fr"])
    assert args.api_url == "https://rooms.example.com" and args.meta == [("lang", "fr")]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["create-room", "--title", "S", "--capacity", "3", "--meta", "lang"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--token", "t", "--user", "u", "leave", "r_1"])
