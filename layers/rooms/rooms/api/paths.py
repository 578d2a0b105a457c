"""Path parameters the routes share: one definition, so their documented limits never drift apart."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

RoomId = Annotated[str, Path(min_length=1, max_length=64, description="A main or parallel room id.")]
UserId = Annotated[str, Path(min_length=1, max_length=128)]
GroupId = Annotated[str, Path(min_length=1, max_length=64)]
