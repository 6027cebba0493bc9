"""TOTP two-step verification (RFC 6238: 6 digits, 30 s) and recovery codes.

Nothing in the table gives a code away. The TOTP secret is never stored: it is derived
from the signing keyring (`Keyring.derive`) and a random per-enrolment nonce, which is
all the user item keeps (with the keyring version that derived it), so a dump of the
table without the signing secret yields no secret. Recovery codes are stored as
HMAC-SHA256 digests under another keyring-derived key.

A code works once: the user item remembers the last time step used and a conditional
update refuses any step that is not later (`Store.use_totp_step`), also when two
requests race. Recovery codes are removed by a conditional update on their digest.

Every change needs the password, checked as a login attempt (it counts toward the
lockout), so a stolen session cannot lock its owner out by turning MFA on; turning it
on ends the user's other sessions. An admin may clear a member's MFA (lost device),
which ends all of that member's sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from typing import TYPE_CHECKING, Any

import pyotp

from gatekey import clock, policy
from gatekey.accounts import audit
from gatekey.accounts.lockout import Lockout
from gatekey.accounts.users import get_user
from gatekey.errors import Conflict, NotFound, ValidationFailed
from gatekey.policy import Action
from gatekey.principal import Principal
from gatekey.records import User
from gatekey.settings import Settings
from gatekey.store import Store
from gatekey.tokens.keyring import Keyring

if TYPE_CHECKING:
    from gatekey.accounts.audit import RequestMeta

ISSUER = "gatekey"
DIGITS = 6
INTERVAL = 30
DRIFT_STEPS = 1  # a code of the previous or next 30 s window is accepted too
RECOVERY_CODE_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
RECOVERY_GROUP = 5  # "xxxxx-xxxxx": 10 characters, about 50 bits
SECRET_PURPOSE = "totp-secret"
RECOVERY_PURPOSE = "recovery-code"
SECRET_BYTES = 20  # RFC 4226's recommended 160 bits

_CODE = re.compile(r"[0-9]{6}")


def is_enabled(user: User) -> bool:
    return user.mfa_enabled


def derive_secret(keyring: Keyring, user_id: str, nonce: str, kid: str) -> str:
    """The base32 TOTP secret of one enrolment, recomputed whenever it is needed."""
    key = keyring.derive(SECRET_PURPOSE, kid)
    digest = hmac.new(key, f"{user_id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:SECRET_BYTES]).decode()


def time_step(at: float) -> int:
    return int(at // INTERVAL)


def matching_step(secret: str, code: str, at: float) -> int | None:
    """The time step (within the allowed drift) whose code is `code`, else None."""
    code = "".join(code.split())
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now = time_step(at)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step  # no early exit: every candidate costs the same
    return found


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(2 * RECOVERY_GROUP))
        codes.append(f"{raw[:RECOVERY_GROUP]}-{raw[RECOVERY_GROUP:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def hash_recovery_code(keyring: Keyring, kid: str, user_id: str, code: str) -> str:
    """The stored form of a recovery code: an HMAC, so a dump cannot be guessed offline."""
    key = keyring.derive(RECOVERY_PURPOSE, kid)
    message = f"{user_id}:{normalize_recovery_code(code)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


ACCEPTED = "accepted"
WRONG = "wrong"
REPLAYED = "replayed"  # a right TOTP code presented again: each code works once


def second_factor_outcome(
    store: Store,
    keyring: Keyring,
    user: User,
    *,
    totp: str | None,
    recovery_code: str | None,
) -> str:
    """Spends a TOTP code or a recovery code of a user with MFA on: ACCEPTED, WRONG (also
    a code of a replaced enrolment) or REPLAYED (a right TOTP code already spent)."""
    user_id = user.user_id
    if totp:
        nonce, kid = user.totp_nonce, user.totp_kid
        if not nonce or not kid:
            return WRONG
        step = matching_step(derive_secret(keyring, user_id, nonce, kid), totp, clock.now())
        if step is None:
            return WRONG
        return ACCEPTED if store.use_totp_step(user_id, nonce=nonce, step=step) else REPLAYED
    if recovery_code:
        kid = user.recovery_kid
        if not kid or not normalize_recovery_code(recovery_code):
            return WRONG
        digest = hash_recovery_code(keyring, kid, user_id, recovery_code)
        return ACCEPTED if store.use_recovery_code(user_id, digest) else WRONG
    return WRONG


def check_second_factor(
    store: Store,
    keyring: Keyring,
    user: User,
    *,
    totp: str | None,
    recovery_code: str | None,
) -> bool:
    """Whether a second factor is accepted (and spent); see `second_factor_outcome`."""
    outcome = second_factor_outcome(store, keyring, user, totp=totp, recovery_code=recovery_code)
    return outcome == ACCEPTED


def _is_uuid(value: str) -> bool:
    """User ids are UUIDs; anything else (say, 2 KB of path) is not looked up."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


class MfaService:
    def __init__(self, store: Store, keyring: Keyring, settings: Settings) -> None:
        self.store = store
        self.keyring = keyring
        self.settings = settings

    def enrol(
        self, principal: Principal, password: str, meta: RequestMeta | None = None
    ) -> dict[str, Any]:
        """Starts (or restarts) an enrolment, with the password: the secret is shown now
        and never again."""
        policy.check(principal, Action.CHANGE_OWN_SECURITY)
        user = get_user(self.store, principal.user_id)
        self._verify_password(principal, user, password, meta)
        nonce = secrets.token_urlsafe(16)
        kid = self.keyring.current_kid
        self.store.set_totp_pending(user.user_id, nonce=nonce, kid=kid, at=clock.now())
        secret = derive_secret(self.keyring, user.user_id, nonce, kid)
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
            name=user.email or user.user_id, issuer_name=ISSUER
        )
        return {"secret": secret, "otpauth_uri": uri}

    def confirm(
        self,
        principal: Principal,
        code: str,
        password: str,
        meta: RequestMeta | None = None,
    ) -> dict[str, Any]:
        """Turns MFA on, with the password, once a code of the pending secret proves the
        app has it, and ends the user's other sessions; returns the recovery codes,
        shown this once."""
        policy.check(principal, Action.CHANGE_OWN_SECURITY)
        user = get_user(self.store, principal.user_id)
        self._verify_password(principal, user, password, meta)
        nonce, kid = user.totp_pending_nonce, user.totp_pending_kid
        if is_enabled(user) or not nonce or not kid:
            raise Conflict("There is no pending enrolment: start with POST /user/mfa/totp.")
        secret = derive_secret(self.keyring, user.user_id, nonce, kid)
        step = matching_step(secret, code, clock.now())
        if step is None:
            raise ValidationFailed.field(
                "code", "This code is wrong or expired; enter the current one."
            )
        codes = new_recovery_codes()
        recovery_kid = self.keyring.current_kid
        event = audit.user_event(
            user,
            audit.MFA_ENROLLED,
            actor=principal,
            meta=meta,
            retention_days=self.settings.audit_retention_days,
        )
        self.store.enable_totp(
            user.user_id,
            nonce=nonce,
            kid=kid,
            step=step,
            recovery_codes={
                hash_recovery_code(self.keyring, recovery_kid, user.user_id, c): 1 for c in codes
            },
            recovery_kid=recovery_kid,
            keep_session_id=principal.session_id,
            audit=event,
        )
        audit.emit(event)
        return {"recovery_codes": codes}

    def _verify_password(
        self, principal: Principal, user: User, password: str, meta: RequestMeta | None
    ) -> None:
        """The password of an enrolment step, as a login attempt; a wrong one is recorded
        as a failed `mfa.enrolled`."""
        failure = audit.user_event(
            user,
            audit.MFA_ENROLLED,
            actor=principal,
            meta=meta,
            retention_days=self.settings.audit_retention_days,
            outcome=audit.FAILURE,
        )
        Lockout(self.store, self.settings).verify_password(user, password, failure_event=failure)

    def reset_by_admin(
        self, admin: Principal, user_id: str, meta: RequestMeta | None = None
    ) -> None:
        """Clears the MFA of a user of the admin's account who lost their device, and ends
        all their sessions. Not the admin's own: that is `DELETE /user/mfa`, with the
        password and a code, so a stolen admin session cannot skip them."""
        policy.check(admin, Action.RESET_MEMBER_MFA)
        user = self.store.get_user(user_id) if _is_uuid(user_id) else None
        if user is None or user.account_id != admin.account_id:
            raise NotFound()
        policy.check(admin, Action.RESET_MEMBER_MFA, policy.Request(target=user))
        if not is_enabled(user) or not user.totp_nonce:
            raise Conflict("Two-step verification is not on.")
        event = audit.user_event(
            user,
            audit.MFA_RESET_BY_ADMIN,
            actor=admin,
            meta=meta,
            retention_days=self.settings.audit_retention_days,
        )
        self.store.reset_totp(user.user_id, nonce=user.totp_nonce, audit=event)
        audit.emit(event)

    def disable(
        self, principal: Principal, password: str, code: str, meta: RequestMeta | None = None
    ) -> None:
        """Turns MFA off with the password and a current code (TOTP or recovery code);
        a wrong one is a failed login attempt (it counts toward the lockout)."""
        policy.check(principal, Action.CHANGE_OWN_SECURITY)
        user = get_user(self.store, principal.user_id)
        if not is_enabled(user):
            raise Conflict("Two-step verification is not on.")

        def second_factor(checked: User) -> bool:
            is_totp = _CODE.fullmatch("".join(code.split())) is not None
            totp, recovery = (code, None) if is_totp else (None, code)
            return check_second_factor(
                self.store, self.keyring, checked, totp=totp, recovery_code=recovery
            )

        failure = audit.user_event(
            user,
            audit.MFA_DISABLED,
            actor=principal,
            meta=meta,
            retention_days=self.settings.audit_retention_days,
            outcome=audit.FAILURE,
        )
        Lockout(self.store, self.settings).verify_password(
            user, password, extra_check=second_factor, failure_event=failure
        )
        event = audit.user_event(
            user,
            audit.MFA_DISABLED,
            actor=principal,
            meta=meta,
            retention_days=self.settings.audit_retention_days,
        )
        self.store.disable_totp(user.user_id, nonce=str(user.totp_nonce), audit=event)
        audit.emit(event)


def get_mfa_service() -> MfaService:
    from gatekey.settings import get_settings
    from gatekey.store import get_store
    from gatekey.tokens.keyring import get_keyring

    return MfaService(get_store(), get_keyring(), get_settings())
