"""Revocations of stateless tokens (access tokens, client JWTs), until they expire."""

from __future__ import annotations

from gatekey import clock
from gatekey.errors import Conflict
from gatekey.store import item_keys
from gatekey.store.base import StoreBase
from gatekey.store.serialization import Item


class Revocations(StoreBase):
    def revoke_access_token(
        self,
        revocation_id: str,
        *,
        session_id: str,
        user_id: str,
        expires_at: int,
        audit: Item | None = None,
    ) -> None:
        self._revoke(revocation_id, item_keys.session(session_id), user_id, expires_at, audit)

    def revoke_client_jwt(
        self,
        revocation_id: str,
        *,
        key_id: str,
        user_id: str,
        expires_at: int,
        audit: Item | None = None,
    ) -> None:
        self._revoke(revocation_id, item_keys.api_key(key_id), user_id, expires_at, audit)

    def _revoke(
        self,
        revocation_id: str,
        parent: item_keys.ItemKey,
        user_id: str,
        expires_at: int,
        audit: Item | None = None,
    ) -> None:
        """Blocks one token until it would have expired anyway; TTL then removes the item.

        The session or key the token belongs to (`parent`) is flagged with `revoked_until`
        in the same transaction, so the authorizer reads the revocation item only for
        credentials that have one: one read per authorization otherwise.
        """
        revocation = {
            **item_keys.revocation(revocation_id),
            "user_id": user_id,
            "revoked_at": clock.now(),
            "ttl": expires_at,
        }
        flag = self._update_params(
            parent,
            "SET revoked_until = :until",
            "(attribute_not_exists(revoked_until) OR revoked_until < :until)",
            {":until": expires_at},
        )
        put = self._put_action(revocation, must_not_exist=False)
        # When the parent is gone (nothing left to revoke) or already flagged past this
        # expiry, the revocation item alone is enough.
        if self._transact_audited([put, {"Update": flag}], audit) and self._transact_audited(
            [put], audit
        ):
            raise Conflict()

    def is_revoked(self, revocation_id: str) -> bool:
        return self._get(item_keys.revocation(revocation_id)) is not None
