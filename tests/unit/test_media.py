"""Media tokens: a seat's LiveKit access token, checked by decoding it as a LiveKit server would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from rooms.adapters.livekit_media import LiveKitMedia
from rooms.domain.model import Seat, parallel_room_id
from rooms.media import NoMedia

NOW = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)
SECRET = "a-livekit-api-secret-of-32-chars!"
FAMILY = "r_0123456789abcdef"


def seat_in(room_id: str, user_id: str = "listener-1") -> Seat:
    return Seat(
        room_id=room_id,
        family_id=FAMILY,
        user_id=user_id,
        joined_at=NOW,
        expires_at=NOW + timedelta(minutes=1),
    )


def decoded(token: str) -> dict[str, object]:
    return dict(jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}))


def test_a_seat_gets_a_listener_token_for_its_own_room_signed_under_the_api_key() -> None:
    media = LiveKitMedia("wss://media.example.com", "APIkey1", SECRET, timedelta(hours=6))

    access = media.grant(seat_in(FAMILY), NOW)

    assert (access.provider, access.url, access.expires_at) == (
        "livekit",
        "wss://media.example.com",
        NOW + timedelta(hours=6),
    )
    claims = decoded(access.token)
    assert claims["iss"] == "APIkey1" and claims["sub"] == "listener-1"
    assert claims["video"] == {
        "roomJoin": True,
        "room": FAMILY,
        "canPublish": False,
        "canSubscribe": True,
        "canPublishData": False,
    }
    lifetime = int(claims["exp"]) - int(claims["nbf"])  # type: ignore[call-overload]
    assert lifetime == 6 * 3600


def test_a_speakers_token_may_publish() -> None:
    from dataclasses import replace

    media = LiveKitMedia("wss://media.example.com", "APIkey1", SECRET, timedelta(hours=1))
    claims = decoded(media.grant(replace(seat_in(FAMILY), speaker=True), NOW).token)
    assert claims["video"]["canPublish"] is True and claims["video"]["canSubscribe"] is True  # type: ignore[index]


def test_each_parallel_room_is_a_media_room_of_its_own() -> None:
    media = LiveKitMedia("wss://media.example.com", "APIkey1", SECRET, timedelta(minutes=10))

    family = [parallel_room_id(FAMILY, index) for index in range(3)]

    rooms = [decoded(media.grant(seat_in(room), NOW).token)["video"]["room"] for room in family]  # type: ignore[index]

    assert rooms == family and len(set(rooms)) == 3


def test_a_token_signed_with_another_secret_is_refused() -> None:
    other = LiveKitMedia("wss://m", "APIkey1", "another-secret-of-thirty-two-chars", timedelta(hours=1))
    token = other.grant(seat_in(FAMILY), NOW).token
    with pytest.raises(jwt.InvalidSignatureError):
        decoded(token)


def test_without_a_provider_a_seat_carries_no_media() -> None:
    assert NoMedia().grant(seat_in(FAMILY), NOW) is None
