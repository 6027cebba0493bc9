"""Read what the local run needs from a SAM template: :func:`load_template`.

Routes, authorizers, gateway responses, function settings and the table schema are
all taken from ``template.yaml`` so that the local API can never drift from what
``sam deploy`` creates. The result is the model of ``sam_model``; functions, the
table and parameters are read here, APIs and routes in ``template_apis``, intrinsic
functions by ``cloudformation``. Only the subset of CloudFormation that a local run
can resolve is supported; anything else raises :class:`TemplateError` with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gatekey.settings import DEFAULT_TABLE
from gatekey_local.cloudformation import Resolver, TemplateError, Unresolvable, load_yaml
from gatekey_local.sam_model import Function, FunctionSource, Table, Template
from gatekey_local.template_apis import apis_and_routes

_LAMBDA_DEFAULT_MEMORY_MB = 128
_LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3
_TABLE_CREATE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
)


def load_template(
    path: str | Path,
    parameter_overrides: Mapping[str, str] | None = None,
    table_name: str = DEFAULT_TABLE,
) -> Template:
    """Load and resolve a SAM template for a local run.

    ``table_name`` replaces every ``!Ref`` of the template's DynamoDB table, since the
    local table is named by the caller rather than by CloudFormation.
    """
    template_path = Path(path).resolve()
    document = load_yaml(template_path)
    try:
        return _resolve_template(template_path, document, parameter_overrides or {}, table_name)
    except Unresolvable as exc:
        raise TemplateError(f"{template_path}: only AWS can resolve {exc}") from exc


def _resolve_template(
    template_path: Path,
    document: Mapping[str, Any],
    parameter_overrides: Mapping[str, str],
    table_name: str,
) -> Template:
    parameters = _parameter_values(document, parameter_overrides)
    resolver = Resolver(document, parameters, table_name)
    resources = {
        logical_id: resource
        for logical_id, resource in (document.get("Resources") or {}).items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }
    globals_section: Mapping[str, Any] = document.get("Globals") or {}

    functions = {
        logical_id: _function(logical_id, resource, globals_section, resolver, template_path)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    apis, routes = apis_and_routes(resources, globals_section, resolver)
    for api in apis.values():
        for authorizer in api.authorizers.values():
            if authorizer.function_id is not None and authorizer.function_id not in functions:
                raise TemplateError(
                    f"authorizer {authorizer.name} names {authorizer.function_id}, "
                    "which is not a function of this template"
                )

    return Template(
        path=template_path,
        parameters=parameters,
        functions=functions,
        apis=apis,
        routes=routes,
        table=_table(resources, resolver),
        parameter_env_vars=_parameter_env_vars(resources, globals_section, parameters),
        table_name=table_name,
    )


def _parameter_values(document: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    declared: Mapping[str, Any] = document.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"unknown template parameters: {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name, declaration in declared.items():
        if name in overrides:
            values[name] = str(overrides[name])
        elif "Default" in declaration:
            default = declaration["Default"]
            values[name] = (
                ("true" if default else "false") if isinstance(default, bool) else str(default)
            )
        else:
            raise TemplateError(f"template parameter {name} has no default; give it a value")
    return values


def _function(
    logical_id: str,
    resource: Mapping[str, Any],
    globals_section: Mapping[str, Any],
    resolver: Resolver,
    template_path: Path,
) -> Function:
    defaults: Mapping[str, Any] = globals_section.get("Function") or {}
    properties: Mapping[str, Any] = resource.get("Properties") or {}

    def setting(name: str, fallback: Any = None) -> Any:
        return properties.get(name, defaults.get(name, fallback))

    code_uri = setting("CodeUri")
    handler = setting("Handler")
    if not isinstance(code_uri, str) or not isinstance(handler, str):
        raise TemplateError(f"{logical_id}: the local run needs a local CodeUri and a Handler")

    variables = {
        **((defaults.get("Environment") or {}).get("Variables") or {}),
        **((properties.get("Environment") or {}).get("Variables") or {}),
    }
    environment: dict[str, str] = {}
    for name, raw in variables.items():
        try:
            environment[name] = resolver.text(raw)
        except Unresolvable:
            continue  # an ARN or export that exists only on AWS, e.g. the secret's ARN
    return Function(
        logical_id=logical_id,
        source=FunctionSource(
            code_dir=(template_path.parent / code_uri).resolve(), handler=handler
        ),
        environment=environment,
        memory_mb=int(resolver.text(setting("MemorySize", _LAMBDA_DEFAULT_MEMORY_MB))),
        timeout_seconds=int(resolver.text(setting("Timeout", _LAMBDA_DEFAULT_TIMEOUT_SECONDS))),
    )


def _table(resources: Mapping[str, Any], resolver: Resolver) -> Table | None:
    tables = [
        (logical_id, resource)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    ]
    if not tables:
        return None
    if len(tables) > 1:
        raise TemplateError("the local run supports one DynamoDB table per template")
    logical_id, resource = tables[0]
    properties: Mapping[str, Any] = resource.get("Properties") or {}
    definition = {
        key: resolver.value(properties[key]) for key in _TABLE_CREATE_KEYS if key in properties
    }
    ttl: Mapping[str, Any] = resolver.value(properties.get("TimeToLiveSpecification") or {})
    enabled = ttl.get("Enabled") in (True, "true", "True")
    return Table(
        logical_id=logical_id,
        definition=definition,
        ttl_attribute=ttl.get("AttributeName") if enabled else None,
    )


def _parameter_env_vars(
    resources: Mapping[str, Any], globals_section: Mapping[str, Any], parameters: Mapping[str, str]
) -> dict[str, str]:
    blocks = [(globals_section.get("Function") or {}).get("Environment") or {}]
    blocks += [
        (resource.get("Properties") or {}).get("Environment") or {}
        for resource in resources.values()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]
    mapping: dict[str, str] = {}
    for block in blocks:
        for variable, raw in (block.get("Variables") or {}).items():
            if isinstance(raw, dict) and raw.get("Ref") in parameters:
                mapping[variable] = raw["Ref"]
    return mapping
