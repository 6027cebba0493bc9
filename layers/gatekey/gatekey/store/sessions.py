"""Sessions: the session item, listed per user through gsi1."""

from __future__ import annotations

from gatekey import clock
from gatekey.errors import NotFound
from gatekey.store import item_keys
from gatekey.store.base import StoreBase
from gatekey.store.serialization import Item


def live_session(session: Item | None) -> Item | None:
    """A session past its absolute lifetime is gone, whatever its idle expiry says."""
    if session is None or int(session["max_expires_at"]) <= clock.now():
        return None
    return session


class Sessions(StoreBase):
    @staticmethod
    def _session_item(session: Item) -> Item:
        return {
            **session,
            **item_keys.session(session["session_id"]),
            **item_keys.session_index(
                session["user_id"], session["created_at"], session["session_id"]
            ),
        }

    def put_session(self, session: Item) -> Item:
        item = self._session_item(session)
        self._put(item, must_not_exist=True)
        return item

    def get_session(self, session_id: str) -> Item | None:
        return live_session(self._get(item_keys.session(session_id)))

    def list_sessions(self, user_id: str) -> list[Item]:
        sessions = self._query_index(item_keys.user_sessions(user_id))
        return [session for session in map(live_session, sessions) if session is not None]

    def delete_session(self, session_id: str, *, audit: Item | None = None) -> None:
        """Ends a session; with an audit event, only a session that still exists is
        deleted and recorded (NotFound otherwise), in one transaction."""
        if audit is None:
            self._delete(item_keys.session(session_id))
            return
        action = self._delete_action(item_keys.session(session_id), must_exist=True)
        if self._transact_audited([action], audit):
            raise NotFound()

    def touch_session(self, session_id: str, *, at: int, ttl: int) -> bool:
        """Slides a session's idle expiry; never recreates a deleted or expired session."""
        update = self._update_params(
            item_keys.session(session_id),
            "SET last_used_at = :at, #ttl = :ttl",
            "#ttl > :at",
            {":at": at, ":ttl": ttl},
            {"#ttl": "ttl"},
        )
        return self._conditional_update(update) is not None
