"""How the local IAM gate maps AWS calls to IAM requests, and what it answers."""

from __future__ import annotations

import pytest

from gatekey_local import iam_gate
from gatekey_local.iam_gate import authorization_requests, check_call
from gatekey_local.iam_roles import FunctionRole, TableKeys

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/t"


def role(*statements) -> FunctionRole:
    return FunctionRole(
        function_id="Fn",
        role_name="stack-FnRole",
        statements=statements,
        tables={"t": TableKeys(hash_key="pk", index_hash_keys={"gsi1": "gsi1pk"})},
    )


def allow(action, resource=TABLE, prefixes=None):
    statement = {"Effect": "Allow", "Action": action, "Resource": resource}
    if prefixes is not None:
        statement["Condition"] = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": prefixes}}
    return statement


def key(pk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": "X"}}


def test_denial_has_aws_message_shape():
    message = check_call(role(), "dynamodb", "DeleteItem", {"TableName": "t", "Key": key("S#1")})
    assert message == (
        "User: arn:aws:sts::123456789012:assumed-role/stack-FnRole/Fn is not authorized to "
        f"perform: dynamodb:DeleteItem on resource: {TABLE} because no identity-based "
        "policy allows the dynamodb:DeleteItem action"
    )


def test_explicit_deny_message():
    statements = [allow("dynamodb:*"), {**allow("dynamodb:DeleteItem"), "Effect": "Deny"}]
    message = check_call(
        role(*statements), "dynamodb", "DeleteItem", {"TableName": "t", "Key": key("S#1")}
    )
    assert message is not None
    assert message.endswith("with an explicit deny in an identity-based policy")


def test_leading_keys_of_single_item_calls():
    gate = role(allow("dynamodb:GetItem", prefixes=["SESSION#*"]))
    assert (
        check_call(gate, "dynamodb", "GetItem", {"TableName": "t", "Key": key("SESSION#1")}) is None
    )
    assert check_call(gate, "dynamodb", "GetItem", {"TableName": "t", "Key": key("USER#1")})


def test_put_item_leading_key_comes_from_the_item():
    gate = role(allow("dynamodb:PutItem", prefixes=["SESSION#*"]))
    assert (
        check_call(gate, "dynamodb", "PutItem", {"TableName": "t", "Item": key("SESSION#1")})
        is None
    )
    assert check_call(gate, "dynamodb", "PutItem", {"TableName": "t", "Item": key("USER#1")})


def test_transaction_is_authorized_item_by_item():
    params = {
        "TransactItems": [
            {"ConditionCheck": {"TableName": "t", "Key": key("ACCOUNT#a")}},
            {"Put": {"TableName": "t", "Item": key("USER#u")}},
            {"Delete": {"TableName": "t", "Key": key("APIKEY#k")}},
            {"Update": {"TableName": "t", "Key": key("SESSION#s")}},
        ]
    }
    requests = authorization_requests(role(), "dynamodb", "TransactWriteItems", params)
    assert [(r.action, dict(r.context)) for r in requests] == [
        ("dynamodb:ConditionCheckItem", {"dynamodb:LeadingKeys": ["ACCOUNT#a"]}),
        ("dynamodb:PutItem", {"dynamodb:LeadingKeys": ["USER#u"]}),
        ("dynamodb:DeleteItem", {"dynamodb:LeadingKeys": ["APIKEY#k"]}),
        ("dynamodb:UpdateItem", {"dynamodb:LeadingKeys": ["SESSION#s"]}),
    ]
    everything_but_delete = role(
        allow(["dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem"])
    )
    message = check_call(everything_but_delete, "dynamodb", "TransactWriteItems", params)
    assert message is not None and "dynamodb:DeleteItem" in message


def test_batch_get_is_authorized_key_by_key():
    params = {"RequestItems": {"t": {"Keys": [key("APIKEY#1"), key("USER#2")]}}}
    requests = authorization_requests(role(), "dynamodb", "BatchGetItem", params)
    assert [(r.action, r.resource, r.context["dynamodb:LeadingKeys"]) for r in requests] == [
        ("dynamodb:BatchGetItem", TABLE, ["APIKEY#1"]),
        ("dynamodb:BatchGetItem", TABLE, ["USER#2"]),
    ]
    gate = role(allow("dynamodb:BatchGetItem", prefixes=["APIKEY#*"]))
    assert check_call(gate, "dynamodb", "BatchGetItem", params)
    only_keys = {"RequestItems": {"t": {"Keys": [key("APIKEY#1"), key("APIKEY#2")]}}}
    assert check_call(gate, "dynamodb", "BatchGetItem", only_keys) is None


def test_query_of_an_index_is_on_the_index_arn_with_its_partition_key():
    params = {
        "TableName": "t",
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :pk AND begins_with(gsi1sk, :s)",
        "ExpressionAttributeValues": {":pk": {"S": "USER#1#SESSIONS"}, ":s": {"S": "0"}},
    }
    (request,) = authorization_requests(role(), "dynamodb", "Query", params)
    assert request.resource == TABLE + "/index/gsi1"
    assert request.context == {"dynamodb:LeadingKeys": ["USER#1#SESSIONS"]}
    table_only = role(allow("dynamodb:Query", prefixes=["USER#*"]))
    assert check_call(table_only, "dynamodb", "Query", params)
    index = role(allow("dynamodb:Query", TABLE + "/index/gsi1", ["USER#*#SESSIONS"]))
    assert check_call(index, "dynamodb", "Query", params) is None


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("pk = :v", {}),
        ("#p = :v AND begins_with(sk, :prefix)", {"#p": "pk"}),
        (":v = pk", {}),
        ("(pk = :v) and sk > :prefix", {}),
    ],
)
def test_query_leading_key_is_the_value_bound_to_the_partition_key(expression, names):
    params = {
        "TableName": "t",
        "KeyConditionExpression": expression,
        "ExpressionAttributeValues": {":v": {"S": "EMAIL#a"}, ":prefix": {"S": "KEY#"}},
    }
    if names:
        params["ExpressionAttributeNames"] = names
    (request,) = authorization_requests(role(), "dynamodb", "Query", params)
    assert request.resource == TABLE
    assert request.context == {"dynamodb:LeadingKeys": ["EMAIL#a"]}


def test_scan_carries_no_leading_keys():
    (request,) = authorization_requests(role(), "dynamodb", "Scan", {"TableName": "t"})
    assert (request.action, request.resource, dict(request.context)) == ("dynamodb:Scan", TABLE, {})


def test_secret_is_authorized_on_its_arn():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbC"
    gate = role(allow("secretsmanager:GetSecretValue", arn))
    assert check_call(gate, "secretsmanager", "GetSecretValue", {"SecretId": arn}) is None
    other = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other"
    message = check_call(gate, "secretsmanager", "GetSecretValue", {"SecretId": other})
    assert message is not None and f"on resource: {other} " in message


def test_a_table_outside_the_template_is_refused_not_let_through():
    gate = role(allow("dynamodb:*", "*"))
    message = check_call(gate, "dynamodb", "GetItem", {"TableName": "other", "Key": key("A")})
    assert message is not None and "cannot map" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", True), ("true", True), ("1", True), ("false", False), ("FALSE", False), ("off", False)],
)
def test_enforcement_switch(value, expected):
    assert iam_gate.enforcement_enabled({"GATEKEY_ENFORCE_IAM": value} if value else {}) is expected


def test_a_table_named_by_arn_is_the_same_resource():
    gate = role(allow("dynamodb:GetItem", prefixes=["SESSION#*"]))
    params = {"TableName": TABLE, "Key": key("SESSION#1")}
    assert check_call(gate, "dynamodb", "GetItem", params) is None
    (request,) = authorization_requests(gate, "dynamodb", "Query", {"TableName": TABLE})
    assert request.resource == TABLE
