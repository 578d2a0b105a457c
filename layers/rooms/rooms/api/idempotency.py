"""`Idempotency-Key` for the API's creates: a retried POST returns the first answer instead of acting twice.

Powertools' idempotency utility stores each answer in the IdempotencyTable for a day, keyed on the
operation, the caller and the client's key; the same key with a different body is refused. The utility
(its persistence layer brings boto3 and s3transfer) is imported on the first request with a key, so its
refusals surface as this module's own errors.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import BaseModel

from rooms.adapters.overload import busy_when_overloaded
from rooms.config import settings

M = TypeVar("M", bound=BaseModel)
# The header as a route parameter: the same key, from the same caller, gets the first answer back.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)]
_DAY = 24 * 3600


class KeyReused(Exception):
    """The Idempotency-Key was already used with a different body."""


class KeyInProgress(Exception):
    """A request with the same Idempotency-Key is still running."""


@cache
def _config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="[operation, caller, key]", payload_validation_jmespath="payload", expires_after_seconds=_DAY
    )


@cache
def _once(model: type[BaseModel]) -> Callable[..., Any]:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
    from botocore.config import Config

    from rooms.adapters import aws_session

    # the tables' retry budget (rooms.config): botocore's legacy default for DynamoDB sleeps up to 25 s
    retries = Config(retries=settings().dynamodb_retries)

    @idempotent_function(
        data_keyword_argument="request",
        persistence_store=DynamoDBPersistenceLayer(
            table_name=settings().idempotency_table_name, boto_config=retries, boto3_session=aws_session.boto3_session()
        ),
        config=_config(),
        output_serializer=PydanticSerializer(model),
        key_prefix=f"rooms.{model.__name__}",
    )
    def run(request: dict[str, Any], work: Callable[[], BaseModel]) -> BaseModel:
        return work()

    return run


def run_once_context(context: Any) -> None:
    """Give the idempotency records the invocation's deadline, so a crashed request's key frees itself."""
    _config().register_lambda_context(context)


def run_once(
    key: str | None, *, operation: str, caller: str, payload: dict[str, Any], model: type[M], work: Callable[[], M]
) -> M:
    """Run `work` once per (operation, caller, key); without a key, just run it."""
    if not key:
        return work()
    request = {"operation": operation, "caller": caller, "key": key, "payload": payload}
    once = _once(model)
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    try:
        with busy_when_overloaded():  # the idempotency table throttled: Busy, like any store
            result: M = once(request=request, work=work)
    except IdempotencyValidationError as error:
        raise KeyReused() from error
    except IdempotencyAlreadyInProgressError as error:
        raise KeyInProgress() from error
    return result
