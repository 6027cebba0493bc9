"""Two-step verification: TOTP enrolment and use, recovery codes (on the user item).

Turning MFA on ends the user's other sessions, and an admin's reset ends all of them:
the change, its audit event and the first session deletions go in one transaction
(as `Store.set_password` does); sessions beyond what fits end right after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatekey import clock
from gatekey.errors import Conflict
from gatekey.store import item_keys
from gatekey.store.base import TRANSACTION_LIMIT, Action, StoreBase
from gatekey.store.serialization import Item

if TYPE_CHECKING:
    from gatekey.records import Session


class Mfa(StoreBase):
    if TYPE_CHECKING:  # from `Sessions`, which comes before this mixin in `Store`

        def list_sessions(self, user_id: str) -> list[Session]: ...

        def _session_delete_actions(self, session: Session) -> list[Action]: ...

    def _update_user(
        self,
        user_id: str,
        expression: str,
        condition: str,
        expression_values: Item,
        names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._update_params(
            item_keys.user(user_id), expression, condition, expression_values, names
        )

    def set_totp_pending(self, user_id: str, *, nonce: str, kid: str, at: int) -> None:
        """Remembers an enrolment until it is confirmed; Conflict while MFA is on."""
        update = self._update_user(
            user_id,
            "SET totp_pending_nonce = :nonce, totp_pending_kid = :kid, totp_pending_at = :at",
            "(attribute_not_exists(mfa_enabled) OR mfa_enabled = :false)",
            {":nonce": nonce, ":kid": kid, ":at": at, ":false": False},
        )
        if self._conditional_update(update) is None:
            raise Conflict("Two-step verification is already on.")

    def enable_totp(
        self,
        user_id: str,
        *,
        nonce: str,
        kid: str,
        step: int,
        recovery_codes: dict[str, int],
        recovery_kid: str,
        keep_session_id: str | None = None,
        audit: Item | None = None,
    ) -> int:
        """Turns the pending enrolment `nonce` on, with its first used time step and the
        hashed recovery codes, and ends every session of the user but `keep_session_id`
        (returns how many); Conflict when it is no longer the pending one."""
        update = self._update_user(
            user_id,
            "SET mfa_enabled = :true, totp_nonce = :nonce, totp_kid = :kid,"
            " totp_last_step = :step, recovery_codes = :codes, recovery_kid = :rkid,"
            " mfa_enabled_at = :now"
            " REMOVE totp_pending_nonce, totp_pending_kid, totp_pending_at",
            "totp_pending_nonce = :nonce AND"
            " (attribute_not_exists(mfa_enabled) OR mfa_enabled = :false)",
            {
                ":true": True,
                ":false": False,
                ":nonce": nonce,
                ":kid": kid,
                ":step": step,
                ":codes": recovery_codes,
                ":rkid": recovery_kid,
                ":now": clock.now(),
            },
        )
        count, ended = self._session_ends(user_id, keep_session_id)
        if self._transact_ending_sessions([{"Update": update}], ended, audit):
            raise Conflict("This enrolment is no longer pending; start again.")
        return count

    def use_totp_step(self, user_id: str, *, nonce: str, step: int) -> bool:
        """Spends a TOTP time step: True only for a step later than the last one used with
        this secret, so a code works once, however many requests race with it."""
        update = self._update_user(
            user_id,
            "SET totp_last_step = :step",
            "mfa_enabled = :true AND totp_nonce = :nonce AND"
            " (attribute_not_exists(totp_last_step) OR totp_last_step < :step)",
            {":step": step, ":true": True, ":nonce": nonce},
        )
        return self._conditional_update(update) is not None

    def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Spends a recovery code (by its hash): True once, False ever after."""
        update = self._update_user(
            user_id,
            "REMOVE recovery_codes.#code",
            "mfa_enabled = :true AND attribute_exists(recovery_codes.#code)",
            {":true": True},
            {"#code": code_hash},
        )
        return self._conditional_update(update) is not None

    def disable_totp(self, user_id: str, *, nonce: str, audit: Item | None = None) -> None:
        """Turns MFA off (the secret's nonce and the recovery codes go with it)."""
        update = self._update_user(
            user_id,
            "SET mfa_enabled = :false REMOVE totp_nonce, totp_kid, totp_last_step,"
            " recovery_codes, recovery_kid, mfa_enabled_at",
            "mfa_enabled = :true AND totp_nonce = :nonce",
            {":true": True, ":false": False, ":nonce": nonce},
        )
        if self._transact_audited([{"Update": update}], audit):
            raise Conflict("Two-step verification changed meanwhile; reload and retry.")

    def reset_totp(self, user_id: str, *, nonce: str, audit: Item | None = None) -> int:
        """An admin's reset for a lost device: MFA off (a pending enrolment goes too) and
        every session of the user ended (returns how many); Conflict when MFA was turned
        off or re-enrolled meanwhile."""
        update = self._update_user(
            user_id,
            "SET mfa_enabled = :false REMOVE totp_nonce, totp_kid, totp_last_step,"
            " recovery_codes, recovery_kid, mfa_enabled_at,"
            " totp_pending_nonce, totp_pending_kid, totp_pending_at",
            "mfa_enabled = :true AND totp_nonce = :nonce",
            {":true": True, ":false": False, ":nonce": nonce},
        )
        count, ended = self._session_ends(user_id, None)
        if self._transact_ending_sessions([{"Update": update}], ended, audit):
            raise Conflict("Two-step verification changed meanwhile; reload and retry.")
        return count

    def _session_ends(self, user_id: str, keep_session_id: str | None) -> tuple[int, list[Action]]:
        """How many sessions of the user end (all but `keep_session_id`) and the deletes
        of them and their refs; unconditional, so one that ended meanwhile does not fail
        the transaction."""
        sessions = [
            session
            for session in self.list_sessions(user_id)
            if session.session_id != keep_session_id
        ]
        return len(sessions), [a for s in sessions for a in self._session_delete_actions(s)]

    def _transact_ending_sessions(
        self, actions: list[Action], ended: list[Action], audit: Item | None
    ) -> list[str]:
        """`actions`, the audit event and as many session deletes as fit, all or nothing;
        the remaining deletes follow once that succeeded. The first transaction's
        cancellation codes ([] on success)."""
        required = self._with_audit(actions, audit)
        room = TRANSACTION_LIMIT - len(required)
        codes = self._transact(required + ended[:room])
        if codes:
            return codes
        for start in range(room, len(ended), TRANSACTION_LIMIT):
            self._transact(ended[start : start + TRANSACTION_LIMIT])
        return []
