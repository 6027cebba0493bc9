"""Response bodies against docs/openapi.yaml: the schema of the operation and status.

The e2e suite records every answer its `Client` receives (tests/e2e/conftest.py) and
checks them all at the end of the session with `problems()`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
SPEC_URI = "urn:gatekey:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    status: int
    content_type: str
    body: bytes


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@lru_cache(maxsize=1)
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """Each spec path as a regex; literal paths first so `/user/keys` beats `{id}`."""
    patterns = []
    for template in spec()["paths"]:
        regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        patterns.append((re.compile(regex), template))
    return sorted(patterns, key=lambda item: item[1].count("{"))


def path_template(path: str) -> str | None:
    path = path.split("?", 1)[0]
    for regex, template in _templates():
        if regex.fullmatch(path):
            return template
    return None


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(spec()))
    return jsonschema.Draft202012Validator(
        schema,
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def _absolute(schema: Any) -> Any:
    """The schema with its local `#/...` references made absolute to the spec's URI."""
    if isinstance(schema, dict):
        return {
            key: (
                f"{SPEC_URI}{value}"
                if key == "$ref" and value.startswith("#/")
                else _absolute(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_absolute(item) for item in schema]
    return schema


def problem(answer: Recorded) -> str | None:
    """Why the answer disagrees with the spec, or None (also for undocumented routes,
    which the route tests cover)."""
    template = path_template(answer.path)
    if template is None:
        return None
    operation = spec()["paths"][template].get(answer.method.lower())
    if operation is None:
        return None
    name = f"{answer.method} {template} {answer.status} ({operation['operationId']})"
    responses = operation["responses"]
    documented = responses.get(str(answer.status))
    if documented is None:
        return f"{name}: status not documented (documented: {sorted(responses)})"
    content = _resolve(documented).get("content") or {}
    if answer.method == "HEAD":
        return None
    if not content:
        if answer.body:
            return f"{name}: the spec says no body, got {answer.body[:200]!r}"
        return None
    media = answer.content_type.split(";")[0].strip().lower()
    if media not in content:
        return f"{name}: content type {media!r} not in {sorted(content)}"
    schema = content[media].get("schema")
    if schema is None or media != "application/json":
        return None
    try:
        body = json.loads(answer.body)
    except ValueError:
        return f"{name}: body is not JSON: {answer.body[:200]!r}"
    error = jsonschema.exceptions.best_match(_validator(_absolute(schema)).iter_errors(body))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        return f"{name}: at {where}: {error.message[:300]}"
    return None


def problems(answers: list[Recorded]) -> list[str]:
    found: dict[str, int] = {}
    for answer in answers:
        reason = problem(answer)
        if reason is not None:
            found[reason] = found.get(reason, 0) + 1
    return [f"{reason} (x{count})" if count > 1 else reason for reason, count in found.items()]
