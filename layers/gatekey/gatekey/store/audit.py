"""The audit log's items: events of writes that record nothing else, and the listing."""

from __future__ import annotations

from typing import Any

from gatekey import clock
from gatekey.store import item_keys
from gatekey.store.base import StoreBase
from gatekey.store.serialization import Item, from_item, is_expired

AUDIT_PAGE_SIZE = 100  # events read per query when filtering
AUDIT_PAGES = 10  # queries per GET /account/audit at most; then a cursor goes on
MINUTE = 60  # an email's unauthenticated failures are stored once per minute


def _audit_matches(event: Item, action: str | None, user_id: str | None) -> bool:
    if action is not None and event.get("action") != action:
        return False
    return user_id is None or user_id in (event.get("actor_user_id"), event.get("target_user_id"))


class AuditLog(StoreBase):
    def put_audit_event(self, event: Item) -> None:
        """Stores an event of an action that writes nothing else (a failed login)."""
        self._put(event, must_not_exist=True)

    def put_unauthenticated_failure(
        self, email_digest: str, events: list[Item], *, now: int
    ) -> bool:
        """Stores the events of a failed or throttled login (one per account the email
        names) unless this email already has its events of this minute; then the failure
        is counted on those instead (`repeats`). True when the events were stored.

        The minute's claim (a conditional put) and its events are one transaction, so a
        repeat always finds the events it counts on. Anyone who knows an email can fail
        logins with it: this bounds what they write into its account to one event a minute.
        """
        minute = now // MINUTE
        gate = item_keys.audit_gate(email_digest, minute)
        claim = {
            **gate,
            "events": [{"pk": event["pk"], "sk": event["sk"]} for event in events],
            "ttl": (minute + 2) * MINUTE,
        }
        if not self._transact([self._put_action(claim), *map(self.audit_put_action, events)]):
            return True
        keys = (self._get(gate) or {}).get("events") or []
        for key in keys:
            self._conditional_update(
                self._update_params(key, "ADD repeats :one", None, {":one": 1})
            )
        if not keys:  # an unknown email's repeat costs what a known one's does
            self.discarded_write(email_digest)
        return False

    def discarded_write(self, key: str) -> None:
        """The put of an audit event, of an item expired when written: the cost of
        recording a failed login, paid where there is no account to record it in (an
        unknown email). `key` (a digest of the email) bounds the items to one per email.
        A conditional put that fails would cost less, and timing would tell."""
        self._put({**item_keys.placeholder(key), "ttl": clock.now()})

    def list_audit_events(
        self,
        account_id: str,
        *,
        limit: int,
        start_key: dict[str, str] | None = None,
        action: str | None = None,
        user_id: str | None = None,
    ) -> tuple[list[Item], Item | None]:
        """An account's events newest first, and the key to continue from (None at the end).

        Filters are applied here rather than as a FilterExpression, so a page ends on the
        last event returned and the next one starts right after it. A rare filter reads
        at most AUDIT_PAGES pages per call and then hands back a cursor to go on with.
        """
        params: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": item_keys.audit_events(account_id)}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit if action is None and user_id is None else AUDIT_PAGE_SIZE,
        }
        if start_key is not None:
            params["ExclusiveStartKey"] = item_keys.wire(start_key)
        events: list[Item] = []
        for _ in range(AUDIT_PAGES):
            response = self._query_page(TableName=self.table, **params)
            raw_items = response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            for index, raw in enumerate(raw_items):
                event = from_item(raw)
                if is_expired(event) or not _audit_matches(event, action, user_id):
                    continue
                events.append(event)
                if len(events) == limit:
                    more = index < len(raw_items) - 1 or bool(last)
                    return events, ({"pk": event["pk"], "sk": event["sk"]} if more else None)
            if not last:
                return events, None
            params["ExclusiveStartKey"] = last
        end = from_item(last or {})  # the loop ran out of pages: `last` is set
        return events, {"pk": end["pk"], "sk": end["sk"]}
