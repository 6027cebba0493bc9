"""What the template promises for checkov's findings (issue 23), read off template.yaml.

`make templates` runs checkov itself (pinned, .tools/checkov) and fails on any failed
check that is not skipped; these tests hold what checkov cannot see: every skip gives
its reason, the access log never carries a credential, the KMS key reaches the table,
the secret and the log group only when set, the functions' kms:Decrypt is scoped to
that key and to one service, and the concurrency defaults fit a standard account.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gatekey_local.cloudformation import Resolver, load_yaml
from gatekey_local.iam_roles import function_roles
from gatekey_local.signing_keys import local_kms_key_arn
from gatekey_local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
CONSUMER = TEMPLATE.parent / "examples" / "consumer" / "template.yaml"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SKIP = re.compile(r"#\s*checkov:skip=(?P<id>[A-Z0-9_]+):(?P<reason>.*)$")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_yaml(TEMPLATE)


class _Resolver(Resolver):
    """Resolves a resource's ARN or !Ref to a stand-in naming it."""

    def __init__(self, document: dict[str, Any], parameters: dict[str, str]):
        super().__init__(document, parameters, table_name="gatekey")
        self._resources = document["Resources"]

    def _ref(self, name: str) -> str:
        return f"ref:{name}" if name in self._resources else super()._ref(name)

    def _attribute(self, resource: str, attribute: str) -> str:
        return f"{resource}.{attribute}"


def resolver(document: dict[str, Any], **overrides: str) -> Resolver:
    declared = document["Parameters"]
    values = {name: str(p.get("Default", "")) for name, p in declared.items()}
    values.update(overrides)
    return _Resolver(document, values)


@pytest.mark.parametrize("path", [TEMPLATE, CONSUMER], ids=["gatekey", "consumer"])
def test_every_skip_names_a_check_and_gives_its_reason(path):
    skips = [SKIP.search(line) for line in path.read_text(encoding="utf-8").splitlines()]
    found = [match for match in skips if match]
    assert found, "checkov's skips live in the template, next to what they excuse"
    for match in found:
        assert re.fullmatch(r"CKV2?_AWS_\d+", match["id"]), match.group(0)
        assert len(match["reason"].strip()) >= 20, f"{match['id']}: give the reason"


def test_access_log_is_json_and_never_carries_a_credential(document):
    api = document["Resources"]["GatekeyApi"]["Properties"]
    setting = api["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["GatekeyAccessLogs", "Arn"]}
    line = json.loads(setting["Format"])  # API Gateway fills in the $context values
    for field in ("requestId", "sourceIp", "httpMethod", "resourcePath", "status"):
        assert line[field].startswith("$context."), field
    assert line["authorizerError"] == "$context.authorizer.error"
    assert line["principalId"] == "$context.authorizer.principalId"
    assert line["responseLatency"] == "$context.responseLatency"
    lowered = setting["Format"].lower()
    for secret in ("authorization", "header", "token", "cookie", "apikey", "api_key"):
        assert secret not in lowered, secret
    group = document["Resources"]["GatekeyAccessLogs"]["Properties"]
    assert resolver(document).value(group)["RetentionInDays"] == "90"
    assert resolver(document, AccessLogRetentionDays="365").value(group)["RetentionInDays"] == "365"


def test_kms_key_reaches_table_secret_and_log_group_only_when_set(document):
    resources = document["Resources"]
    table = resources["GatekeyTable"]["Properties"]["SSESpecification"]
    secret = resources["SigningKeys"]["Properties"]
    group = resources["GatekeyAccessLogs"]["Properties"]

    default = resolver(document)
    assert default.value(table) == {"SSEEnabled": True, "SSEType": "KMS"}  # aws/dynamodb
    assert "KmsKeyId" not in default.value(secret)  # aws/secretsmanager
    assert "KmsKeyId" not in default.value(group)

    keyed = resolver(document, KmsKeyArn=KEY)
    assert keyed.value(table)["KMSMasterKeyId"] == KEY
    assert keyed.value(secret)["KmsKeyId"] == KEY
    assert keyed.value(group)["KmsKeyId"] == KEY


def _kms_statements(document: dict[str, Any], function_id: str) -> dict[str, dict[str, Any]]:
    """The function's kms statements with KmsKeyArn set, by Sid."""
    properties = document["Resources"][function_id]["Properties"]
    statements = resolver(document, KmsKeyArn=KEY).value(properties.get("Policies") or [])
    flat = [s for policy in statements for s in policy.get("Statement", [])]
    return {
        s["Sid"]: s
        for s in flat
        if str(s.get("Action", "")).startswith("kms:") and s["Resource"] != SIGNING_KEY
    }


# The access-token signing key (issue 21) is not KmsKeyArn: its grants are checked in
# tests/unit/test_signing_key_iam.py (Sign for the issuers, GetPublicKey for Oidc).
SIGNING_KEY = "AccessTokenSigningKey.Arn"


def test_kms_decrypt_is_scoped_to_the_key_and_one_service(document):
    functions = {
        logical_id: resource
        for logical_id, resource in document["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    for function_id, resource in functions.items():
        text = json.dumps(resource.get("Properties", {}).get("Policies") or [])
        reads_secret = '"secretsmanager:GetSecretValue"' in text
        uses_table = '"dynamodb:' in text
        kms = _kms_statements(document, function_id)
        expected = {"SigningKeysKey"} if reads_secret else set()
        expected |= {"TableKey"} if uses_table else set()
        assert set(kms) == expected, function_id
        for sid, statement in kms.items():
            assert statement["Action"] == "kms:Decrypt", (function_id, sid)
            assert statement["Resource"] == KEY, (function_id, sid)
        if reads_secret:
            condition = kms["SigningKeysKey"]["Condition"]["StringEquals"]
            assert condition["kms:ViaService"] == "secretsmanager.us-east-1.amazonaws.com"
            assert condition["kms:EncryptionContext:SecretARN"] == "ref:SigningKeys"
        if uses_table:
            condition = kms["TableKey"]["Condition"]["StringEquals"]
            assert condition == {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}
    assert not _kms_statements(document, "ConsoleFunction")


def test_without_a_key_no_role_holds_a_kms_permission():
    """The local run (no KmsKeyArn) enforces the default: no kms statement but those on
    the access-token signing key."""
    roles = function_roles(load_template(TEMPLATE, table_name="gatekey"))
    signing_key = local_kms_key_arn("AccessTokenSigningKey")
    for role in roles.values():
        actions = json.dumps(
            [s.get("Action") for s in role.statements if s.get("Resource") != signing_key]
        )
        assert "kms:" not in actions, role.function_id


def test_every_function_has_a_concurrency_cap_that_fits_a_standard_account(document):
    parameters = document["Parameters"]
    defaults = resolver(document)
    reserved = {}
    for logical_id, resource in document["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        setting = resource["Properties"]["ReservedConcurrentExecutions"]
        condition, capped, uncapped = setting["Fn::If"]
        assert uncapped == {"Ref": "AWS::NoValue"}, logical_id
        parameter = capped["Ref"]
        assert parameters[parameter]["MinValue"] == -1, parameter
        assert defaults.value({"Fn::If": [condition, "capped", {"Ref": "AWS::NoValue"}]})
        reserved[logical_id] = int(parameters[parameter]["Default"])
        # -1 means no reservation at all, for accounts below the standard quota
        off = resolver(document, **{parameter: "-1"})
        assert off.value({"x": setting}) == {}, logical_id
    assert reserved["AuthorizerFunction"] >= 100
    # A standard account has 1000, of which AWS keeps 100 unreserved; the rest is shared
    # with the APIs gatekey protects, so the defaults reserve under a third of it.
    assert sum(reserved.values()) <= 300, reserved
