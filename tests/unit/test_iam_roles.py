"""Execution roles read from template.yaml: SAM's expansion, and least privilege.

The static checks here evaluate each function's role (no AWS, no database): the
authorizer may do exactly what it needs, and only functions that load the signing
keyring may read the signing secret.
"""

from __future__ import annotations

import ast
import itertools
import os
import textwrap
from pathlib import Path

import pytest
from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

from gatekey_local.cloudformation import TemplateError, load_yaml
from gatekey_local.iam_gate import check_call
from gatekey_local.iam_roles import FunctionRole, function_roles, local_secret_arn
from gatekey_local.signing_keys import local_kms_key_arn
from gatekey_local.template import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
# The permission loop points this at a copy of the template with one permission removed.
CHECKED_TEMPLATE = Path(os.environ.get("GATEKEY_TEST_TEMPLATE") or TEMPLATE)
LAYER = REPO / "layers" / "gatekey" / "gatekey"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/gatekey"
# Every partition-key prefix of layers/gatekey/gatekey/store.py's item layout.
PREFIXES = ("ACCOUNT#", "USER#", "EMAIL#", "SESSION#", "LOGINFAIL#", "APIKEY#", "REVOKED#")
ITEM_ACTIONS = (
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "ConditionCheckItem",
    "BatchGetItem",
    "BatchWriteItem",
)


@pytest.fixture(scope="module")
def roles() -> dict[str, FunctionRole]:
    return function_roles(load_template(TEMPLATE))


STACK_PARAMETERS = "arn:aws:ssm:us-east-1:123456789012:parameter/gatekey-local"


def item_permissions(role: FunctionRole) -> set[tuple[str, str]]:
    """(action, key prefix) pairs this role allows on items of the table."""
    allowed = set()
    for action, prefix in itertools.product(ITEM_ACTIONS, PREFIXES):
        key = {"pk": {"S": prefix + "x"}, "sk": {"S": "x"}}
        if action == "BatchGetItem":
            params = {"RequestItems": {"gatekey": {"Keys": [key]}}}
        elif action == "BatchWriteItem":
            params = {"RequestItems": {"gatekey": [{"DeleteRequest": {"Key": key}}]}}
        elif action == "ConditionCheckItem":
            params = {"TransactItems": [{"ConditionCheck": {"TableName": "gatekey", "Key": key}}]}
        else:
            params = {"TableName": "gatekey", "Key": key, "Item": key}
        action_call = "TransactWriteItems" if action == "ConditionCheckItem" else action
        if check_call(role, "dynamodb", action_call, params) is None:
            allowed.add((action, prefix))
    return allowed


def test_authorizer_may_do_exactly_what_it_needs(roles):
    authorizer = roles["AuthorizerFunction"]
    assert item_permissions(authorizer) == {
        ("GetItem", "SESSION#"),
        ("GetItem", "APIKEY#"),
        ("GetItem", "REVOKED#"),
        ("UpdateItem", "SESSION#"),
        ("UpdateItem", "APIKEY#"),
        ("DeleteItem", "SESSION#"),
    }
    for operation in ("Scan", "Query", "DescribeTable"):
        assert check_call(authorizer, "dynamodb", operation, {"TableName": "gatekey"})


def test_no_function_may_scan_or_touch_another_table(roles):
    for role in roles.values():
        assert check_call(role, "dynamodb", "Scan", {"TableName": "gatekey"}), role.function_id
        assert check_call(
            role, "dynamodb", "Scan", {"TableName": "gatekey", "IndexName": "gsi1"}
        ), role.function_id


def test_only_the_token_test_routes_read_users_read_only(roles):
    assert item_permissions(roles["TokenTestFunction"]) == {("GetItem", "USER#")}
    assert item_permissions(roles["ConsoleFunction"]) == set()


def _gatekey_imports(path: Path) -> set[str]:
    """gatekey modules a file imports, at module level or inside functions."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gatekey"):
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(a.name for a in node.names if a.name.startswith("gatekey"))
    return {m for m in modules if (LAYER.parent / (m.replace(".", "/") + ".py")).is_file()}


def loads_keyring(handler: Path) -> bool:
    """Whether any layer module the handler reaches calls get_keyring()."""
    seen: set[str] = set()
    todo = _gatekey_imports(handler)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo |= _gatekey_imports(LAYER.parent / (module.replace(".", "/") + ".py"))
    return any(
        "get_keyring(" in (LAYER.parent / (m.replace(".", "/") + ".py")).read_text()
        for m in seen
        if m != "gatekey.tokens.keyring"
    )


def test_signing_secret_only_for_functions_that_load_the_keyring(roles):
    """Locally GATEKEY_SECRET stands in for Secrets Manager, so no request would catch a
    missing or needless GetSecretValue: this reads it off the template instead."""
    template = load_template(CHECKED_TEMPLATE)
    roles = function_roles(template)
    secret = local_secret_arn("SigningKeys")
    needs = {}
    for function_id, function in template.functions.items():
        handler = function.source.code_dir / (function.source.handler.split(".")[0] + ".py")
        needs[function_id] = loads_keyring(handler)
        denial = check_call(
            roles[function_id], "secretsmanager", "GetSecretValue", {"SecretId": secret}
        )
        assert (denial is None) is needs[function_id], function_id
        other = check_call(
            roles[function_id], "secretsmanager", "GetSecretValue", {"SecretId": secret + "x"}
        )
        assert other is not None, f"{function_id} may read other secrets"
    assert needs["AuthorizerFunction"] and not needs["TokenTestFunction"]
    assert not needs["ConsoleFunction"]


def write(tmp_path: Path, policies: str, extra: str = "") -> Path:
    echo = REPO / "tests" / "fixtures" / "emulator" / "echo"
    text = f"""\
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Table:
            Type: AWS::DynamoDB::Table
            Properties:
              AttributeDefinitions: [{{AttributeName: id, AttributeType: S}}]
              KeySchema: [{{AttributeName: id, KeyType: HASH}}]
          Secret:
            Type: AWS::SecretsManager::Secret
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: {echo}
              Handler: app.lambda_handler
              Runtime: python3.13
{textwrap.indent(textwrap.dedent(policies), " " * 14)}{extra}
    """
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_sam_policy_templates_are_expanded_by_sams_translator(tmp_path):
    path = write(
        tmp_path,
        """\
        Policies:
          - DynamoDBCrudPolicy:
              TableName: !Ref Table
          - AWSSecretsManagerGetSecretValuePolicy:
              SecretArn: !Ref Secret
        """,
    )
    (role,) = function_roles(load_template(path, table_name="local")).values()
    processor = PolicyTemplatesProcessor(
        PolicyTemplatesProcessor.get_default_policy_templates_json()
    )
    crud = processor.convert("DynamoDBCrudPolicy", {"TableName": "local"})["Statement"][0]
    assert role.statements[0]["Action"] == crud["Action"]
    assert role.statements[0]["Resource"] == [
        "arn:aws:dynamodb:us-east-1:123456789012:table/local",
        "arn:aws:dynamodb:us-east-1:123456789012:table/local/index/*",
    ]
    assert role.statements[1]["Resource"] == local_secret_arn("Secret")
    assert role.function_id == "Fn" and role.role_name == "gatekey-local-FnRole"


def test_inline_statements_resolve_table_arn_and_sub(tmp_path):
    path = write(
        tmp_path,
        """\
        Policies:
          - Statement:
              - Effect: Allow
                Action: dynamodb:Query
                Resource: !Sub "${Table.Arn}/index/*"
              - Effect: Allow
                Action: dynamodb:GetItem
                Resource: !GetAtt Table.Arn
        """,
    )
    (role,) = function_roles(load_template(path, table_name="local")).values()
    assert [s["Resource"] for s in role.statements] == [
        "arn:aws:dynamodb:us-east-1:123456789012:table/local/index/*",
        "arn:aws:dynamodb:us-east-1:123456789012:table/local",
    ]


def test_a_function_without_policies_may_call_nothing(tmp_path):
    path = write(tmp_path, "")
    (role,) = function_roles(load_template(path, table_name="local")).values()
    assert role.statements == ()
    assert check_call(
        role, "dynamodb", "GetItem", {"TableName": "local", "Key": {"id": {"S": "1"}}}
    )


@pytest.mark.parametrize(
    ("policies", "reason"),
    [
        ("Policies: AmazonDynamoDBFullAccess", "managed policy"),
        ("Policies: [AWSLambdaExecute]", "managed policy"),
        ("Role: arn:aws:iam::123456789012:role/r", "explicit Role"),
        ("Policies: [{NoSuchPolicyTemplate: {}}]", "not a SAM policy template"),
        (
            "Policies: [{Statement: [{Effect: Allow, Action: 'dynamodb:*', Resource: '*', "
            "Condition: {StringEquals: {'dynamodb:Select': COUNT}}}]}]",
            "dynamodb:Select",
        ),
    ],
)
def test_what_cannot_be_enforced_locally_is_refused(tmp_path, policies, reason):
    path = write(tmp_path, policies)
    with pytest.raises(TemplateError, match=reason) as raised:
        function_roles(load_template(path, table_name="local"))
    assert "GATEKEY_ENFORCE_IAM=false" in str(raised.value)


def test_template_roles_name_no_table_but_the_gatekey_table():
    """Every DynamoDB resource in template.yaml is the table or one of its indexes; the
    rest are the signing keys (the secret, the access-token KMS key) and the stack's own
    console URL parameter."""
    document = load_yaml(TEMPLATE)
    for function_id, role in function_roles(load_template(TEMPLATE)).items():
        assert document["Resources"][function_id]["Properties"].get("Role") is None
        for statement in role.statements:
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                assert resource.startswith(
                    (TABLE_ARN, "arn:aws:secretsmanager:", f"{STACK_PARAMETERS}/gatekey/")
                ) or resource == local_kms_key_arn("AccessTokenSigningKey"), resource
