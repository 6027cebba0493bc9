"""Login and refresh: from credentials to a stored session and its two tokens.

Also the password check that other routes share with login (changing the password,
turning MFA off): it counts toward the same per-email lockout.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from gatekey import audit, clock, metrics, mfa, session_tokens
from gatekey.audit import RequestMeta
from gatekey.errors import InvalidCredentials, MfaRequired, Throttled, ValidationFailed
from gatekey.keyring import Keyring
from gatekey.passwords import verify_password
from gatekey.records import Session, User
from gatekey.settings import Settings
from gatekey.store import Item, Store
from gatekey.users import normalize_email, public_user

ABSENT_USER_ID = "00000000-0000-0000-0000-000000000000"
FAILURE_WINDOW = 3600  # failures (and past lockouts) are remembered this long
MAX_LOCKOUT_SECONDS = 3600


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
    def __init__(self, store: Store, keyring: Keyring, settings: Settings) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings

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

        The attempt is counted before the password is checked, so parallel guesses
        cannot outrun the lockout; a missing or wrong code counts as a failure too.
        """
        email = normalize_email(email)
        now = clock.now()
        try:
            throttle = self._reserve_attempt(email, now)
        except Throttled:
            self._audit_login(self._users_of(email, account_id), audit.LOGIN_THROTTLED, meta, email)
            raise
        users = self._users_of(email, account_id)
        # An unknown email does the same reads and hashing as a wrong password.
        if not users:
            self.store.get_user(ABSENT_USER_ID)
        matched = [user for user in users if verify_password(user.password_hash, password)]
        if not users:
            verify_password(None, password)
        matched = [user for user in matched if not user.disabled]
        if not matched:
            self._record_failure(email, throttle, now)
            self._audit_login(users, audit.LOGIN_FAILURE, meta, email)
            raise InvalidCredentials()
        if len(matched) > 1:
            self.store.clear_login_failures(email)
            raise ValidationFailed.field(
                "account_id",
                "This email belongs to several accounts: give account_id.",
                code="required",
                extra={"account_ids": sorted(user.account_id for user in matched)},
            )
        user = matched[0]
        if mfa.is_enabled(user):
            self._check_second_factor(user, email, throttle, now, totp, recovery_code, meta)
        self.store.clear_login_failures(email)
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

    def verify_password(
        self,
        user: User,
        password: str,
        *,
        extra_check: Callable[[User], bool] | None = None,
        failure_event: Item | None = None,
    ) -> None:
        """The password of a signed-in user (and `extra_check`, e.g. an MFA code, only once
        the password matched), as one login attempt: 401 `invalid_credentials` when wrong,
        429 once the email is locked."""
        email = user.email or user.user_id
        now = clock.now()
        throttle = self._reserve_attempt(email, now)
        matched = verify_password(user.password_hash, password)
        if matched and extra_check is not None:
            matched = extra_check(user)
        if not matched:
            self._record_failure(email, throttle, now)
            if failure_event is not None:
                audit.record(self.store, failure_event)
            raise InvalidCredentials()
        self.store.clear_login_failures(email)

    def _users_of(self, email: str, account_id: str | None) -> list[User]:
        candidates = self.store.find_user_ids_by_email(email)
        if account_id is not None:
            candidates = {k: v for k, v in candidates.items() if k == account_id}
        return [user for user in map(self.store.get_user, candidates.values()) if user]

    def _check_second_factor(
        self,
        user: User,
        email: str,
        throttle: Item,
        now: int,
        totp: str | None,
        recovery_code: str | None,
        meta: RequestMeta | None,
    ) -> None:
        """The right password of a user with MFA on: without a code 401 `mfa_required`,
        with a wrong or replayed one 401 `invalid_credentials`; both count as failures
        (otherwise "password only" requests would reset the count between code guesses)."""
        if not (totp or recovery_code):
            self._record_failure(email, throttle, now)
            raise MfaRequired()
        if not mfa.check_second_factor(
            self.store, self.keyring, user, totp=totp, recovery_code=recovery_code
        ):
            self._record_failure(email, throttle, now)
            self._audit_login([user], audit.LOGIN_FAILURE, meta, email)
            raise InvalidCredentials()

    def _audit_login(
        self, users: list[User], action: str, meta: RequestMeta | None, email: str
    ) -> None:
        """A failed or throttled login is recorded in the account of each user the email
        names; for an unknown email there is no account, so only the log line is written,
        after a write of the same cost whose item is expired on arrival (timing tells
        nothing, and no read ever returns it)."""
        if not users:
            self.store.discarded_write(hashlib.sha256(email.encode()).hexdigest())
            audit.emit(
                audit.new_event(
                    "-",
                    action,
                    actor=None,
                    target=(audit.TARGET_USER, "-"),
                    meta=meta,
                    retention_days=self.settings.audit_retention_days,
                    outcome=audit.FAILURE,
                )
            )
            return
        for user in users:
            audit.record(
                self.store,
                audit.user_event(
                    user,
                    action,
                    meta=meta,
                    retention_days=self.settings.audit_retention_days,
                    outcome=audit.FAILURE,
                ),
            )

    def refresh(self, session: Item) -> dict[str, Any]:
        """A new access token for a live session (checked by the authorization module)."""
        access_token, expires_in = self._access_token(Session.from_item(session), clock.now())
        return {"access_token": access_token, "expires_in": expires_in}

    def _reserve_attempt(self, email: str, now: int) -> Item:
        """Counts this attempt up front; a locked email, or one whose attempts in flight
        already reach the limit, is refused without looking at the password."""
        throttle = self.store.reserve_login_attempt(
            email, now=now, max_failures=self.settings.login_max_failures, ttl=now + FAILURE_WINDOW
        )
        if throttle is not None:
            return throttle
        current = self.store.get_login_throttle(email) or {}
        locked_until = int(current.get("locked_until") or 0)
        raise Throttled(retry_after=locked_until - now if locked_until > now else 1)

    def _record_failure(self, email: str, throttle: Item, now: int) -> None:
        """The attempt stays counted; the one that reaches the limit starts a lockout,
        60 s (the setting) the first time and twice as long at each repeat, up to 1 h."""
        if int(throttle["failures"]) < self.settings.login_max_failures:
            return
        lockouts = int(throttle.get("lockouts") or 0)
        duration = min(self.settings.login_lockout_seconds * 2**lockouts, MAX_LOCKOUT_SECONDS)
        self.store.lock_login(
            email, until=now + duration, lockouts=lockouts + 1, ttl=now + duration + FAILURE_WINDOW
        )
        metrics.count(metrics.LOCKOUTS)

    def _open_session(
        self, user: User, user_agent: str | None, now: int, meta: RequestMeta | None = None
    ) -> Session:
        """The session, the user's `last_login_at` and the `login.success` event, together."""
        max_expires_at = now + self.settings.session_max_seconds
        session = Session(
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
        )
        self.store.open_session(
            session.to_item(),
            audit=audit.user_event(
                user,
                audit.LOGIN_SUCCESS,
                meta=meta,
                retention_days=self.settings.audit_retention_days,
            ),
        )
        return session

    def _access_token(self, session: Session, now: int) -> tuple[str, int]:
        expires_at = min(now + self.settings.access_token_seconds, session.max_expires_at)
        token = session_tokens.issue(
            self.keyring,
            user_id=session.user_id,
            session_id=session.session_id,
            token_use=session_tokens.ACCESS,
            issued_at=now,
            expires_at=expires_at,
        )
        return token, expires_at - now


def get_session_service() -> SessionService:
    from gatekey.keyring import get_keyring
    from gatekey.settings import get_settings
    from gatekey.store import get_store

    return SessionService(get_store(), get_keyring(), get_settings())
