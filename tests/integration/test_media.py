"""Media tokens through the API function on moto: with a LiveKit provider configured, the caller's own
seat (join, heartbeat) carries its LiveKit access token; nobody else's seat ever does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from tests.conftest import fresh_api_services

CallApi = Callable[..., tuple[int, Any]]
SECRET = "livekit-secret-for-the-tests-0123456789"


@pytest.fixture
def livekit(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from rooms.config import settings

    monkeypatch.setenv("ROOMS_MEDIA_PROVIDER", "livekit")
    monkeypatch.setenv("ROOMS_LIVEKIT_URL", "wss://media.example.com")
    monkeypatch.setenv("ROOMS_LIVEKIT_API_KEY", "APIrooms")
    monkeypatch.setenv("ROOMS_LIVEKIT_API_SECRET", SECRET)
    settings.cache_clear()
    fresh_api_services()
    yield
    settings.cache_clear()


def room_of(token: str) -> tuple[str, str]:
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    return str(claims["sub"]), str(claims["video"]["room"])


def test_a_join_and_a_heartbeat_answer_the_callers_media_token(livekit: None, call_api: CallApi) -> None:
    # GIVEN a room of 2 on a platform whose media is LiveKit
    status, room = call_api("create_room", sub="host-media", body={"title": "Audio", "capacity": 2})
    assert status == 201
    room_id = room["room_id"]
    # WHEN a listener joins THEN its seat carries a listen-only token for this room, under its identity
    status, joined = call_api("join_room", path={"room_id": room_id}, sub="listener-1")
    assert status == 200, joined
    media = joined["seat"]["media"]
    assert media["provider"] == "livekit" and media["url"] == "wss://media.example.com"
    assert room_of(media["token"]) == ("listener-1", room_id)
    assert jwt.decode(media["token"], SECRET, algorithms=["HS256"])["video"]["canPublish"] is False
    # a heartbeat answers a fresh token for the same seat
    status, seat = call_api("heartbeat", path={"room_id": room_id}, sub="listener-1")
    assert status == 200 and room_of(seat["media"]["token"]) == ("listener-1", room_id)
    # THEN the participants listing shows no one's token
    call_api("join_room", path={"room_id": room_id}, sub="listener-2")
    status, listing = call_api("list_participants", path={"room_id": room_id}, sub="host-media")
    assert status == 200 and len(listing["participants"]) == 2
    assert all(participant["media"] is None for participant in listing["participants"])


def test_without_a_provider_seats_carry_no_media(call_api: CallApi) -> None:
    status, room = call_api("create_room", sub="host-plain", body={"title": "Plain", "capacity": 2})
    status, joined = call_api("join_room", path={"room_id": room["room_id"]}, sub="listener-1")
    assert status == 200 and joined["seat"]["media"] is None
