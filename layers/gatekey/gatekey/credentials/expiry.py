"""Expiry warnings: mail each owner once 7 days and once 1 day before a key or bot token
expires (contract section 11), run daily by the NotifyExpiringFunction schedule, by
`gatekey notify-expiring`, and by the local run's daily timer.

Who is mailed: a key's owner (the user it belongs to); for a bot's token, every enabled
admin of the bot's account (a bot has no email, and its admins manage its token). One
message per recipient per run lists every handle due. Disabled owners are not mailed.

How a run finds the keys: every key or bot token with an expiry has a marker under the
UTC day it expires (store/expiry_markers.py). A run reads the day partitions from today
to today + 7, so a day the schedule missed is caught up by the next run, and only keys
that expire this week are read, whatever the table holds. For each marker due a
warning it reads the key (a marker whose key is gone, or whose expiry changed, is
dropped), claims the warning with a conditional update of the marker (two runs at once
never send one warning twice), sends, and records `key.expiry_warned`. A message that
cannot be sent gives its claims back, for the next run. Keys created before markers
existed have none and are never warned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from gatekey import clock, usage
from gatekey.accounts import audit, mail
from gatekey.accounts.users import ADMIN
from gatekey.errors import ServiceUnavailable
from gatekey.records import ApiKey, ExpiryMarker, User
from gatekey.store import Store

DAY = 86_400
WINDOW_DAYS = 7
SEVEN_DAYS = "7d"
ONE_DAY = "1d"
REASONS = {SEVEN_DAYS: "7_days", ONE_DAY: "1_day"}
USER_AGENT = "gatekey-notify-expiring"


def warning_due(marker: ExpiryMarker, now: int) -> str | None:
    """The warning a marker's key is due at `now` (`7d`, `1d`), None when none is: not
    within 7 days yet, already expired, or already warned at this threshold."""
    left = marker.expires_at - now
    if left <= 0 or marker.warned_1d is not None:
        return None
    if left <= DAY:
        return ONE_DAY
    if left <= WINDOW_DAYS * DAY and marker.warned_7d is None:
        return SEVEN_DAYS
    return None


@dataclass
class _Warning:
    marker: ExpiryMarker
    key: ApiKey
    threshold: str
    label: str
    recipients: list[str]
    sent: int = 0


@dataclass
class RunReport:
    """What one run did; the items it read are the measure of its cost."""

    days: list[str] = field(default_factory=list)
    markers_read: int = 0
    keys_read: int = 0
    users_read: int = 0
    warned: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0
    dropped: int = 0
    failed: int = 0
    requests: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "markers_read": self.markers_read,
            "keys_read": self.keys_read,
            "users_read": self.users_read,
            "warned": self.warned,
            "messages": self.messages,
            "dropped": self.dropped,
            "failed": self.failed,
            "requests": self.requests,
        }


class ExpiryWarnings:
    def __init__(self, store: Store) -> None:
        self.store = store

    def run(self, now: int | None = None) -> dict[str, Any]:
        now = clock.now() if now is None else now
        calls = self.store.calls
        report = RunReport(days=[usage.day(now + back * DAY) for back in range(WINDOW_DAYS + 1)])
        markers = self.store.expiring_markers(report.days)
        report.markers_read = len(markers)
        due = [(m, t) for m in markers if (t := warning_due(m, now)) is not None]
        warnings = self._warnings(due, report)
        claimed = [
            w for w in warnings if self.store.claim_expiry_warning(w.marker, w.threshold, now)
        ]
        by_recipient: dict[str, list[_Warning]] = defaultdict(list)
        for warning in claimed:
            for recipient in warning.recipients:
                by_recipient[recipient].append(warning)
        for recipient, items in sorted(by_recipient.items()):
            try:
                mail.send(recipient, *_message(items, now))
            except ServiceUnavailable:
                report.failed += 1
                continue
            report.messages += 1
            for warning in items:
                warning.sent += 1
        for warning in claimed:
            if warning.sent == 0:
                self.store.release_expiry_warning(warning.marker, warning.threshold, now)
                continue
            self._record(warning)
            report.warned.append(
                {
                    "account_id": warning.key.account_id,
                    "handle": warning.key.handle,
                    "user_id": warning.key.user_id,
                    "is_bot": warning.key.is_bot,
                    "warning": warning.threshold,
                    "expires_at": clock.iso(warning.key.expires_at),
                    "recipients": warning.sent,
                }
            )
        report.requests = self.store.calls - calls
        return report.view()

    def _warnings(self, due: list[tuple[ExpiryMarker, str]], report: RunReport) -> list[_Warning]:
        """The due markers whose key is still there, with who is to be mailed; markers
        whose key is gone (or expires at another time now) are dropped."""
        if not due:
            return []
        keys = self.store.keys_by_id([marker.key_id for marker, _ in due])
        report.keys_read = len(keys)
        users = self.store.users_by_id(sorted({marker.user_id for marker, _ in due}))
        report.users_read = len(users)
        admins: dict[str, list[str]] = {}
        warnings = []
        for marker, threshold in due:
            key = keys.get(marker.key_id)
            if key is None or key.expires_at != marker.expires_at:
                self.store.drop_expiry_marker(marker)
                report.dropped += 1
                continue
            owner = users.get(key.user_id)
            if owner is None or owner.disabled or key.disabled:
                continue
            if owner.is_bot:
                if key.account_id not in admins:
                    admins[key.account_id] = self._admin_emails(key.account_id, report)
                recipients = admins[key.account_id]
                label = f"{key.handle} of bot {owner.name or owner.user_id}"
            else:
                recipients = [owner.email] if owner.email else []
                label = key.handle
            if recipients:
                warnings.append(_Warning(marker, key, threshold, label, recipients))
        return warnings

    def _admin_emails(self, account_id: str, report: RunReport) -> list[str]:
        """A bot token's warning goes to its account's enabled admins."""
        members = self.store.list_account_users(account_id)
        report.users_read += len(members)
        return sorted(
            user.email for user in members if _mailable_admin(user) and user.email is not None
        )

    def _record(self, warning: _Warning) -> None:
        key = warning.key
        target = (audit.TARGET_USER, key.user_id) if key.is_bot else (audit.TARGET_KEY, key.handle)
        event = audit.new_event(
            key.account_id,
            audit.KEY_EXPIRY_WARNED,
            actor=audit.Actor(None),
            target=target,
            meta=audit.RequestMeta(user_agent=USER_AGENT),
            reason=REASONS[warning.threshold],
        )
        audit.record(self.store, event)


def _mailable_admin(user: User) -> bool:
    return user.role == ADMIN and not user.disabled and not user.is_bot and bool(user.email)


def _message(items: list[_Warning], now: int) -> tuple[str, str]:
    """(subject, text) of one recipient's warning: every handle due, soonest first."""
    items = sorted(items, key=lambda w: (w.key.expires_at or 0, w.label))
    count = len(items)
    subject = (
        f"gatekey: {count} key{'s' if count != 1 else ''} expire{'' if count != 1 else 's'} soon"
    )
    lines = ["These gatekey credentials expire soon:", ""]
    for warning in items:
        expires_at = warning.key.expires_at or now
        seconds = max(0, expires_at - now)
        if seconds >= DAY + DAY // 2:
            left = f"{round(seconds / DAY)} days"
        else:
            left = f"{round(seconds / 3600)} hours"
        lines.append(
            f"- {warning.label} ({warning.key.account_id}): {clock.iso(expires_at)}, in {left}"
        )
    lines += [
        "",
        "Create a new key (or regenerate the bot's token) and switch to it before then:",
        "an expired key is refused. This message holds no key or token.",
    ]
    return subject, "\n".join(lines) + "\n"


def get_expiry_warnings() -> ExpiryWarnings:
    from gatekey.store import get_store

    return ExpiryWarnings(get_store())
