"""A key's use: the metered authorization (one conditional UpdateItem) and the usage
counters folded into the last-used write.

The metered update is the whole decision in one call: it spends only if the key is
still live for the presented version, its rules are the ones the caller planned from
(`usage_rules`), and the window's count or the credits allow it. DynamoDB applies it
atomically, so N parallel authorizations in a window with limit L allow exactly
min(N, L). It returns the new item on success and the current one on failure
(`ReturnValuesOnConditionCheckFailure`), so the caller never needs a separate read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gatekey.records import ALLOWED_SUFFIX, REFUSED_SUFFIX, ApiKey, usage_attribute
from gatekey.store import item_keys
from gatekey.store.base import CONDITION_FAILED, StoreBase, error_code
from gatekey.store.serialization import from_item

# A key's own attributes, by placeholder: several are DynamoDB reserved words.
_NAMES = {
    "#type": "type",
    "#disabled": "disabled",
    "#expires": "expires_at",
    "#version": "version",
    "#kid": "secret_kid",
    "#prev": "previous_version",
    "#prev_kid": "previous_secret_kid",
    "#prev_until": "previous_valid_until",
    "#revoked": "revoked_until",
    "#rules": "usage_rules",
    "#window": "rl_window",
    "#count": "rl_count",
    "#credits": "credits_remaining",
    "#period": "credits_period",
    "#used": "last_used_at",
}
_PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")
_LIVE = (
    "#type = :type",
    "(attribute_not_exists(#disabled) OR #disabled = :false)",
    "(attribute_not_exists(#expires) OR #expires > :now)",
    "((#version = :v AND #kid = :kid) OR (#prev = :v AND #prev_kid = :kid AND #prev_until > :now))",
)


@dataclass
class Spend:
    """One metered authorization, planned from an image of the key.

    `window`/`limit`: the rate limit's current window start and limit (None: no rate
    limit); `new_window`: this spend opens the window (the item holds an older one).
    `period`: the current refill period when the credits refill; `refilled`: this spend
    applies the refill (remaining := refilled); `spend_credit`: the key has credits.
    `check_revocations`: refuse while the key has live revocations (client JWTs whose
    revocation was not checked). `counts`: usage to add, day -> (allowed, refused).
    """

    key_id: str
    key_type: str
    version: tuple[int, str]
    now: int
    usage_rules: str
    window: int | None = None
    limit: int | None = None
    new_window: bool = False
    spend_credit: bool = False
    period: str | None = None
    refilled: int | None = None
    check_revocations: bool = False
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    stale_days: tuple[str, ...] = ()


def _usage_clauses(
    counts: Mapping[str, tuple[int, int]], stale_days: tuple[str, ...], values: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """ADD terms for the counts and REMOVE terms for day counters past the kept days."""
    adds: list[str] = []
    for index, (day, pair) in enumerate(sorted(counts.items())):
        for suffix, amount in zip((ALLOWED_SUFFIX, REFUSED_SUFFIX), pair, strict=True):
            if amount:
                values[f":u{index}{suffix}"] = {"N": str(amount)}
                adds.append(f"{usage_attribute(day, suffix)} :u{index}{suffix}")
    removes = [
        usage_attribute(day, suffix)
        for day in stale_days
        for suffix in (ALLOWED_SUFFIX, REFUSED_SUFFIX)
    ]
    return adds, removes


def _expression(sets: list[str], adds: list[str], removes: list[str]) -> str:
    parts = [
        f"{verb} {', '.join(terms)}"
        for verb, terms in (("SET", sets), ("ADD", adds), ("REMOVE", removes))
        if terms
    ]
    return " ".join(parts)


class KeyUsage(StoreBase):
    def meter_key(self, spend: Spend) -> tuple[bool, ApiKey | None]:
        """(True, the key after the spend) or (False, the key as it is: None if gone)."""
        values: dict[str, Any] = {
            ":type": {"S": spend.key_type},
            ":false": {"BOOL": False},
            ":now": {"N": str(spend.now)},
            ":v": {"N": str(spend.version[0])},
            ":kid": {"S": spend.version[1]},
            ":rules": {"S": spend.usage_rules},
            ":one": {"N": "1"},
        }
        conditions = ["attribute_exists(pk)", *_LIVE, "#rules = :rules"]
        if spend.check_revocations:
            conditions.append("(attribute_not_exists(#revoked) OR #revoked <= :now)")
        sets = ["#used = :now"]
        if spend.window is not None:
            values[":w"] = {"N": str(spend.window)}
            if spend.new_window:
                conditions.append("(attribute_not_exists(#window) OR #window < :w)")
                sets += ["#window = :w", "#count = :one"]
            else:
                values[":limit"] = {"N": str(spend.limit)}
                conditions.append("#window = :w AND #count < :limit")
                sets.append("#count = #count + :one")
        if spend.spend_credit:
            if spend.period is not None:
                values[":p"] = {"S": spend.period}
            if spend.refilled is not None:
                values[":refilled"] = {"N": str(spend.refilled)}
                conditions.append("(attribute_not_exists(#period) OR #period <> :p)")
                sets += ["#credits = :refilled", "#period = :p"]
            else:
                values[":zero"] = {"N": "0"}
                conditions.append("#credits > :zero")
                if spend.period is not None:
                    conditions.append("#period = :p")
                sets.append("#credits = #credits - :one")
        adds, removes = _usage_clauses(spend.counts, spend.stale_days, values)
        expression = _expression(sets, adds, removes)
        condition = " AND ".join(conditions)
        # DynamoDB refuses placeholders an expression does not use.
        used = set(_PLACEHOLDER.findall(f"{expression} {condition}"))
        names = {name: attr for name, attr in _NAMES.items() if name in used}
        values = {name: value for name, value in values.items() if name in used}
        try:
            response = self._update_item(
                TableName=self.table,
                Key=item_keys.wire(item_keys.api_key(spend.key_id)),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client_error as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            old = getattr(exc, "response", {}).get("Item")
            return False, None if not old else ApiKey.from_item(from_item(old))
        return True, ApiKey.from_item(from_item(response["Attributes"]))

    def touch_key(self, key_id: str, *, at: int) -> None:
        """Records last use; a key deleted meanwhile stays deleted."""
        self.record_key_use(key_id, at=at, counts={})

    def record_key_use(
        self,
        key_id: str,
        *,
        at: int | None,
        counts: Mapping[str, tuple[int, int]],
        stale_days: tuple[str, ...] = (),
    ) -> None:
        """The last-used write (`at`; None: counts of refusals only, no use), carrying the
        usage counted since the last one; a key deleted meanwhile stays deleted (and its
        counts are dropped)."""
        values: dict[str, Any] = {}
        sets = []
        if at is not None:
            values[":at"] = {"N": str(at)}
            sets.append("last_used_at = :at")
        adds, removes = _usage_clauses(counts, stale_days, values)
        if not (sets or adds or removes):
            return
        expression = _expression(sets, adds, removes)
        try:
            self._update_item(
                TableName=self.table,
                Key=item_keys.wire(item_keys.api_key(key_id)),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)",
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except self._client_error as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
