"""What each function of a template may do on AWS: its execution role, read from the
template the way SAM builds it.

SAM gives every ``AWS::Serverless::Function`` without a ``Role`` a role of its own whose
policies are the function's ``Policies``: inline documents (``Statement: [...]``) and SAM
policy templates (``DynamoDBReadPolicy: {TableName: ...}``), which are expanded here by
SAM's own translator (the ``aws-sam-translator`` package that ``sam`` uses), never by a
hand-written copy. Intrinsic functions are resolved for the local run: the table's
``!Ref`` is the local table name, ``!GetAtt Table.Arn`` its local ARN, and a Secrets
Manager secret's ``!Ref`` the ARN it would have in the local account and region.

What the local run cannot reproduce faithfully is refused with a :class:`TemplateError`
(managed policies by name, an explicit ``Role``, conditions on keys the gate does not
supply): set ``GATEKEY_ENFORCE_IAM=false`` to run such a template without the gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gatekey_local.cloudformation import Resolver, TemplateError, Unresolvable, load_yaml
from gatekey_local.iam_policy import PolicyError, Statement, check_supported, statements_of
from gatekey_local.local_aws import LOCAL_ACCOUNT_ID, LOCAL_REGION, LOCAL_STACK_NAME
from gatekey_local.sam_model import Template

LEADING_KEYS = "dynamodb:LeadingKeys"
SUPPORTED_CONDITION_KEYS = (LEADING_KEYS,)


@dataclass(frozen=True)
class TableKeys:
    """The partition key attribute of a table and of each of its indexes."""

    hash_key: str
    index_hash_keys: Mapping[str, str]


@dataclass(frozen=True)
class FunctionRole:
    """A function's execution role: its policy statements, and where it runs."""

    function_id: str
    role_name: str
    statements: tuple[Statement, ...]
    tables: Mapping[str, TableKeys]
    region: str = LOCAL_REGION
    account_id: str = LOCAL_ACCOUNT_ID

    @property
    def caller_arn(self) -> str:
        """The assumed-role ARN that AWS names in an AccessDenied message."""
        return f"arn:aws:sts::{self.account_id}:assumed-role/{self.role_name}/{self.function_id}"

    def table_arn(self, table: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{table}"

    def secret_arn(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        return f"arn:aws:secretsmanager:{self.region}:{self.account_id}:secret:{secret_id}"


def local_secret_arn(logical_id: str) -> str:
    """The ARN a template's secret has in the local account (its ``!Ref``)."""
    return (
        f"arn:aws:secretsmanager:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:secret:"
        f"{LOCAL_STACK_NAME}-{logical_id}-local"
    )


class _PolicyResolver(Resolver):
    """Resolves what a policy names: the table's name and ARN, a secret's ARN."""

    def __init__(self, document: Mapping[str, Any], parameters: Mapping[str, str], table: str):
        super().__init__(document, parameters, table)
        self._types = {
            logical_id: resource.get("Type")
            for logical_id, resource in (document.get("Resources") or {}).items()
            if isinstance(resource, Mapping)
        }
        self._table = table

    def _ref(self, name: str) -> str:
        if self._types.get(name) == "AWS::SecretsManager::Secret":
            return local_secret_arn(name)
        return super()._ref(name)

    def _attribute(self, resource: str, attribute: str) -> str:
        if self._types.get(resource) == "AWS::DynamoDB::Table" and attribute == "Arn":
            return f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:table/{self._table}"
        if self._types.get(resource) == "AWS::KMS::Key" and attribute == "Arn":
            from gatekey_local.signing_keys import local_kms_key_arn

            return local_kms_key_arn(resource)
        return super()._attribute(resource, attribute)


@lru_cache(maxsize=1)
def _policy_templates() -> Any:
    from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

    return PolicyTemplatesProcessor(PolicyTemplatesProcessor.get_default_policy_templates_json())


def function_roles(template: Template) -> dict[str, FunctionRole]:
    """The execution role of every function of ``template``, by logical id."""
    document = load_yaml(template.path)
    resolver = _PolicyResolver(document, template.parameters, template.table_name)
    tables = {template.table_name: _table_keys(template)} if template.table is not None else {}
    resources: Mapping[str, Any] = document.get("Resources") or {}
    roles: dict[str, FunctionRole] = {}
    for function_id in template.functions:
        properties: Mapping[str, Any] = resources[function_id].get("Properties") or {}
        if "Role" in properties:
            raise TemplateError(
                f"{function_id}: an explicit Role cannot be read locally; "
                "set GATEKEY_ENFORCE_IAM=false to run without the IAM gate"
            )
        try:
            statements = _statements(properties.get("Policies"), resolver)
            check_supported(statements, SUPPORTED_CONDITION_KEYS)
        except (PolicyError, Unresolvable) as exc:
            raise TemplateError(
                f"{function_id}: its Policies cannot be enforced locally ({exc}); "
                "set GATEKEY_ENFORCE_IAM=false to run without the IAM gate"
            ) from exc
        roles[function_id] = FunctionRole(
            function_id=function_id,
            role_name=f"{LOCAL_STACK_NAME}-{function_id}Role",
            statements=tuple(statements),
            tables=tables,
        )
    return roles


def _statements(policies: Any, resolver: _PolicyResolver) -> list[dict[str, Any]]:
    if policies is None:
        return []  # SAM's basic execution role: CloudWatch Logs only
    entries = policies if isinstance(policies, list) else [policies]
    statements: list[dict[str, Any]] = []
    for entry in entries:
        if isinstance(entry, str) or (isinstance(entry, Mapping) and set(entry) <= {"Ref"}):
            raise PolicyError(f"managed policy {entry!r} has no local copy")
        if not isinstance(entry, Mapping):
            raise PolicyError(f"unexpected policy {entry!r}")
        if "Statement" in entry:
            statements.extend(statements_of(resolver.value(entry)))
            continue
        if len(entry) != 1:
            raise PolicyError(f"unexpected policy {dict(entry)!r}")
        ((name, parameters),) = entry.items()
        processor = _policy_templates()
        if not processor.has(name):
            raise PolicyError(f"{name} is not a SAM policy template")
        values = resolver.value(parameters or {})
        expanded = processor.convert(name, {key: str(value) for key, value in values.items()})
        statements.extend(statements_of(resolver.value(expanded)))
    return statements


def _table_keys(template: Template) -> TableKeys:
    assert template.table is not None
    definition = template.table.definition

    def hash_key(schema: Any) -> str:
        return next(str(key["AttributeName"]) for key in schema if key["KeyType"] == "HASH")

    table_hash = hash_key(definition["KeySchema"])
    indexes = {
        str(index["IndexName"]): hash_key(index["KeySchema"])
        for index in definition.get("GlobalSecondaryIndexes") or []
    }
    indexes.update(
        {
            str(index["IndexName"]): table_hash
            for index in definition.get("LocalSecondaryIndexes") or []
        }
    )
    return TableKeys(hash_key=table_hash, index_hash_keys=indexes)
