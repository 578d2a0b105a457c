"""What the meter needs to know of a table: key names, GSIs with their projections, TTL, billing mode.

Read from the template (the local stack's template reader, so never a copy of the schema), or, for a table
the template does not declare, from DynamoDB's own DescribeTable answer. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .sizes import Item

if TYPE_CHECKING:
    from ..template import Template

KeyTuple = tuple[tuple[str, Any], ...]  # the item's primary key, hashable: ((type, value), ...)


@dataclass(frozen=True)
class IndexSchema:
    name: str
    hash_key: str
    range_key: str | None
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: frozenset[str] = frozenset()  # INCLUDE's NonKeyAttributes
    local: bool = False  # an LSI: its writes consume the base table's capacity


@dataclass(frozen=True)
class TableSchema:
    name: str
    arn: str
    hash_key: str
    range_key: str | None
    indexes: tuple[IndexSchema, ...] = ()
    ttl_attribute: str | None = None
    on_demand: bool = True

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)

    def key(self, item: Item) -> KeyTuple:
        """The primary key of an item (or of a Key), hashable."""
        return tuple(next(iter(item[name].items())) for name in self.key_names)

    def key_attributes(self, item: Item) -> dict[str, Any]:
        """The item's primary key as a Key parameter."""
        return {name: item[name] for name in self.key_names}

    def index(self, name: str | None) -> IndexSchema | None:
        return next((index for index in self.indexes if index.name == name), None)

    def index_arn(self, index: str) -> str:
        return f"{self.arn}/index/{index}"


def partition_key_text(value: Mapping[str, Any]) -> str:
    """A key attribute's value as text: the string, the number as sent, or the base64 of a binary."""
    return str(next(iter(value.values())))


def _key_names(key_schema: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    hash_key = next(element["AttributeName"] for element in key_schema if element["KeyType"] == "HASH")
    range_key = next((element["AttributeName"] for element in key_schema if element["KeyType"] == "RANGE"), None)
    return str(hash_key), None if range_key is None else str(range_key)


def _index(description: Mapping[str, Any], *, local: bool) -> IndexSchema:
    hash_key, range_key = _key_names(description["KeySchema"])
    projection = description.get("Projection") or {}
    return IndexSchema(
        name=str(description["IndexName"]),
        hash_key=hash_key,
        range_key=range_key,
        projection=str(projection.get("ProjectionType", "ALL")),
        included=frozenset(projection.get("NonKeyAttributes") or ()),
        local=local,
    )


def schema_from_description(
    description: Mapping[str, Any], *, arn: str | None = None, ttl_attribute: str | None = None
) -> TableSchema:
    """From a CreateTable request or a DescribeTable `Table` (same key and index fields)."""
    hash_key, range_key = _key_names(description["KeySchema"])
    billing = description.get("BillingMode") or (description.get("BillingModeSummary") or {}).get("BillingMode")
    if billing is None:  # DescribeTable: DynamoDB Local leaves the summary out; provisioned tables report units
        billing = "PROVISIONED" if (description.get("ProvisionedThroughput") or {}).get("ReadCapacityUnits") else ""
    indexes = [_index(index, local=False) for index in description.get("GlobalSecondaryIndexes") or ()]
    indexes += [_index(index, local=True) for index in description.get("LocalSecondaryIndexes") or ()]
    return TableSchema(
        name=str(description["TableName"]),
        arn=str(arn or description.get("TableArn") or ""),
        hash_key=hash_key,
        range_key=range_key,
        indexes=tuple(indexes),
        ttl_attribute=ttl_attribute,
        on_demand=billing != "PROVISIONED",
    )


def schemas_from_template(template: Template) -> dict[str, TableSchema]:
    """Every table of the template, by its local name."""
    return {
        spec.name: schema_from_description(spec.create_kwargs, arn=spec.arn, ttl_attribute=spec.ttl_attribute)
        for spec in template.tables.values()
    }
