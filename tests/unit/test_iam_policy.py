"""The local IAM evaluator against the evaluation rules of the IAM User Guide."""

from __future__ import annotations

import pytest

from gatekey_local.iam_policy import (
    Decision,
    PolicyError,
    Request,
    check_supported,
    evaluate,
    statements_of,
)

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/gatekey"


def allow(action="dynamodb:GetItem", resource=TABLE, condition=None, **extra):
    statement = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def decide(statements, action="dynamodb:GetItem", resource=TABLE, **context):
    keys = {name.replace("__", ":"): values for name, values in context.items()}
    return evaluate(statements, Request(action, resource, keys))


def test_no_statement_is_an_implicit_deny():
    assert decide([]) is Decision.IMPLICIT_DENY


def test_matching_allow_allows():
    assert decide([allow()]) is Decision.ALLOW


def test_explicit_deny_wins_over_any_allow():
    statements = [allow("dynamodb:*"), {**allow(), "Effect": "Deny"}, allow()]
    assert decide(statements) is Decision.EXPLICIT_DENY


def test_deny_of_another_action_leaves_the_allow():
    statements = [allow("dynamodb:*"), {**allow("dynamodb:DeleteItem"), "Effect": "Deny"}]
    assert decide(statements) is Decision.ALLOW
    assert decide(statements, "dynamodb:DeleteItem") is Decision.EXPLICIT_DENY


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("dynamodb:GetItem", "dynamodb:GetItem", True),
        ("DynamoDB:getitem", "dynamodb:GetItem", True),  # actions are case-insensitive
        ("dynamodb:Get*", "dynamodb:GetItem", True),
        ("dynamodb:*Item", "dynamodb:DeleteItem", True),
        ("dynamodb:?etItem", "dynamodb:GetItem", True),
        ("dynamodb:?etItem", "dynamodb:BatchGetItem", False),
        ("*", "secretsmanager:GetSecretValue", True),
        ("dynamodb:GetItem", "dynamodb:GetItems", False),
        ("dynamodb:Query", "dynamodb:GetItem", False),
    ],
)
def test_action_wildcards_and_case(pattern, action, expected):
    got = decide([allow(pattern)], action)
    assert (got is Decision.ALLOW) is expected


def test_action_list_is_any_of():
    statements = [allow(["dynamodb:PutItem", "dynamodb:GetItem"])]
    assert decide(statements) is Decision.ALLOW
    assert decide(statements, "dynamodb:Scan") is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        (TABLE, TABLE, True),
        (TABLE, TABLE + "/index/gsi1", False),
        (TABLE + "/index/*", TABLE + "/index/gsi1", True),
        (TABLE + "/index/*", TABLE, False),
        ("arn:aws:dynamodb:*:*:table/gatekey", TABLE, True),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/gate?ey", TABLE, True),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/Gatekey", TABLE, False),  # case-sensitive
        ("arn:aws:dynamodb:*:table/gatekey", TABLE, False),  # * stays within its ARN segment
        ("*", TABLE, True),
    ],
)
def test_resource_wildcards(pattern, resource, expected):
    assert (decide([allow(resource=pattern)], resource=resource) is Decision.ALLOW) is expected


def test_not_action_allows_everything_else():
    statements = [{"Effect": "Allow", "NotAction": "dynamodb:Scan", "Resource": "*"}]
    assert decide(statements) is Decision.ALLOW
    assert decide(statements, "dynamodb:scan") is Decision.IMPLICIT_DENY


def test_not_resource_excludes_the_named_resource():
    statements = [{"Effect": "Allow", "Action": "*", "NotResource": TABLE + "/index/*"}]
    assert decide(statements) is Decision.ALLOW
    assert decide(statements, resource=TABLE + "/index/gsi1") is Decision.IMPLICIT_DENY


LEADING = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SESSION#*", "APIKEY#*"]}}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["SESSION#1"], Decision.ALLOW),
        (["APIKEY#k"], Decision.ALLOW),
        (["SESSION#1", "APIKEY#k"], Decision.ALLOW),  # every value matches some pattern
        (["SESSION#1", "USER#u"], Decision.IMPLICIT_DENY),  # one value matches none
        (["USER#u"], Decision.IMPLICIT_DENY),
        (["session#1"], Decision.IMPLICIT_DENY),  # StringLike is case-sensitive
        ([], Decision.ALLOW),  # ForAllValues of an empty set is true (AWS's documented trap)
    ],
)
def test_for_all_values_string_like(keys, expected):
    assert decide([allow(condition=LEADING)], dynamodb__LeadingKeys=keys) is expected


def test_for_all_values_is_true_when_the_key_is_absent():
    assert decide([allow(condition=LEADING)]) is Decision.ALLOW


def test_for_any_value_needs_one_match_and_a_present_key():
    condition = {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["SESSION#1"]}}
    statements = [allow(condition=condition)]
    assert decide(statements, dynamodb__LeadingKeys=["USER#u", "SESSION#1"]) is Decision.ALLOW
    assert decide(statements, dynamodb__LeadingKeys=["USER#u"]) is Decision.IMPLICIT_DENY
    assert decide(statements) is Decision.IMPLICIT_DENY


def test_string_equals_is_exact():
    condition = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["SESSION#*"]}}
    statements = [allow(condition=condition)]
    assert decide(statements, dynamodb__LeadingKeys=["SESSION#*"]) is Decision.ALLOW
    assert decide(statements, dynamodb__LeadingKeys=["SESSION#1"]) is Decision.IMPLICIT_DENY


def test_positive_operator_on_an_absent_key_is_false_and_negated_is_true():
    equals = allow(condition={"StringEquals": {"dynamodb:LeadingKeys": "A"}})
    not_equals = allow(condition={"StringNotEquals": {"dynamodb:LeadingKeys": "A"}})
    assert decide([equals]) is Decision.IMPLICIT_DENY
    assert decide([not_equals]) is Decision.ALLOW


def test_if_exists_is_true_for_an_absent_key_and_checks_a_present_one():
    statements = [allow(condition={"StringEqualsIfExists": {"dynamodb:LeadingKeys": "A"}})]
    assert decide(statements) is Decision.ALLOW
    assert decide(statements, dynamodb__LeadingKeys=["A"]) is Decision.ALLOW
    assert decide(statements, dynamodb__LeadingKeys=["B"]) is Decision.IMPLICIT_DENY


def test_negated_operator_with_several_values_is_a_nor():
    statements = [allow(condition={"StringNotLike": {"dynamodb:LeadingKeys": ["A*", "B*"]}})]
    assert decide(statements, dynamodb__LeadingKeys=["C1"]) is Decision.ALLOW
    assert decide(statements, dynamodb__LeadingKeys=["B1"]) is Decision.IMPLICIT_DENY


def test_ignore_case_operator():
    statements = [allow(condition={"StringEqualsIgnoreCase": {"dynamodb:LeadingKeys": "abc"}})]
    assert decide(statements, dynamodb__LeadingKeys=["ABC"]) is Decision.ALLOW


def test_null_operator_tests_presence():
    present = allow(condition={"Null": {"dynamodb:LeadingKeys": "false"}})
    absent = allow(condition={"Null": {"dynamodb:LeadingKeys": "true"}})
    assert decide([present], dynamodb__LeadingKeys=["A"]) is Decision.ALLOW
    assert decide([present]) is Decision.IMPLICIT_DENY
    assert decide([absent]) is Decision.ALLOW


def test_condition_operators_and_keys_are_anded():
    condition = {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["SESSION#*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    statements = [allow(condition=condition)]
    assert decide(statements, dynamodb__LeadingKeys=["SESSION#1"]) is Decision.ALLOW
    assert decide(statements) is Decision.IMPLICIT_DENY  # Null guard closes the empty-set trap


def test_condition_key_names_are_case_insensitive():
    condition = {"ForAllValues:StringLike": {"DynamoDB:leadingkeys": ["SESSION#*"]}}
    statements = [allow(condition=condition)]
    assert decide(statements, dynamodb__LeadingKeys=["USER#1"]) is Decision.IMPLICIT_DENY


def test_deny_with_condition_applies_only_when_it_holds():
    deny = {
        "Effect": "Deny",
        "Action": "dynamodb:*",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["USER#*"]}},
    }
    statements = [allow("dynamodb:*"), deny]
    assert decide(statements, dynamodb__LeadingKeys=["SESSION#1"]) is Decision.ALLOW
    assert decide(statements, dynamodb__LeadingKeys=["USER#1"]) is Decision.EXPLICIT_DENY


def test_statements_of_takes_one_statement_or_a_list():
    assert statements_of({"Statement": allow()}) == [allow()]
    assert statements_of({"Statement": [allow(), allow()]}) == [allow(), allow()]
    with pytest.raises(PolicyError):
        statements_of({})


@pytest.mark.parametrize(
    "statement",
    [
        {**allow(), "Principal": "*"},
        {**allow(), "Effect": "Maybe"},
        {"Effect": "Allow", "Resource": "*"},
        {**allow(), "NotAction": "s3:*"},
        allow(condition={"NumericLessThan": {"dynamodb:LeadingKeys": "1"}}),
        allow(condition={"ForEveryValue:StringLike": {"dynamodb:LeadingKeys": "1"}}),
        allow(condition={"StringLike": {"dynamodb:LeadingKeys": "${aws:userid}"}}),
        allow(resource="arn:aws:dynamodb:*:*:table/${aws:username}"),
    ],
)
def test_unsupported_policies_are_refused(statement):
    with pytest.raises(PolicyError):
        check_supported([statement])


def test_conditions_on_keys_the_gate_does_not_supply_are_refused():
    statement = allow(condition={"ForAllValues:StringEquals": {"dynamodb:Attributes": ["pk"]}})
    check_supported([statement])
    with pytest.raises(PolicyError, match="dynamodb:Attributes"):
        check_supported([statement], known_keys=["dynamodb:LeadingKeys"])
