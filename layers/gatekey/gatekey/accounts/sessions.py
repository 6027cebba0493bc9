"""Login and refresh: from credentials to a stored session and its two tokens.

Every attempt counts on the per-user lockout (`lockout`), which the other routes that
check a password share.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from gatekey import clock, metrics, scopes
from gatekey.accounts import audit, mfa
from gatekey.accounts.audit import RequestMeta
from gatekey.accounts.lockout import Lockout, user_counter
from gatekey.accounts.passwords import verify_password
from gatekey.accounts.users import normalize_email, public_user
from gatekey.errors import (
    CodeAlreadyUsed,
    Conflict,
    InvalidCredentials,
    MfaRequired,
    OwnerChanged,
    Throttled,
    ValidationFailed,
)
from gatekey.records import Session, User
from gatekey.settings import Settings
from gatekey.store import Item, Store, item_keys
from gatekey.tokens import access_tokens, session_tokens, signing_keys
from gatekey.tokens.keyring import Keyring

ABSENT_USER_ID = "00000000-0000-0000-0000-000000000000"
OPEN_SESSION_ATTEMPTS = 3  # fresh reads of a user who changed during the login


LoginFunction = TypeVar("LoginFunction", bound=Callable[..., dict[str, Any]])


def _counted_by_outcome(login: LoginFunction) -> LoginFunction:
    """Counts each login by its outcome (metric `Logins`), whichever way it ends."""

    @functools.wraps(login)
    def counted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            result = login(*args, **kwargs)
        except (Throttled, MfaRequired, InvalidCredentials) as error:
            outcome = {Throttled: "throttled", MfaRequired: "mfa_required"}.get(
                type(error), "failure"
            )
            metrics.count(metrics.LOGINS, outcome=outcome)
            raise
        metrics.count(metrics.LOGINS, outcome="success")
        return result

    return cast(LoginFunction, counted)


class SessionService:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        settings: Settings,
        kms: signing_keys.Kms | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings
        self.kms = kms  # signs access tokens; default: the container's (KMS, or local)
        self.lockout = Lockout(store, settings)

    @_counted_by_outcome
    def login(
        self,
        email: str,
        password: str,
        account_id: str | None,
        user_agent: str | None,
        *,
        totp: str | None = None,
        recovery_code: str | None = None,
        meta: RequestMeta | None = None,
    ) -> dict[str, Any]:
        """Checks the password (same cost whether or not the email exists), then the second
        factor of a user with MFA on, and opens a session.

        The attempt is counted before any password is checked, on the lockout of each
        user the email names (for an unknown email, on the email's), so parallel guesses
        cannot outrun it; a user whose lockout refused the attempt has no password
        checked. For the users the email names whose password this is not, it counts as
        a failure (so another account's user of the same email cannot be used to probe
        theirs), and a missing or wrong code counts too. A success clears only the
        lockout of the user it opened.
        """
        email = normalize_email(email)
        now = clock.now()
        users = self._users_of(email, account_id)
        # An unknown email does the same reads and hashing as a wrong password.
        if not users:
            self.store.get_user(ABSENT_USER_ID)
        counters = [user_counter(user) for user in users] or [item_keys.email_login_counter(email)]
        reserved = self.lockout.reserve_attempts(counters, now)
        locked = [counter for counter in counters if counter not in reserved]
        if not reserved:
            throttled = [(user, audit.LOGIN_THROTTLED) for user in users]
            self._audit_login(throttled, meta, email, now, unknown_action=audit.LOGIN_THROTTLED)
            raise self.lockout.throttled(locked, now)
        open_users = [user for user in users if user_counter(user) in reserved]
        matched = [user for user in open_users if verify_password(user.password_hash, password)]
        if not users:
            verify_password(None, password)
        matched = [user for user in matched if not user.disabled]
        matched_ids = {user.user_id for user in matched}
        failed = [user for user in open_users if user.user_id not in matched_ids]
        for user in failed:
            self.lockout.record_failure(user_counter(user), reserved[user_counter(user)], now)
        if not users:
            self.lockout.record_failure(counters[0], reserved[counters[0]], now)
        if not matched:
            outcomes = [(user, audit.LOGIN_FAILURE) for user in failed]
            outcomes += [
                (user, audit.LOGIN_THROTTLED) for user in users if user_counter(user) in locked
            ]
            self._audit_login(outcomes, meta, email, now)
            # A locked user's password was not checked: the answer cannot say it is wrong.
            raise self.lockout.throttled(locked, now) if locked else InvalidCredentials()
        if len(matched) > 1:
            for user in matched:
                self.store.clear_login_failures(user_counter(user))
            raise ValidationFailed.field(
                "account_id",
                "This email belongs to several accounts: give account_id.",
                code="required",
                extra={"account_ids": sorted(user.account_id for user in matched)},
            )
        user = matched[0]
        counter = user_counter(user)
        if mfa.is_enabled(user):
            self._check_second_factor(
                user, counter, reserved[counter], now, totp, recovery_code, meta, email
            )
        self.store.clear_login_failures(counter)
        session = self._open_session(user, user_agent, now, meta)
        access_token, expires_in = self._access_token(session, now)
        refresh_token = session_tokens.issue(
            self.keyring,
            user_id=session.user_id,
            session_id=session.session_id,
            token_use=session_tokens.REFRESH,
            issued_at=now,
            expires_at=session.max_expires_at,
        )
        return {
            "login": True,
            "access_token": access_token,
            "token": access_token,
            "refresh_token": refresh_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "account_id": user.account_id,
            "user": public_user(user),
        }

    def _users_of(self, email: str, account_id: str | None) -> list[User]:
        candidates = self.store.find_user_ids_by_email(email)
        if account_id is not None:
            candidates = {k: v for k, v in candidates.items() if k == account_id}
        return [user for user in map(self.store.get_user, candidates.values()) if user]

    def _check_second_factor(
        self,
        user: User,
        counter: str,
        throttle: Item,
        now: int,
        totp: str | None,
        recovery_code: str | None,
        meta: RequestMeta | None,
        email: str,
    ) -> None:
        """The right password of a user with MFA on: without a code 401 `mfa_required`,
        with a wrong or replayed one 401 `invalid_credentials`; both count as failures
        (otherwise "password only" requests would reset the count between code guesses)."""
        if not (totp or recovery_code):
            self.lockout.record_failure(counter, throttle, now)
            raise MfaRequired()
        outcome = mfa.second_factor_outcome(
            self.store, self.keyring, user, totp=totp, recovery_code=recovery_code
        )
        if outcome != mfa.ACCEPTED:
            self.lockout.record_failure(counter, throttle, now)
            self._audit_login([(user, audit.LOGIN_FAILURE)], meta, email, now)
            raise CodeAlreadyUsed() if outcome == mfa.REPLAYED else InvalidCredentials()

    def _audit_login(
        self,
        outcomes: list[tuple[User, str]],
        meta: RequestMeta | None,
        email: str,
        now: int,
        *,
        unknown_action: str = audit.LOGIN_FAILURE,
    ) -> None:
        """A failed or throttled login is recorded in the account of each user the email
        names (`outcomes`: the user and the action), at most once a minute per email, the
        rest counted on that event; for an unknown email there is no account, so only the
        log line is written, after a write of the same shape (timing tells nothing)."""
        retention = self.settings.audit_retention_days
        events = [
            audit.user_event(
                user, action, meta=meta, retention_days=retention, outcome=audit.FAILURE
            )
            for user, action in outcomes
        ] or [
            audit.new_event(
                audit.UNKNOWN_ACCOUNT,
                unknown_action,
                actor=None,
                target=(audit.TARGET_USER, "-"),
                meta=meta,
                retention_days=retention,
                outcome=audit.FAILURE,
            )
        ]
        audit.record_unauthenticated_failure(self.store, email, events, now=now)

    def refresh(self, session: Session) -> dict[str, Any]:
        """A new access token for a live session (checked by the authorization module)."""
        access_token, expires_in = self._access_token(session, clock.now())
        return {"access_token": access_token, "expires_in": expires_in}

    def _open_session(
        self, user: User, user_agent: str | None, now: int, meta: RequestMeta | None = None
    ) -> Session:
        """The session, the user's `last_login_at` and the `login.success` event, together,
        copying the user's state as read. If the user changed meanwhile (the creation's
        condition failed), it is read again: a changed password or a disabled user ends
        the login as a wrong password would; a new role is simply copied."""
        for _ in range(OPEN_SESSION_ATTEMPTS):
            session = self._new_session(user, user_agent, now)
            event = audit.user_event(
                user,
                audit.LOGIN_SUCCESS,
                meta=meta,
                retention_days=self.settings.audit_retention_days,
            )
            try:
                self.store.open_session(session, owner=user, audit=event)
            except OwnerChanged:
                fresh = self.store.get_user(user.user_id)
                if (
                    fresh is None
                    or fresh.disabled
                    or fresh.password_version != user.password_version
                ):
                    raise InvalidCredentials() from None
                user = fresh
                continue
            audit.emit(event)
            return session
        raise Conflict()

    def _new_session(self, user: User, user_agent: str | None, now: int) -> Session:
        max_expires_at = now + self.settings.session_max_seconds
        return Session(
            session_id=str(uuid.uuid4()),
            user_id=user.user_id,
            account_id=user.account_id,
            email=user.email or "",
            role=user.role,
            is_bot=user.is_bot,
            disabled=user.disabled,
            user_agent=user_agent or "",
            created_at=now,
            last_used_at=now,
            max_expires_at=max_expires_at,
            ttl=min(now + self.settings.session_idle_seconds, max_expires_at),
            credentials_version=user.credentials_version,
        )

    def _access_token(self, session: Session, now: int) -> tuple[str, int]:
        """An RS256 access token of the session (one `kms:Sign`), verifiable with the JWKS."""
        expires_at = min(now + self.settings.access_token_seconds, session.max_expires_at)
        token = access_tokens.issue(
            self.kms or signing_keys.get_kms(),
            signing_keys.current_document(self.store),
            user_id=session.user_id,
            account_id=session.account_id,
            scopes=scopes.SESSION_SCOPES,
            issued_at=now,
            expires_at=expires_at,
            session_id=session.session_id,
        )
        return token, expires_at - now


def get_session_service() -> SessionService:
    from gatekey.settings import get_settings
    from gatekey.store import get_store
    from gatekey.tokens.keyring import get_keyring

    return SessionService(get_store(), get_keyring(), get_settings())
