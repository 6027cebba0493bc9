"""Ending credentials: logout, revocation (RFC 7009) and the caller's session list.

Stateful credentials are deleted (sessions, API keys); stateless ones (access tokens,
client JWTs) get a revocation item that lives exactly as long as the token would.
"""

from __future__ import annotations

import contextlib
from typing import Any

from gatekey import clock, policy
from gatekey.accounts import audit
from gatekey.errors import BadRequest, InvalidToken, NotAuthenticated, NotFound
from gatekey.policy import Action
from gatekey.principal import API_KEY, SESSION, Principal
from gatekey.store import Item, Store
from gatekey.tokens.authorization import Authorizer


class RevocationService:
    def __init__(self, store: Store, authorizer: Authorizer) -> None:
        self.store = store
        self.authorizer = authorizer

    def logout(self, principal: Principal, meta: audit.RequestMeta | None = None) -> dict[str, Any]:
        """Ends the session behind a session token: its access and refresh tokens both die."""
        if principal.token_type != SESSION or principal.session_id is None:
            raise BadRequest("Logout needs a session token; revoke other tokens at /auth/revoke.")
        event = _event(
            principal, audit.SESSION_ENDED, audit.TARGET_SESSION, principal.session_id, meta
        )
        # A session ended meanwhile by another request: logged out all the same.
        with contextlib.suppress(NotFound):
            self.store.delete_session(principal.session_id, audit=event)
            audit.emit(event)
        return {"logout": True}

    def revoke(
        self,
        principal: Principal,
        meta: audit.RequestMeta | None = None,
        *,
        actor: Principal | None = None,
    ) -> None:
        """Revokes the credential the caller presented, whatever its kind.

        `actor` is who asked, when it is not the credential itself (RFC 7009).
        """
        actor = actor or principal
        if principal.token_type == API_KEY:
            api_key = self.store.get_key(str(principal.token_id))
            if api_key is not None:
                handle = api_key.handle
                event = _event(actor, audit.TOKEN_REVOKED, audit.TARGET_KEY, handle, meta)
                with contextlib.suppress(NotFound):  # revoked meanwhile: nothing left to do
                    self.store.delete_key(api_key, audit=event)
                    audit.emit(event)
            return
        if principal.token_id is None or principal.token_expires_at is None:
            raise BadRequest("This token cannot be revoked; delete its key instead.")
        expires_at = max(principal.token_expires_at, clock.now() + 1)
        if principal.token_type == SESSION:
            session_id = str(principal.session_id)
            event = _event(actor, audit.TOKEN_REVOKED, audit.TARGET_SESSION, session_id, meta)
            self.store.revoke_access_token(
                principal.token_id,
                session_id=session_id,
                user_id=principal.user_id,
                expires_at=expires_at,
                audit=event,
            )
            audit.emit(event)
            return
        key = self.store.get_key_by_handle(principal.user_id, str(principal.key_handle))
        if key is not None:  # a deleted key's JWTs are dead already
            event = _event(actor, audit.TOKEN_REVOKED, audit.TARGET_KEY, key.handle, meta)
            self.store.revoke_client_jwt(
                principal.token_id,
                key_id=key.key_id,
                user_id=principal.user_id,
                expires_at=expires_at,
                audit=event,
            )
            audit.emit(event)

    def revoke_given(
        self, caller: Principal, token: str, meta: audit.RequestMeta | None = None
    ) -> None:
        """RFC 7009: revokes `token` if it is the caller's; unknown tokens are not an error."""
        try:
            owner = self.authorizer.identify(token)
        except (InvalidToken, NotAuthenticated):  # an outage must answer 503, not 200
            self._revoke_refresh_token(caller, token, meta)
            return
        if owner.user_id == caller.user_id:
            self.revoke(owner, meta, actor=caller)

    def _revoke_refresh_token(
        self, caller: Principal, token: str, meta: audit.RequestMeta | None
    ) -> None:
        try:
            session = self.authorizer.authorize_refresh(f"Bearer {token}", None, enforce=False)
        except (InvalidToken, NotAuthenticated):
            return
        if session.user_id == caller.user_id:
            session_id = session.session_id
            event = _event(caller, audit.TOKEN_REVOKED, audit.TARGET_SESSION, session_id, meta)
            with contextlib.suppress(NotFound):  # ended meanwhile
                self.store.delete_session(session_id, audit=event)
                audit.emit(event)

    def list_sessions(self, principal: Principal) -> dict[str, Any]:
        policy.check(principal, Action.MANAGE_SESSIONS)
        sessions = sorted(
            self.store.list_sessions(principal.user_id), key=lambda session: session.created_at
        )
        return {
            "sessions": [
                {
                    "id": session.session_id,
                    "user_agent": session.user_agent,
                    "created_at": clock.iso(session.created_at),
                    "last_used_at": clock.iso(session.last_used_at),
                    "expires_at": clock.iso(session.ttl),
                    "current": session.session_id == principal.session_id,
                }
                for session in sessions
            ]
        }

    def end_session(
        self, principal: Principal, session_id: str, meta: audit.RequestMeta | None = None
    ) -> None:
        policy.check(principal, Action.MANAGE_SESSIONS)
        session = self.store.get_session(session_id)
        if session is None or session.user_id != principal.user_id:
            raise NotFound()
        event = _event(principal, audit.SESSION_ENDED, audit.TARGET_SESSION, session_id, meta)
        self.store.delete_session(session_id, audit=event)
        audit.emit(event)


def _event(
    actor: Principal,
    action: str,
    target_type: str,
    target_id: str,
    meta: audit.RequestMeta | None,
) -> Item:
    return audit.new_event(
        actor.account_id, action, actor=actor, target=(target_type, target_id), meta=meta
    )


def get_revocation_service() -> RevocationService:
    from gatekey.tokens.authorization import get_authorizer

    authorizer = get_authorizer()
    return RevocationService(authorizer.store, authorizer)
