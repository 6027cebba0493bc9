"""The published signing keys: one item with the public JWKs, the issuer and audience.

Written by the function that serves the JWKS (at deploy time and on rotation, as a
CloudFormation custom resource; locally when the local run starts); read by the
authorizer and the signing functions, once per container.
"""

from __future__ import annotations

from gatekey.store import item_keys
from gatekey.store.base import StoreBase
from gatekey.store.serialization import Item


class SigningKeys(StoreBase):
    def get_signing_keys(self) -> Item | None:
        return self._get(item_keys.signing_keys())

    def put_signing_keys(self, document: Item) -> None:
        self._put({**item_keys.signing_keys(), **document})
