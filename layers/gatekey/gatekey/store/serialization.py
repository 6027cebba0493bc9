"""DynamoDB's attribute values to Python and back, in the standard library.

boto3 ships this (`boto3.dynamodb.types.TypeSerializer`/`TypeDeserializer`), but
importing it imports the boto3 package and botocore's session machinery, which the
authorizer (the lean store, `gatekey.aws`) must not pay at cold start (`make bench`).
tests/unit/test_serialization.py checks, with hypothesis, that these functions agree
with boto3's on every value the store writes. The differences, on purpose:

- a number reads back as `int` when it is integral (boto3: always `Decimal`), so
  records hold the ints they were written with; a non-integral one stays `Decimal`;
- `to_item` leaves out attributes whose value is None (an absent attribute); a None
  inside a map or list, and every value of `values`, is `NULL` as boto3 writes it;
- no sets and no binary (the store writes neither): they raise TypeError;
- `float` raises TypeError, as in boto3.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gatekey import clock

Item = dict[str, Any]
AttributeValue = dict[str, Any]


def serialize(value: Any) -> AttributeValue:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__}")


def deserialize(attribute: Mapping[str, Any]) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        number = Decimal(value)
        return int(number) if number == number.to_integral_value() else number
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: deserialize(v) for k, v in value.items()}
    if kind == "L":
        return [deserialize(v) for v in value]
    raise TypeError(f"unexpected DynamoDB type {kind}")


def to_item(values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Python values to DynamoDB's attribute-value map (None values are left out)."""
    return {k: serialize(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Mapping[str, Any]]) -> Item:
    return {k: deserialize(v) for k, v in item.items()}


def values(expression_values: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """ExpressionAttributeValues: every value serialized, None as NULL."""
    return {k: serialize(v) for k, v in expression_values.items()}


def is_expired(item: Mapping[str, Any], at: int | None = None) -> bool:
    """An item whose `ttl` has passed is gone, whether or not DynamoDB has deleted it."""
    ttl = item.get("ttl")
    return ttl is not None and int(ttl) <= (clock.now() if at is None else at)
