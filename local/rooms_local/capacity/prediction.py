"""The image an UpdateItem is about to leave, as far as its expression says plainly: enough for the throttle
to know, before the write, which GSI keys it will touch. Only the prediction uses this; what is billed
always comes from the image DynamoDB Local actually left.

Handled: top-level `SET name = :value`, `SET name = if_not_exists(name, :value)` and `REMOVE name`;
anything else (arithmetic, list_append, nested paths, ADD, DELETE) leaves the attribute as it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .sizes import Item

_CLAUSES = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)
_NAME = r"#?[A-Za-z0-9_]+"
_ASSIGN = re.compile(rf"^\s*({_NAME})\s*=\s*(.+?)\s*$", re.DOTALL)
_PLACEHOLDER = re.compile(r"^:[A-Za-z0-9_]+$")
_IF_NOT_EXISTS = re.compile(rf"^if_not_exists\s*\(\s*({_NAME})\s*,\s*(:[A-Za-z0-9_]+)\s*\)$", re.IGNORECASE)


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def predicted_update(old: Item | None, key: Item, request: Mapping[str, Any]) -> dict[str, Any]:
    """The item after the update, as far as the plain parts of its UpdateExpression tell."""
    image: dict[str, Any] = dict(old) if old else dict(key)
    expression = request.get("UpdateExpression")
    if not expression:
        return image
    names: Mapping[str, str] = request.get("ExpressionAttributeNames") or {}
    values: Mapping[str, Any] = request.get("ExpressionAttributeValues") or {}
    pieces = _CLAUSES.split(str(expression))
    for keyword, body in zip(pieces[1::2], pieces[2::2], strict=True):
        for clause in _split_top_level(body):
            if keyword.upper() == "REMOVE" and re.fullmatch(_NAME, clause):
                image.pop(names.get(clause, clause), None)
            elif keyword.upper() == "SET" and (assignment := _ASSIGN.match(clause)):
                name = names.get(assignment.group(1), assignment.group(1))
                value = assignment.group(2)
                if _PLACEHOLDER.match(value) and value in values:
                    image[name] = values[value]
                elif (default := _IF_NOT_EXISTS.match(value)) and name not in image and default.group(2) in values:
                    image[name] = values[default.group(2)]
    return image
