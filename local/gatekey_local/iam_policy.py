"""A small evaluator of IAM identity-based policies, for the local run's IAM gate.

It decides one request (action, resource ARN, condition context) against the
statements of a role's policies the way the IAM User Guide's evaluation logic does for
a single account with identity-based policies only:

* an explicit ``Deny`` in any matching statement wins;
* otherwise an ``Allow`` in any matching statement allows;
* otherwise the request is denied by default (implicit deny).

A statement matches when its ``Action`` (or ``NotAction``), its ``Resource`` (or
``NotResource``) and every condition of its ``Condition`` block match. Actions compare
case-insensitively, resources case-sensitively; both take the wildcards ``*`` (any run
of characters) and ``?`` (one character). A resource pattern is matched against an ARN
segment by segment (``arn:partition:service:region:account:resource``), so a ``*`` in
the region never swallows the account.

Conditions: operators in a block are ANDed, keys under one operator are ANDed, the
values of one key are ORed (NORed for negated operators). Supported operators are the
string ones (``StringEquals``, ``StringNotEquals``, ``StringEqualsIgnoreCase``,
``StringNotEqualsIgnoreCase``, ``StringLike``, ``StringNotLike``), each with the
``ForAllValues:``/``ForAnyValue:`` set qualifiers and the ``IfExists`` suffix, and
``Null``. As AWS documents: a key absent from the request makes a positive operator
false and a negated one true; ``ForAllValues`` is true when the key is absent or
empty; ``ForAnyValue`` is false then; ``IfExists`` is true when the key is absent.
Condition key names compare case-insensitively. Policy variables (``${aws:...}``) are
not supported: :func:`check_supported` refuses them, and any other unsupported element.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

Statement = Mapping[str, Any]
Context = Mapping[str, Sequence[str]]


@lru_cache(maxsize=1024)
def wildcard(pattern: str, *, fold_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters (also none), ``?`` one character."""
    expression = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(expression, re.IGNORECASE | re.DOTALL if fold_case else re.DOTALL)


_STRING_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    # name: (how one request value matches one policy value, negated?)
    "stringequals": (lambda value, pattern: value == pattern, False),
    "stringnotequals": (lambda value, pattern: value == pattern, True),
    "stringequalsignorecase": (lambda value, pattern: value.lower() == pattern.lower(), False),
    "stringnotequalsignorecase": (lambda value, pattern: value.lower() == pattern.lower(), True),
    "stringlike": (
        lambda value, pattern: wildcard(pattern, fold_case=False).fullmatch(value) is not None,
        False,
    ),
    "stringnotlike": (
        lambda value, pattern: wildcard(pattern, fold_case=False).fullmatch(value) is not None,
        True,
    ),
}
_SET_QUALIFIERS = ("forallvalues", "foranyvalue")
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}


class PolicyError(ValueError):
    """A policy uses an element or operator this evaluator does not implement."""


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class Request:
    """One authorization question: may the role do ``action`` on ``resource``?"""

    action: str
    resource: str
    context: Context = field(default_factory=dict)


def statements_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy document (``Statement`` may be one object or a list)."""
    raw = document.get("Statement")
    if raw is None:
        raise PolicyError("a policy document needs a Statement")
    return [dict(statement) for statement in (raw if isinstance(raw, list) else [raw])]


def evaluate(statements: Iterable[Statement], request: Request) -> Decision:
    """The decision for ``request`` under these statements (see the module docstring)."""
    allowed = False
    for statement in statements:
        if not _matches(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return Decision.EXPLICIT_DENY
        allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def check_supported(
    statements: Iterable[Statement], known_keys: Iterable[str] | None = None
) -> None:
    """Raise :class:`PolicyError` for anything :func:`evaluate` would get wrong.

    With ``known_keys``, a condition on any other key is refused too: the request
    context would never hold it, so the local decision could differ from AWS's.
    """
    known = None if known_keys is None else {key.lower() for key in known_keys}
    for statement in statements:
        unknown = set(statement) - _STATEMENT_KEYS
        if unknown:
            raise PolicyError(f"unsupported statement elements: {', '.join(sorted(unknown))}")
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError(f"Effect must be Allow or Deny, got {statement.get('Effect')!r}")
        if ("Action" in statement) == ("NotAction" in statement):
            raise PolicyError("a statement needs exactly one of Action and NotAction")
        if ("Resource" in statement) == ("NotResource" in statement):
            raise PolicyError("a statement needs exactly one of Resource and NotResource")
        for element in ("Action", "NotAction", "Resource", "NotResource"):
            for value in _strings(statement.get(element, [])):
                if "${" in value:
                    raise PolicyError(f"policy variables are not supported: {value}")
        for operator, entries in (statement.get("Condition") or {}).items():
            _parse_operator(operator)
            if not isinstance(entries, Mapping):
                raise PolicyError(f"condition {operator} needs a map of keys to values")
            for key, values in entries.items():
                if known is not None and key.lower() not in known:
                    raise PolicyError(f"condition key {key} is not supported locally")
                for value in _strings(values):
                    if "${" in value:
                        raise PolicyError(f"policy variables are not supported: {value}")


def _matches(statement: Statement, request: Request) -> bool:
    if "NotAction" in statement:
        if any(_action_matches(p, request.action) for p in _strings(statement["NotAction"])):
            return False
    elif not any(_action_matches(p, request.action) for p in _strings(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(_resource_matches(p, request.resource) for p in _strings(statement["NotResource"])):
            return False
    elif not any(
        _resource_matches(p, request.resource) for p in _strings(statement.get("Resource"))
    ):
        return False
    return all(
        _condition_holds(operator, key, _strings(values), request.context)
        for operator, entries in (statement.get("Condition") or {}).items()
        for key, values in entries.items()
    )


def _action_matches(pattern: str, action: str) -> bool:
    return wildcard(pattern, fold_case=True).fullmatch(action) is not None


def _resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    resource_parts = resource.split(":", 5)
    if len(pattern_parts) != len(resource_parts):
        return False
    return all(
        wildcard(p, fold_case=False).fullmatch(r) is not None
        for p, r in zip(pattern_parts, resource_parts, strict=True)
    )


def _parse_operator(operator: str) -> tuple[str | None, str, bool]:
    """``ForAllValues:StringLikeIfExists`` -> ("forallvalues", "stringlike", True)."""
    qualifier: str | None = None
    name = operator
    if ":" in operator:
        prefix, _, name = operator.partition(":")
        qualifier = prefix.lower()
        if qualifier not in _SET_QUALIFIERS:
            raise PolicyError(f"unsupported set operator {prefix}")
    base = name.lower()
    if_exists = base.endswith("ifexists")
    if if_exists:
        base = base.removesuffix("ifexists")
    if base == "null":
        if qualifier or if_exists:
            raise PolicyError(f"unsupported condition operator {operator}")
    elif base not in _STRING_OPERATORS:
        raise PolicyError(f"unsupported condition operator {operator}")
    return qualifier, base, if_exists


def _condition_holds(operator: str, key: str, policy_values: list[str], context: Context) -> bool:
    qualifier, base, if_exists = _parse_operator(operator)
    request_values = _context_values(context, key)
    if base == "null":
        # {"Null": {"key": "true"}}: the key is absent (or empty); "false": it is present.
        absent = not request_values
        return any(absent == (value.lower() == "true") for value in policy_values)
    compare, negated = _STRING_OPERATORS[base]

    def value_matches(value: str) -> bool:
        hit = any(compare(value, pattern) for pattern in policy_values)
        return not hit if negated else hit

    if request_values is None or not request_values:
        if qualifier == "forallvalues":
            return True
        if if_exists:
            return True
        if qualifier == "foranyvalue":
            return False
        return negated
    if qualifier == "forallvalues":
        return all(value_matches(value) for value in request_values)
    # ForAnyValue, and a single-valued operator (true when any request value matches).
    return any(value_matches(value) for value in request_values)


def _context_values(context: Context, key: str) -> list[str] | None:
    wanted = key.lower()
    for name, values in context.items():
        if name.lower() == wanted:
            return list(values)
    return None


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, str | int | float):
        return [str(value)]
    if isinstance(value, Sequence):
        return [item for element in value for item in _strings(element)]
    raise PolicyError(f"expected a string or a list of strings, got {value!r}")
