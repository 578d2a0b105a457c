"""Rooms local stack: template.yaml run on DynamoDB Local, a moto server and local Lambda processes.

Exports resolve lazily: each local Lambda process imports this package, and must not pay for
boto3 or the stack before its handler's own imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .stack import LocalStack
    from .template import Template, load_template
    from .tokens import mint_token

__all__ = ["LocalStack", "Template", "load_template", "mint_token"]
_HOMES = {"LocalStack": "stack", "Template": "template", "load_template": "template", "mint_token": "tokens"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
