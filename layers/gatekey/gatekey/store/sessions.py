"""Sessions: the session item, listed per user through gsi1; read back as `Session`."""

from __future__ import annotations

from gatekey import clock
from gatekey.errors import NotFound
from gatekey.records import Session
from gatekey.store import item_keys
from gatekey.store.base import Action, StoreBase
from gatekey.store.serialization import Item


def live_session(item: Item | None) -> Session | None:
    """A session past its absolute lifetime is gone, whatever its idle expiry says."""
    if item is None:
        return None
    session = Session.from_item(item)
    return None if session.max_expires_at <= clock.now() else session


class Sessions(StoreBase):
    @staticmethod
    def _session_item(session: Session) -> Item:
        return {
            **session.to_item(),
            **item_keys.session(session.session_id),
            **item_keys.session_index(session.user_id, session.created_at, session.session_id),
        }

    def put_session(self, session: Session) -> Session:
        self._put(self._session_item(session), must_not_exist=True)
        return session

    @staticmethod
    def _session_ref(session: Session) -> Item:
        """The session's entry under its user (expires with the session's absolute end)."""
        return {
            **item_keys.session_ref(session.user_id, session.session_id),
            "session_id": session.session_id,
            "ttl": session.max_expires_at,
        }

    def _session_delete_actions(self, session: Session) -> list[Action]:
        return [
            self._delete_action(item_keys.session(session.session_id)),
            self._delete_action(item_keys.session_ref(session.user_id, session.session_id)),
        ]

    def get_session(self, session_id: str) -> Session | None:
        return live_session(self._get(item_keys.session(session_id)))

    def list_sessions(self, user_id: str) -> list[Session]:
        """Every live session of a user, oldest first, read strongly consistently: from
        the session refs under the user (sessions opened since refs exist) and from gsi1
        (older ones), so a change of the user misses none."""
        refs = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": item_keys.user(user_id)["pk"]},
                ":prefix": {"S": item_keys.SESSION_REF_PREFIX},
            },
            ConsistentRead=True,
        )
        indexed = self._query_index(item_keys.user_sessions(user_id))
        session_ids = {ref["session_id"] for ref in refs} | {s["session_id"] for s in indexed}
        sessions = self._batch_get([item_keys.session(session_id) for session_id in session_ids])
        live = [s for s in map(live_session, sessions) if s is not None and s.user_id == user_id]
        return sorted(live, key=lambda session: (session.created_at, session.session_id))

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
