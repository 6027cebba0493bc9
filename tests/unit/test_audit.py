"""The audit event builder and the cursor of GET /account/audit (no database)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from gatekey.accounts import audit
from gatekey.errors import ValidationFailed
from gatekey.principal import Principal

ACCOUNT = str(uuid.uuid4())


def event(**kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("actor", None)
    kwargs.setdefault("target", (audit.TARGET_USER, "u1"))
    kwargs.setdefault("retention_days", 30)
    return audit.new_event(ACCOUNT, kwargs.pop("action", audit.USER_CREATED), **kwargs)


def attr_of(raised: pytest.ExceptionInfo[ValidationFailed]) -> str:
    return raised.value.entries[0]["attr"]


def test_event_item_layout_and_view():
    principal = Principal(
        user_id="u0",
        account_id=ACCOUNT,
        email="a@example.com",
        role="admin",
        is_bot=False,
        token_type="api_key",
        key_handle="ci",
        token_id="secret-key-id",
    )
    meta = audit.RequestMeta(ip="198.51.100.7", user_agent="curl/8")
    item = event(actor=principal, meta=meta)
    assert item["pk"] == f"AUDIT#{ACCOUNT}"
    assert item["sk"] == f"{item['at']:012d}#{item['id']}"
    assert uuid.UUID(item["id"]).version == 7
    assert item["ttl"] == item["at"] + 30 * 86_400
    view = audit.event_view(item)
    assert view == {
        "id": item["id"],
        "at": view["at"],
        "action": "user.created",
        "outcome": "success",
        "actor": {"user_id": "u0", "token_type": "api_key", "key_handle": "ci"},
        "target": {"type": "user", "id": "u1"},
        "ip": "198.51.100.7",
        "user_agent": "curl/8",
    }
    assert "secret-key-id" not in json.dumps(item)


def test_actor_without_a_key_has_no_key_handle():
    view = audit.event_view(event(actor=audit.Actor("u0", "session")))
    assert view["actor"] == {"user_id": "u0", "token_type": "session"}


def test_long_user_agents_are_cut():
    item = event(meta=audit.RequestMeta(user_agent="x" * 5000))
    assert len(item["user_agent"]) == audit.MAX_USER_AGENT


@pytest.mark.parametrize(
    "kwargs",
    [{"action": "key.exploded"}, {"outcome": "maybe"}, {"target": ("tenant", "a")}],
)
def test_unknown_actions_outcomes_and_targets_are_bugs(kwargs):
    with pytest.raises(ValueError):
        event(**kwargs)


def test_ids_sort_in_the_order_events_were_made():
    made = []
    for _ in range(5):
        made.append(event()["sk"])
        time.sleep(0.002)
    assert made == sorted(made)


def test_cursor_round_trip():
    item = event()
    cursor = audit.encode_cursor(item)
    assert "=" not in cursor
    assert audit.decode_cursor(cursor, ACCOUNT) == {"pk": item["pk"], "sk": item["sk"]}


def encoded(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        encoded([1, 2]),
        encoded({"pk": f"AUDIT#{ACCOUNT}"}),
        encoded({"pk": f"AUDIT#{ACCOUNT}", "sk": "1", "x": 1}),
        encoded({"pk": f"AUDIT#{ACCOUNT}", "sk": "not a sort key"}),
        encoded({"pk": f"AUDIT#{ACCOUNT}", "sk": 5}),
        encoded({"pk": "USER#someone", "sk": "000000000001#" + str(uuid.uuid4())}),
        "[" * 5000,
    ],
)
def test_malformed_cursors_are_refused(cursor):
    with pytest.raises(ValidationFailed) as raised:
        audit.decode_cursor(cursor, ACCOUNT)
    assert attr_of(raised) == "cursor"


def test_a_cursor_of_another_account_is_refused():
    cursor = audit.encode_cursor(
        audit.new_event(
            str(uuid.uuid4()), audit.KEY_CREATED, actor=None, target=("key", "k"), retention_days=1
        )
    )
    with pytest.raises(ValidationFailed):
        audit.decode_cursor(cursor, ACCOUNT)


@pytest.mark.parametrize(("raw", "limit"), [(None, 50), ("", 50), ("1", 1), ("100", 100)])
def test_limits(raw, limit):
    assert audit.parse_limit(raw) == limit


@pytest.mark.parametrize("raw", ["0", "101", "-1", "1.5", "ten", "٣"])
def test_bad_limits(raw):
    with pytest.raises(ValidationFailed) as raised:
        audit.parse_limit(raw)
    assert attr_of(raised) == "limit"


def test_filters():
    audit.check_filters("key.created", str(uuid.uuid4()))
    audit.check_filters(None, None)
    with pytest.raises(ValidationFailed) as raised:
        audit.check_filters("key", None)
    assert attr_of(raised) == "action"
    with pytest.raises(ValidationFailed) as raised:
        audit.check_filters(None, "u" * 65)
    assert attr_of(raised) == "user_id"


def test_audit_lines_are_written_whatever_the_log_level():
    import logging

    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    parent = logging.getLogger("gatekey")
    level = parent.level
    parent.setLevel(logging.ERROR)  # LogLevel ERROR in the template
    handler = Capture()
    logging.getLogger("gatekey.audit").addHandler(handler)
    try:
        item = event()
        audit.emit(item)
    finally:
        logging.getLogger("gatekey.audit").removeHandler(handler)
        parent.setLevel(level)
    (record,) = records
    assert record.getMessage() == "audit"
    assert record.audit == audit.event_view(item)  # type: ignore[attr-defined]
    assert record.account_id == ACCOUNT  # type: ignore[attr-defined]
