"""Services read sessions and keys as records, never as items.

The store returns `records.Session` and `records.ApiKey` (as it returns `User`), so
no module under credentials/, accounts/ or tokens/ reads an attribute of a session or
key by its name in a string: `key["handle"]`, `session.get("user_agent")` and the
like would bring back the untyped dicts this check keeps out. Read from the source
(ast), so it fails on the line that does it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "gatekey" / "gatekey"
SERVICES = ("credentials", "accounts", "tokens")
# Names a session or key goes by in the services (an item by any other name is not
# one of theirs: a reset token's is `issued`, a page's LastEvaluatedKey `last_key`).
CREDENTIAL_NAME = re.compile(r"^(?:(?:api|token|old|new|bot|stored)_)?(?:key|session|item)s?$")
MODULES = sorted(path for room in SERVICES for path in (LAYER / room).rglob("*.py"))


def _named(node: ast.expr) -> str | None:
    """The variable or attribute name an expression reads (`key`, `self.session`)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def item_reads(source: str) -> list[str]:
    """`name["attr"]` and `name.get("attr")` on a session or key name, as `line: code`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        target: ast.expr | None = None
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            target = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            target = node.func.value
        name = None if target is None else _named(target)
        if name is not None and CREDENTIAL_NAME.match(name):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_services_are_where_they_were():
    assert len(MODULES) > 10
    assert {"keys.py", "bots.py", "revocation.py", "sessions.py", "authorization.py"} <= {
        path.name for path in MODULES
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(LAYER)))
def test_no_service_reads_a_session_or_key_item(path: Path):
    assert item_reads(path.read_text()) == [], "read the record's attribute instead"


def test_the_check_sees_item_reads():
    source = (
        'key["handle"]\n'
        'session.get("user_agent")\n'
        'self.item["ttl"]\n'
        'api_key["key_id"]\n'
        'claims["sid"]\n'
        'view["kid"] = key.key_id\n'
    )
    assert sorted(item_reads(source)) == [
        "1: key['handle']",
        "2: session.get('user_agent')",
        "3: self.item['ttl']",
        "4: api_key['key_id']",
    ]
