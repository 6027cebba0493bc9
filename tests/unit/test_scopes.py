"""Scope rules (CONTRACT section 7): what `*` covers, what only a name grants."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekey import scopes
from gatekey.principal import API_KEY, SESSION, Principal

PART = st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True)
SCOPE = st.one_of(
    st.just("*"),
    st.builds(lambda r, a: f"{r}:{a}", PART, PART),
    st.builds(lambda r: f"{r}:*", PART),
)


@pytest.mark.parametrize(
    ("held", "required", "covered"),
    [
        (["*"], "orders:read", True),
        (["*"], "orders:*", True),
        (["*"], "gatekey:keys", False),
        (["orders:*"], "orders:read", True),
        (["orders:*"], "orders:*", True),
        (["orders:*"], "invoices:read", False),
        (["orders:read"], "orders:*", False),
        (["orders:read"], "orders:write", False),
        (["gatekey:keys"], "gatekey:keys", True),
        (["gatekey:keys"], "gatekey:bots", False),
        (["orders:read"], "*", False),
        ([], "orders:read", False),
    ],
)
def test_covers(held, required, covered):
    assert scopes.covers(held, required) is covered


@pytest.mark.parametrize(
    "scope", ["*", "orders:read", "orders:*", "a-b_c:d-e_f", "gatekey:keys", "gatekey:users"]
)
def test_valid_scopes(scope):
    assert scopes.problem(scope) is None


@pytest.mark.parametrize(
    "scope",
    [
        "",
        "orders",
        "Orders:read",
        "orders:read:x",
        "*:read",
        "orders: read",
        "gatekey:*",
        "gatekey:admin",
        "o" * 200 + ":r",
        "orders:réad",
    ],
)
def test_invalid_scopes(scope):
    assert scopes.problem(scope) is not None


@given(st.lists(SCOPE, max_size=5), SCOPE)
def test_star_never_grants_management(held, required):
    if required.startswith("gatekey:") and required not in held:
        assert not scopes.covers(held, required)


@given(st.lists(SCOPE, max_size=5), st.lists(SCOPE, max_size=5))
def test_covering_is_transitive_for_subsets(held, requested):
    """Whatever a credential may grant, the grantee can grant on no further."""
    if scopes.covers_all(held, requested):
        for scope in requested:
            assert scopes.covers(held, scope)


def test_a_session_holds_every_scope_by_name():
    session = Principal("u", "a", "e", "member", False, SESSION, scopes=("orders:read",))
    assert session.scopes == scopes.SESSION_SCOPES
    assert all(session.has_scope(scope) for scope in scopes.MANAGEMENT)


def test_context_round_trip_keeps_scopes_as_one_string():
    key = Principal("u", "a", "e", "member", False, API_KEY, scopes=("b:r", "a:w"))
    context = key.to_context()
    assert context["scopes"] == "b:r a:w"
    assert all(isinstance(value, str | int | bool) for value in context.values())
    assert Principal.from_context(context).scopes == ("a:w", "b:r")
