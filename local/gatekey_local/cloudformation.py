"""CloudFormation as a local run can read it: YAML with the short tags (``!Ref``,
``!Sub``, ...), and the intrinsic functions whose answer is known without AWS.

A value only AWS can produce (a resource ARN, an imported value) raises
:class:`Unresolvable`; callers decide whether that is an error or a value to leave out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gatekey_local.local_aws import LOCAL_ACCOUNT_ID, LOCAL_REGION, LOCAL_STACK_NAME

_PSEUDO_PARAMETERS = {
    "AWS::Region": LOCAL_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::StackName": LOCAL_STACK_NAME,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


class TemplateError(Exception):
    """The template uses something the local run cannot resolve or emulate."""


class Unresolvable(Exception):
    """A value only AWS can produce (a resource ARN, an imported value, ...)."""


# --- YAML with CloudFormation short tags ----------------------------------------------


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that turns ``!Ref X`` into ``{"Ref": "X"}`` and ``!Sub s`` into
    ``{"Fn::Sub": s}``, the same long form CloudFormation itself uses."""


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML file into plain dicts and lists."""
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise TemplateError(f"{path} is not a CloudFormation template")
    return document


# --- Resolution of intrinsic functions ------------------------------------------------


class Resolver:
    """Evaluates the intrinsic functions a local run can know the answer to."""

    def __init__(self, document: Mapping[str, Any], parameters: Mapping[str, str], table_name: str):
        self._resources: Mapping[str, Any] = document.get("Resources") or {}
        self._conditions: Mapping[str, Any] = document.get("Conditions") or {}
        self._mappings: Mapping[str, Any] = document.get("Mappings") or {}
        self._parameters = parameters
        self._table_name = table_name

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            values = (self.value(item) for item in node if not _is_no_value(item))
            return [value for value in values if value is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {key: self.value(item) for key, item in node.items() if not _is_no_value(item)}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def text(self, node: Any) -> str:
        value = self.value(node)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise TemplateError(f"expected a scalar, got {value!r}")

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self._truth(self._conditions[name])

    def _truth(self, node: Any) -> bool:
        value = self.value(node)
        if not isinstance(value, bool):
            raise TemplateError(f"condition did not evaluate to a boolean: {node!r}")
        return value

    def _ref(self, name: str) -> str:
        if name in self._parameters:
            return self._parameters[name]
        if name in _PSEUDO_PARAMETERS:
            return _PSEUDO_PARAMETERS[name]
        resource = self._resources.get(name)
        if isinstance(resource, dict) and resource.get("Type") == "AWS::DynamoDB::Table":
            return self._table_name
        raise Unresolvable(name)

    def _attribute(self, resource: str, attribute: str) -> str:
        """``!GetAtt resource.attribute``: only AWS knows, except where a subclass does."""
        raise Unresolvable(f"{resource}.{attribute}")

    def _function(self, key: str, argument: Any) -> Any:
        if key == "Fn::GetAtt":
            resource, attribute = argument
            return self._attribute(self.text(resource), self.text(attribute))
        if key == "Fn::Sub":
            return self._sub(argument)
        if key == "Fn::Join":
            delimiter, items = argument
            return self.text(delimiter).join(self.text(item) for item in self.value(items))
        if key == "Fn::Select":
            index, items = argument
            return self.value(items)[int(self.text(index))]
        if key == "Fn::Split":
            delimiter, source = argument
            return self.text(source).split(self.text(delimiter))
        if key == "Fn::If":
            condition, when_true, when_false = argument
            chosen = when_true if self.condition(condition) else when_false
            # `!Ref AWS::NoValue` removes the list item or property the !If stands for.
            return _NO_VALUE if _is_no_value(chosen) else self.value(chosen)
        if key == "Fn::Equals":
            left, right = argument
            return self.text(left) == self.text(right)
        if key == "Fn::Not":
            (operand,) = argument
            return not self._truth(operand)
        if key == "Fn::And":
            return all(self._truth(operand) for operand in argument)
        if key == "Fn::Or":
            return any(self._truth(operand) for operand in argument)
        if key == "Fn::FindInMap":
            mapping, first, second = (self.text(part) for part in argument)
            return self._mappings[mapping][first][second]
        raise Unresolvable(key)

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument
            local = {name: self.text(value) for name, value in variables.items()}
        else:
            text, local = argument, {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                return local[name]
            if "." in name:
                resource, _, attribute = name.partition(".")
                return self._attribute(resource, attribute)
            return self._ref(name)

        return re.sub(r"\$\{([^}]+)\}", substitute, text)


_NO_VALUE = object()  # what `!If [c, x, !Ref AWS::NoValue]` gives when c is false


def _is_no_value(node: Any) -> bool:
    return isinstance(node, dict) and node.get("Ref") == "AWS::NoValue"
