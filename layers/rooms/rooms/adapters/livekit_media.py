"""LiveKit access tokens, minted with LiveKit's own package: identity the seat's user, the room its
media room (named by the room id), and a listener's grants (subscribe, never publish) or, on the stage,
a speaker's (publish audio too)."""

from __future__ import annotations

from datetime import datetime, timedelta

from livekit.api import AccessToken, VideoGrants

from rooms.domain.model import Seat
from rooms.media import MediaAccess

PROVIDER = "livekit"


class LiveKitMedia:
    def __init__(self, url: str, api_key: str, api_secret: str, ttl: timedelta) -> None:
        self._url, self._key, self._secret, self._ttl = url, api_key, api_secret, ttl

    def grant(self, seat: Seat, now: datetime) -> MediaAccess:
        grants = VideoGrants(
            room_join=True,
            room=seat.room_id,
            can_subscribe=True,
            can_publish=seat.speaker,
            can_publish_data=False,
        )
        token = (
            AccessToken(self._key, self._secret)
            .with_identity(seat.user_id)
            .with_grants(grants)
            .with_ttl(self._ttl)
            .to_jwt()
        )
        # LiveKit counts the lifetime from its own clock at minting (now on this instance, too)
        return MediaAccess(provider=PROVIDER, url=self._url, token=token, expires_at=now + self._ttl)
