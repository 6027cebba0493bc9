"""Copies of template.yaml with one permission removed, for the tests that prove the
local IAM gate is real and for the permission loop (tests/permission_loop.py).

A *permission* is one action of one statement of a function's inline policy, or one
``dynamodb:LeadingKeys`` prefix of such a statement. Removing it gives a *mutant*
template that is written next to nothing else: function code paths are made absolute,
so the copy can live in a temporary directory.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gatekey_local.cloudformation import load_yaml
from gatekey_local.iam_roles import LEADING_KEYS

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "template.yaml"


@dataclass(frozen=True)
class Permission:
    """One removable permission of template.yaml."""

    function_id: str
    policy: int
    statement: int
    sid: str
    action: str
    prefix: str | None = None  # None: the whole action; else one LeadingKeys prefix

    def __str__(self) -> str:
        what = self.action if self.prefix is None else f"{self.action} on {self.prefix}"
        return f"{self.function_id}/{self.sid}: {what}"


def load_document(path: Path = TEMPLATE) -> dict[str, Any]:
    return load_yaml(path)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def permissions(document: dict[str, Any]) -> list[Permission]:
    """Every action, and every LeadingKeys prefix, of every function's inline statements."""
    found = []
    for function_id, resource in document["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        policies = _as_list((resource.get("Properties") or {}).get("Policies") or [])
        for p, policy in enumerate(policies):
            if not isinstance(policy, dict) or "Statement" not in policy:
                continue
            for s, statement in enumerate(_as_list(policy["Statement"])):
                sid = str(statement.get("Sid", f"statement{s}"))
                actions = _as_list(statement.get("Action", []))
                for action in actions:
                    found.append(Permission(function_id, p, s, sid, str(action)))
                prefixes = _leading_keys(statement)
                if len(prefixes) > 1:
                    for prefix in prefixes:
                        for action in actions:
                            found.append(Permission(function_id, p, s, sid, str(action), prefix))
    return found


def _leading_keys(statement: dict[str, Any]) -> list[str]:
    for entries in (statement.get("Condition") or {}).values():
        for key, values in entries.items():
            if key.lower() == LEADING_KEYS.lower():
                return [str(v) for v in _as_list(values)]
    return []


def without(document: dict[str, Any], permission: Permission) -> dict[str, Any]:
    """A copy of ``document`` where ``permission`` is no longer granted.

    Removing a prefix of a multi-action statement splits that action out first, so the
    other actions keep the prefix.
    """
    mutant = copy.deepcopy(document)
    properties = mutant["Resources"][permission.function_id]["Properties"]
    policies = _as_list(properties["Policies"])
    statements = _as_list(policies[permission.policy]["Statement"])
    statement = statements[permission.statement]
    actions = [str(a) for a in _as_list(statement["Action"])]
    others = [a for a in actions if a != permission.action]
    if permission.prefix is None:
        if others:
            statement["Action"] = others
        else:
            statements.pop(permission.statement)
    else:
        narrowed = copy.deepcopy(statement)
        narrowed["Action"] = permission.action
        for entries in narrowed["Condition"].values():
            for key in list(entries):
                if key.lower() == LEADING_KEYS.lower():
                    entries[key] = [v for v in _as_list(entries[key]) if v != permission.prefix]
        if others:
            statement["Action"] = others
            statements.append(narrowed)
        else:
            statements[permission.statement] = narrowed
    policies[permission.policy]["Statement"] = statements
    properties["Policies"] = policies
    return mutant


def write_template(document: dict[str, Any], path: Path) -> Path:
    """Write ``document`` as a template whose code paths point into this repository."""
    document = copy.deepcopy(document)
    for resource in document["Resources"].values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = str((REPO_ROOT / properties[key]).resolve())
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def find(document: dict[str, Any], function_id: str, action: str) -> Permission:
    """The permission granting ``action`` to ``function_id`` (whole action, not a prefix)."""
    for permission in permissions(document):
        if (permission.function_id, permission.action, permission.prefix) == (
            function_id,
            action,
            None,
        ):
            return permission
    raise LookupError(f"{function_id} has no {action}")
