"""The store's stdlib (de)serializer agrees with boto3's on every value the store writes.

The store cannot import boto3.dynamodb.types (the authorizer's cold start), so these
tests hold its own functions to boto3's `TypeSerializer`/`TypeDeserializer`. The
documented differences: integral numbers read back as int (boto3: Decimal), and
`to_item` leaves out None attributes.
"""

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from gatekey.store.serialization import deserialize, from_item, serialize, to_item, values

BOTO_SERIALIZER = TypeSerializer()
BOTO_DESERIALIZER = TypeDeserializer()

# What the store writes: ints (times, versions, counters), strings, bools, None, and
# lists and maps of them (scopes, recovery codes, the audit event's actor). DynamoDB
# numbers hold 38 significant digits.
numbers = st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text())
stored = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=20,
)


def as_boto_reads(value: Any) -> Any:
    """A value as boto3 reads it back: every number a Decimal."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, list):
        return [as_boto_reads(v) for v in value]
    return {k: as_boto_reads(v) for k, v in value.items()}


@given(stored)
def test_serialize_writes_what_boto3_writes(value):
    assert serialize(value) == BOTO_SERIALIZER.serialize(value)


@given(stored)
def test_deserialize_reads_what_boto3_reads_with_ints_for_integral_numbers(value):
    attribute = BOTO_SERIALIZER.serialize(value)
    ours = deserialize(attribute)
    assert ours == value
    assert as_boto_reads(ours) == BOTO_DESERIALIZER.deserialize(attribute)


FRACTIONS = st.decimals(min_value=-(10**20), max_value=10**20, places=6)


@given(FRACTIONS)
def test_a_fractional_number_reads_back_as_boto3_reads_it(number):
    attribute = BOTO_SERIALIZER.serialize(number)
    assert deserialize(attribute) == BOTO_DESERIALIZER.deserialize(attribute)


@given(st.dictionaries(st.text(min_size=1), stored, max_size=8))
def test_an_item_round_trips_without_its_none_attributes(item):
    written = to_item(item)
    assert written == {k: BOTO_SERIALIZER.serialize(v) for k, v in item.items() if v is not None}
    assert from_item(written) == {k: v for k, v in item.items() if v is not None}
    assert values(item) == {k: BOTO_SERIALIZER.serialize(v) for k, v in item.items()}


@pytest.mark.parametrize("value", [1.5, {1, 2}, b"bytes"])
def test_what_the_store_never_writes_is_refused(value):
    with pytest.raises(TypeError):
        serialize(value)
