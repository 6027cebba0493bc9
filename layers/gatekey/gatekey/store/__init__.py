"""The DynamoDB store: one table, named operations, errors translated at this boundary.

- `item_keys`: the item layout, and the one place that spells each key;
- `serialization`: attribute values to Python and back (stdlib, for the authorizer);
- `base`: the client, its calls with errors translated, transactions and batch reads;
- one module per aggregate: `users`, `sessions`, `api_keys` (and `key_usage`, a key's
  metered authorization and usage counters), `revocations`, `login_throttle`,
  `password_reset`, `mfa`, `audit`;
- `store`: `Store`, all of them together plus the operations that span aggregates;
- `clients`: the cached `get_store()` (boto3) and `get_lean_store()` (gatekey.aws).

DynamoDB's TTL deletes expired items lazily (up to days later), so every read here
compares the expiry itself and treats an expired item as absent.
"""

from gatekey.store.base import (
    ACCESS_DENIED_CODES,
    TRANSACTION_ATTEMPTS,
    TRANSACTION_LIMIT,
    UNAVAILABLE_CODES,
    error_code,
    permission_misconfigured,
)
from gatekey.store.clients import create_dynamodb_client, get_lean_store, get_store, reset
from gatekey.store.item_keys import PLACEHOLDER_PK
from gatekey.store.serialization import Item, from_item, is_expired, to_item
from gatekey.store.store import Store

__all__ = [
    "ACCESS_DENIED_CODES",
    "PLACEHOLDER_PK",
    "TRANSACTION_ATTEMPTS",
    "TRANSACTION_LIMIT",
    "UNAVAILABLE_CODES",
    "Item",
    "Store",
    "create_dynamodb_client",
    "error_code",
    "from_item",
    "get_lean_store",
    "get_store",
    "is_expired",
    "permission_misconfigured",
    "reset",
    "to_item",
]
