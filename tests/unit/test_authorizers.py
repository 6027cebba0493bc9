"""The local API's evaluation of authorizer policies, as API Gateway evaluates them:
an explicit Deny wins over any Allow, and in execute-api ARNs IAM's `*` matches any
run of characters (`/` included) and `?` exactly one."""

from __future__ import annotations

import pytest

from gatekey_local.authorizers import evaluate_policy

STAGE = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1"


def statement(effect: str, *tails: str, action: str = "execute-api:Invoke") -> dict:
    return {"Effect": effect, "Action": action, "Resource": [f"{STAGE}/{t}" for t in tails]}


@pytest.mark.parametrize(
    ("pattern", "tail", "matches"),
    [
        ("GET/orders/*", "GET/orders/42", True),
        ("GET/orders/*", "GET/orders/42/refunds", True),  # `*` crosses `/`
        ("GET/orders/*", "GET/orders", False),
        ("*/orders", "GET/users/7/orders", True),
        ("GET/orders/?*", "GET/orders/", False),  # `?` is exactly one character
        ("GET/orders/?", "GET/orders//", True),  # ...which may be a `/`
        ("GET/orders/?", "GET/orders/42", False),
        ("GET/Orders", "GET/orders", False),  # resources compare case-sensitively
    ],
)
def test_wildcards_match_as_in_iam(pattern, tail, matches):
    decision = evaluate_policy([statement("Allow", pattern)], f"{STAGE}/{tail}")
    assert decision == ("allow" if matches else "implicit_deny")


@pytest.mark.parametrize("deny_first", [True, False])
def test_an_explicit_deny_wins_over_any_allow(deny_first):
    statements = [statement("Allow", "GET/orders/?*"), statement("Deny", "GET/orders/*/*")]
    if deny_first:
        statements.reverse()
    assert evaluate_policy(statements, f"{STAGE}/GET/orders/42") == "allow"
    assert evaluate_policy(statements, f"{STAGE}/GET/orders/42/refunds") == "explicit_deny"


def test_a_statement_for_another_action_does_not_apply():
    other = statement("Deny", "*", action="execute-api:ManageConnections")
    assert evaluate_policy([statement("Allow", "*"), other], f"{STAGE}/GET/orders") == "allow"
    any_case = statement("Allow", "*", action="EXECUTE-API:*")  # actions ignore case
    assert evaluate_policy([any_case], f"{STAGE}/GET/x") == "allow"
