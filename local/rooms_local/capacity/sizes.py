"""DynamoDB item sizes, by the rules AWS publishes (Amazon DynamoDB Developer Guide, "DynamoDB item sizes
and formats"). Pure: attribute values in DynamoDB's JSON wire form ({"S": "text"}, {"N": "12"}, ...).

- An item is the sum, over its attributes, of the UTF-8 length of the name plus the size of the value.
- String: its UTF-8 bytes. Binary: its raw bytes (the wire carries base64; the raw length counts).
- Number: "1 byte per two significant digits, plus 1 byte", leading and trailing zeros trimmed
  (AWS calls this approximate; it is the published rule, so it is the one used).
- Null and Boolean: 1 byte.
- List and Map: 3 bytes of overhead plus the sizes of the elements, plus 1 byte per element
  (a Map element is its key's UTF-8 length plus its value, as an attribute).
- String, Number and Binary sets: the sum of their elements' sizes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

KB = 1024  # DynamoDB's units are binary: 1 KB = 1024 bytes ("Constraints in Amazon DynamoDB")
_CONTAINER_OVERHEAD = 3
_ELEMENT_OVERHEAD = 1

Item = Mapping[str, Mapping[str, Any]]


def text_size(text: str) -> int:
    """UTF-8 bytes of a string (attribute names and String values)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def binary_size(base64_text: str) -> int:
    """Raw bytes of a Binary value sent as base64 text."""
    stripped = base64_text.rstrip("=")
    return len(stripped) * 3 // 4


def number_size(text: str) -> int:
    """ceil(significant digits / 2) + 1: sign, decimal point and exponent are not digits; leading and
    trailing zeros are trimmed (so 0 has none and takes 1 byte)."""
    mantissa = text.lstrip("+-").split("e")[0].split("E")[0]
    digits = mantissa.replace(".", "").strip("0")
    return math.ceil(len(digits) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    """The size of one attribute value, without its name."""
    ((kind, payload),) = value.items()
    if kind == "S":
        return text_size(payload)
    if kind == "N":
        return number_size(payload)
    if kind == "B":
        return binary_size(payload)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return _CONTAINER_OVERHEAD + sum(
            text_size(name) + value_size(element) + _ELEMENT_OVERHEAD for name, element in payload.items()
        )
    if kind == "L":
        return _CONTAINER_OVERHEAD + sum(value_size(element) + _ELEMENT_OVERHEAD for element in payload)
    if kind == "SS":
        return sum(text_size(element) for element in payload)
    if kind == "NS":
        return sum(number_size(element) for element in payload)
    if kind == "BS":
        return sum(binary_size(element) for element in payload)
    raise ValueError(f"not a DynamoDB attribute value type: {kind!r}")


def item_size(item: Item | None) -> int:
    """The size of an item (0 for no item)."""
    if not item:
        return 0
    return sum(text_size(name) + value_size(value) for name, value in item.items())
