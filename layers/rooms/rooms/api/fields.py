"""Field types of the request bodies: titles people see, and times given as ISO 8601 strings with an offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from rooms.domain.text import display_text

_ISO_EXAMPLE = "e.g. 2026-11-26T20:00:00+01:00"


def _utc_from_iso(value: object) -> datetime:
    """An ISO 8601 string with a UTC offset, as an aware UTC datetime; numbers (epoch seconds) are refused."""
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 string with a UTC offset, {_ISO_EXAMPLE}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 date and time with a UTC offset, {_ISO_EXAMPLE}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"needs a UTC offset, {_ISO_EXAMPLE}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T22:00:00-05:00 is in the year 10000 in UTC
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None


Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(display_text)]
"""Shown to listeners: stored in NFC without surrounding whitespace, never blank or with invisible characters."""

IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_utc_from_iso)]
"""A time sent as an ISO 8601 string with an offset, kept in UTC."""
