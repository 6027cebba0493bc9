"""Read what the local run needs from a SAM template.

Routes, authorizers, gateway responses, function settings and the table schema are
all taken from ``template.yaml`` so that the local API can never drift from what
``sam deploy`` creates. Both ``AWS::Serverless::Api`` (REST, ``Api`` events) and
``AWS::Serverless::HttpApi`` (HTTP API, ``HttpApi`` events, payload format 2.0) are
read, including the implicit ``ServerlessRestApi`` and ``ServerlessHttpApi`` that SAM
creates for events without an API id. Only the subset of CloudFormation that a local
run can resolve is supported; anything else raises :class:`TemplateError` with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_STACK_NAME = "gatekey-local"
IMPLICIT_API_ID = "ServerlessRestApi"
IMPLICIT_HTTP_API_ID = "ServerlessHttpApi"
DEFAULT_ROUTE = "$default"
"""The path of an HTTP API's catch-all route (an ``HttpApi`` event without Path/Method)."""

_PSEUDO_PARAMETERS = {
    "AWS::Region": LOCAL_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::StackName": LOCAL_STACK_NAME,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
_SAM_DEFAULT_REAUTHORIZE_SECONDS = 300
# An HTTP API authorizer without ReauthorizeEvery has no AuthorizerResultTtlInSeconds,
# which API Gateway v2 takes as 0: no caching.
_HTTP_API_DEFAULT_REAUTHORIZE_SECONDS = 0
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


class TemplateError(Exception):
    """The template uses something the local run cannot resolve or emulate."""


class _Unresolvable(Exception):
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


# --- What the local run needs ---------------------------------------------------------


@dataclass(frozen=True)
class FunctionSource:
    """Where a handler lives: the function's code directory and its ``module.attr``."""

    code_dir: Path
    handler: str


@dataclass(frozen=True)
class Function:
    """An ``AWS::Serverless::Function`` as the local run calls it."""

    logical_id: str
    source: FunctionSource
    environment: Mapping[str, str]
    memory_mb: int
    timeout_seconds: int


@dataclass(frozen=True)
class Route:
    """One ``Api`` or ``HttpApi`` event: a method and path of an API bound to a function.

    An HTTP API's ``$default`` route has ``path`` :data:`DEFAULT_ROUTE` and method ANY.
    """

    function_id: str
    api_id: str
    path: str
    method: str
    authorizer: str | None

    @property
    def route_key(self) -> str:
        """The HTTP API route key: ``GET /orders``, or ``$default``."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


@dataclass(frozen=True)
class Authorizer:
    """A Lambda authorizer of an API, with its identity sources and cache TTL.

    ``function_id`` is None when the authorizer function lives outside this template
    (an imported ARN); the caller then supplies its source explicitly. HTTP API
    authorizers are ``REQUEST`` authorizers of payload format 2.0; ``simple_responses``
    is their ``EnableSimpleResponses``.
    """

    name: str
    function_id: str | None
    payload_type: Literal["TOKEN", "REQUEST"]
    identity_headers: tuple[str, ...]
    validation_expression: str | None
    ttl_seconds: int
    simple_responses: bool = False
    identity_context: tuple[str, ...] = ()  # `$context.<name>` identity sources (HTTP APIs)


@dataclass(frozen=True)
class GatewayResponse:
    """A customised API Gateway response (status, body templates, static headers)."""

    status_code: int | None
    templates: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Api:
    """An ``AWS::Serverless::Api`` or ``AWS::Serverless::HttpApi`` (or an implicit one).

    HTTP APIs have no gateway responses; their stage is ``$default`` unless named.
    """

    logical_id: str
    stage_name: str
    default_authorizer: str | None
    authorizers: Mapping[str, Authorizer]
    gateway_responses: Mapping[str, GatewayResponse]
    protocol: Literal["REST", "HTTP"] = "REST"
    stage_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """The DynamoDB table: ``create_table`` arguments (without TableName) and TTL."""

    logical_id: str
    definition: Mapping[str, Any]
    ttl_attribute: str | None


@dataclass(frozen=True)
class Template:
    """The resolved view of a SAM template for one local run."""

    path: Path
    parameters: Mapping[str, str]
    functions: Mapping[str, Function]
    apis: Mapping[str, Api]
    routes: tuple[Route, ...]
    table: Table | None
    parameter_env_vars: Mapping[str, str]
    table_name: str = "gatekey"
    """The local name of the template's table (every ``!Ref`` of it resolves to this)."""

    def parameter_overrides_from(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Parameters whose function env var is set in ``environ``.

        A variable such as ``GATEKEY_AUTHORIZER_CACHE_SECONDS: !Ref AuthorizerCacheSeconds``
        set in the local run's environment overrides the parameter itself, so the
        authorizer cache TTL and every function see the same value.
        """
        return {
            parameter: environ[variable]
            for variable, parameter in self.parameter_env_vars.items()
            if variable in environ
        }


# --- Resolution of intrinsic functions ------------------------------------------------


class _Resolver:
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
        raise _Unresolvable(name)

    def _attribute(self, resource: str, attribute: str) -> str:
        """``!GetAtt resource.attribute``: only AWS knows, except where a subclass does."""
        raise _Unresolvable(f"{resource}.{attribute}")

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
        raise _Unresolvable(key)

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


# --- Reading the template -------------------------------------------------------------


def load_template(
    path: str | Path,
    parameter_overrides: Mapping[str, str] | None = None,
    table_name: str = "gatekey",
) -> Template:
    """Load and resolve a SAM template for a local run.

    ``table_name`` replaces every ``!Ref`` of the template's DynamoDB table, since the
    local table is named by the caller rather than by CloudFormation.
    """
    template_path = Path(path).resolve()
    document = load_yaml(template_path)
    try:
        return _resolve_template(template_path, document, parameter_overrides or {}, table_name)
    except _Unresolvable as exc:
        raise TemplateError(f"{template_path}: only AWS can resolve {exc}") from exc


def _resolve_template(
    template_path: Path,
    document: Mapping[str, Any],
    parameter_overrides: Mapping[str, str],
    table_name: str,
) -> Template:
    parameters = _parameter_values(document, parameter_overrides)
    resolver = _Resolver(document, parameters, table_name)
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
    apis: dict[str, Api] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Api":
            apis[logical_id] = _api(logical_id, properties, globals_section, resolver)
        elif resource.get("Type") == "AWS::Serverless::HttpApi":
            apis[logical_id] = _http_api(logical_id, properties, globals_section, resolver)
    routes = tuple(_routes(resources, resolver))
    if any(route.api_id == IMPLICIT_API_ID for route in routes):
        apis[IMPLICIT_API_ID] = _api(
            IMPLICIT_API_ID, {"StageName": "Prod"}, globals_section, resolver
        )
    if any(route.api_id == IMPLICIT_HTTP_API_ID for route in routes):
        apis[IMPLICIT_HTTP_API_ID] = _http_api(IMPLICIT_HTTP_API_ID, {}, globals_section, resolver)
    for route in routes:
        _check_route(route, apis)
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
    resolver: _Resolver,
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
        except _Unresolvable:
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


def _api(
    logical_id: str,
    own_properties: Mapping[str, Any],
    globals_section: Mapping[str, Any],
    resolver: _Resolver,
) -> Api:
    properties = {**(globals_section.get("Api") or {}), **own_properties}
    default_authorizer, authorizers = _api_authorizers(
        logical_id, properties, resolver, _authorizer, "is not defined"
    )
    responses = {
        response_type: _gateway_response(definition, resolver)
        for response_type, definition in (properties.get("GatewayResponses") or {}).items()
    }
    return Api(
        logical_id=logical_id,
        stage_name=_stage_name(logical_id, properties, resolver, "Prod"),
        default_authorizer=default_authorizer,
        authorizers=authorizers,
        gateway_responses=responses,
        stage_variables=_stage_variables(logical_id, properties.get("Variables"), resolver),
    )


# API Gateway's rules for stage variables (names and values), enforced here as in AWS.
_STAGE_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_STAGE_VARIABLE_VALUE = re.compile(r"^[A-Za-z0-9\-._~:/?#&=,]{1,2048}$")
ROUTE_SCOPES_VARIABLE = "gatekeyRouteScopes"
# `$context.<name>` identity sources the local HTTP API can evaluate.
_IDENTITY_CONTEXT = frozenset({"routeKey", "stage"})


def _stage_variables(logical_id: str, raw: Any, resolver: _Resolver) -> dict[str, str]:
    variables: dict[str, str] = {}
    for name, value in (raw or {}).items():
        text = resolver.text(value)
        if not _STAGE_VARIABLE_NAME.match(name) or not _STAGE_VARIABLE_VALUE.match(text):
            raise TemplateError(
                f"{logical_id}: stage variable {name} is not valid for API Gateway (names "
                "[A-Za-z0-9_]; values 1-2048 of A-Za-z0-9-._~:/?#&=,)"
            )
        variables[name] = text
    return variables


def _api_authorizers(
    logical_id: str,
    properties: Mapping[str, Any],
    resolver: _Resolver,
    read_authorizer: Callable[[str, str, Mapping[str, Any], _Resolver], Authorizer],
    undefined_default: str,
) -> tuple[str | None, dict[str, Authorizer]]:
    """An API's `Auth`: its authorizers by name and the default one, which must exist."""
    auth: Mapping[str, Any] = properties.get("Auth") or {}
    authorizers = {
        name: read_authorizer(logical_id, name, definition, resolver)
        for name, definition in (auth.get("Authorizers") or {}).items()
    }
    default_authorizer = auth.get("DefaultAuthorizer")
    if default_authorizer is not None and default_authorizer not in authorizers:
        raise TemplateError(
            f"{logical_id}: DefaultAuthorizer {default_authorizer} {undefined_default}"
        )
    return default_authorizer, authorizers


def _stage_name(
    logical_id: str, properties: Mapping[str, Any], resolver: _Resolver, default: str
) -> str:
    try:
        return resolver.text(properties.get("StageName", default))
    except _Unresolvable as exc:
        raise TemplateError(f"{logical_id}: cannot resolve StageName ({exc})") from exc


def _authorizer(
    api_id: str, name: str, definition: Mapping[str, Any], resolver: _Resolver
) -> Authorizer:
    if "FunctionArn" not in definition:
        raise TemplateError(f"{api_id}: authorizer {name} is not a Lambda authorizer")
    payload_type = definition.get("FunctionPayloadType", "TOKEN")
    if payload_type not in ("TOKEN", "REQUEST"):
        raise TemplateError(f"{api_id}: authorizer {name} has payload type {payload_type!r}")
    identity: Mapping[str, Any] = definition.get("Identity") or {}
    if payload_type == "TOKEN":
        headers: tuple[str, ...] = (identity.get("Header", "Authorization"),)
    else:
        other_sources = sorted({"QueryStrings", "StageVariables", "Context"} & set(identity))
        if other_sources:
            raise TemplateError(
                f"{api_id}: authorizer {name} uses identity sources the local API does not "
                f"emulate: {', '.join(other_sources)} (only Headers)"
            )
        headers = tuple(identity.get("Headers") or ())
    ttl = identity.get("ReauthorizeEvery", _SAM_DEFAULT_REAUTHORIZE_SECONDS)
    return Authorizer(
        name=name,
        function_id=_function_id_of_arn(definition["FunctionArn"], resolver),
        payload_type=payload_type,
        identity_headers=headers,
        validation_expression=identity.get("ValidationExpression"),
        ttl_seconds=int(resolver.text(ttl)),
    )


def _http_api(
    logical_id: str,
    own_properties: Mapping[str, Any],
    globals_section: Mapping[str, Any],
    resolver: _Resolver,
) -> Api:
    properties = {**(globals_section.get("HttpApi") or {}), **own_properties}
    default_authorizer, authorizers = _api_authorizers(
        logical_id,
        properties,
        resolver,
        _http_authorizer,
        "is not a Lambda authorizer defined on this API "
        "(the local API emulates Lambda authorizers only)",
    )
    api = Api(
        logical_id=logical_id,
        stage_name=_stage_name(logical_id, properties, resolver, "$default"),
        default_authorizer=default_authorizer,
        authorizers=authorizers,
        gateway_responses={},
        protocol="HTTP",
        stage_variables=_stage_variables(logical_id, properties.get("StageVariables"), resolver),
    )
    if ROUTE_SCOPES_VARIABLE in api.stage_variables:
        for authorizer in authorizers.values():
            if (
                authorizer.simple_responses
                and authorizer.ttl_seconds > 0
                and "routeKey" not in authorizer.identity_context
            ):
                raise TemplateError(
                    f"{logical_id}: authorizer {authorizer.name} caches simple answers but "
                    "its identity sources lack $context.routeKey, so a cached allow for one "
                    "route would open every route (add Identity.Context: [routeKey])"
                )
    return api


def _http_authorizer(
    api_id: str, name: str, definition: Mapping[str, Any], resolver: _Resolver
) -> Authorizer:
    if "FunctionArn" not in definition:
        raise TemplateError(
            f"{api_id}: authorizer {name} is not a Lambda authorizer (JWT authorizers are "
            "not emulated)"
        )
    version = resolver.text(definition.get("AuthorizerPayloadFormatVersion", ""))
    if version != "2.0":
        raise TemplateError(
            f"{api_id}: authorizer {name} has AuthorizerPayloadFormatVersion {version!r}; "
            "the local HTTP API emulates payload format 2.0 only"
        )
    identity: Mapping[str, Any] = definition.get("Identity") or {}
    other_sources = sorted({"QueryStrings", "StageVariables"} & set(identity))
    context_sources = tuple(identity.get("Context") or ())
    unknown_context = sorted(set(context_sources) - _IDENTITY_CONTEXT)
    if other_sources or unknown_context:
        raise TemplateError(
            f"{api_id}: authorizer {name} uses identity sources the local API does not "
            f"emulate: {', '.join(other_sources + unknown_context)} (only Headers and "
            f"Context {', '.join(sorted(_IDENTITY_CONTEXT))})"
        )
    ttl = identity.get("ReauthorizeEvery", _HTTP_API_DEFAULT_REAUTHORIZE_SECONDS)
    return Authorizer(
        name=name,
        function_id=_function_id_of_arn(definition["FunctionArn"], resolver),
        payload_type="REQUEST",
        identity_headers=tuple(identity.get("Headers") or ()),
        validation_expression=None,
        ttl_seconds=int(resolver.text(ttl)),
        simple_responses=resolver.text(definition.get("EnableSimpleResponses", False)) == "true",
        identity_context=context_sources,
    )


def _function_id_of_arn(function_arn: Any, resolver: _Resolver) -> str | None:
    """The logical id behind ``!GetAtt Fn.Arn``, ``!Sub ${Fn.Arn}`` or ``!Ref Fn.Alias``
    (SAM's AutoPublishAlias); None otherwise."""
    if isinstance(function_arn, dict) and isinstance(function_arn.get("Ref"), str):
        resource, _, attribute = function_arn["Ref"].partition(".")
        return resource if attribute == "Alias" else None
    if isinstance(function_arn, dict) and "Fn::GetAtt" in function_arn:
        resource, attribute = function_arn["Fn::GetAtt"]
        return str(resource) if attribute == "Arn" else None
    if isinstance(function_arn, dict) and isinstance(function_arn.get("Fn::Sub"), str):
        match = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.Arn\}", function_arn["Fn::Sub"])
        return match.group(1) if match else None
    return None


def _gateway_response(definition: Mapping[str, Any], resolver: _Resolver) -> GatewayResponse:
    status = definition.get("StatusCode")
    parameters: Mapping[str, Any] = definition.get("ResponseParameters") or {}
    return GatewayResponse(
        status_code=int(resolver.text(status)) if status is not None else None,
        templates={
            media_type: resolver.text(body)
            for media_type, body in (definition.get("ResponseTemplates") or {}).items()
        },
        headers={
            name: resolver.text(value) for name, value in (parameters.get("Headers") or {}).items()
        },
    )


# Event type -> (the property naming its API, that API's resource type, the implicit API)
_API_EVENTS = {
    "Api": ("RestApiId", "AWS::Serverless::Api", IMPLICIT_API_ID),
    "HttpApi": ("ApiId", "AWS::Serverless::HttpApi", IMPLICIT_HTTP_API_ID),
}


def _routes(resources: Mapping[str, Any], resolver: _Resolver) -> Iterable[Route]:
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events: Mapping[str, Any] = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            event_type = event.get("Type")
            if event_type not in _API_EVENTS:
                continue
            where = f"{logical_id}.{event_name}"
            id_property, api_type, implicit_id = _API_EVENTS[event_type]
            properties: Mapping[str, Any] = event.get("Properties") or {}
            api_ref = properties.get(id_property)
            if api_ref is None:
                api_id = implicit_id
            elif isinstance(api_ref, dict) and isinstance(api_ref.get("Ref"), str):
                api_id = api_ref["Ref"]
                declared = resources.get(api_id)
                if isinstance(declared, dict) and declared.get("Type") != api_type:
                    raise TemplateError(f"{where}: {id_property} {api_id} is not an {api_type}")
            else:
                raise TemplateError(f"{where}: {id_property} must be a !Ref")
            if event_type == "HttpApi":
                path, method = _http_api_route(where, properties, resolver)
            else:
                path = resolver.text(properties["Path"])
                method = resolver.text(properties["Method"]).upper()
            auth: Mapping[str, Any] = properties.get("Auth") or {}
            yield Route(
                function_id=logical_id,
                api_id=api_id,
                path=path,
                method=method,
                authorizer=auth.get("Authorizer"),
            )


def _http_api_route(
    where: str, properties: Mapping[str, Any], resolver: _Resolver
) -> tuple[str, str]:
    """Path and method of an ``HttpApi`` event, as SAM reads them: no Path is the
    ``$default`` route, no Method is ANY."""
    version = resolver.text(properties.get("PayloadFormatVersion", "2.0"))
    if version != "2.0":
        raise TemplateError(
            f"{where}: PayloadFormatVersion {version!r}; the local HTTP API emulates 2.0 only"
        )
    if "Path" not in properties:
        return DEFAULT_ROUTE, "ANY"
    method = resolver.text(properties.get("Method", "ANY")).upper()
    return resolver.text(properties["Path"]), method


def _check_route(route: Route, apis: Mapping[str, Api]) -> None:
    api = apis.get(route.api_id)
    if api is None:
        raise TemplateError(f"{route.function_id}: API {route.api_id} is not an API here")
    if route.authorizer in (None, "NONE"):
        return
    if route.authorizer not in api.authorizers:
        raise TemplateError(
            f"{route.function_id} {route.method} {route.path}: authorizer {route.authorizer} "
            f"is not defined on {route.api_id} (the local API emulates Lambda authorizers only)"
        )


def effective_authorizer(route: Route, api: Api) -> Authorizer | None:
    """The authorizer API Gateway runs for ``route``: its own, else the API default."""
    name = route.authorizer if route.authorizer is not None else api.default_authorizer
    if name in (None, "NONE"):
        return None
    return api.authorizers[name]


def _table(resources: Mapping[str, Any], resolver: _Resolver) -> Table | None:
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


# --- Creating the table ---------------------------------------------------------------


def create_table(dynamodb_client: DynamoDBClient, table_name: str, template: Template) -> bool:
    """Create the template's table under ``table_name`` unless it exists; enable its TTL.

    Returns True when the table was created. Safe to call on every start.
    """
    table = template.table
    if table is None:
        raise TemplateError(f"{template.path} declares no AWS::DynamoDB::Table")
    existing = dynamodb_client.exceptions
    created = False
    try:
        dynamodb_client.describe_table(TableName=table_name)
    except existing.ResourceNotFoundException:
        try:
            dynamodb_client.create_table(TableName=table_name, **table.definition)
            created = True
        except existing.ResourceInUseException:
            pass  # created concurrently by another process
    dynamodb_client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    if table.ttl_attribute is not None:
        described = dynamodb_client.describe_time_to_live(TableName=table_name)
        status = described["TimeToLiveDescription"].get("TimeToLiveStatus")
        if status in (None, "DISABLED"):
            dynamodb_client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
            )
    return created
