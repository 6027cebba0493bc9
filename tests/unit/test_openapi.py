"""docs/openapi.yaml against what it describes: template.yaml, the handlers and the models.

The spec is written by hand; these tests fail as soon as it drifts from the routes of
template.yaml, the statuses and bodies of functions/*/app.py, the pydantic models of
gatekey.edges.models, or the shapes the layer actually returns.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pydantic
import pytest
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from gatekey import clock, errors
from gatekey.accounts import passwords
from gatekey.accounts.passwords import hash_password
from gatekey.accounts.sessions import SessionService
from gatekey.accounts.users import public_user
from gatekey.credentials.account_keys import account_key_view, policy_view
from gatekey.credentials.bots import bot_view
from gatekey.credentials.keys import key_view, resolve_expiry
from gatekey.credentials.revocation import RevocationService
from gatekey.edges import models
from gatekey.edges.api import validation_entries
from gatekey.principal import SESSION, Principal
from gatekey.records import ApiKey, KeyPolicy, Session, User
from gatekey.settings import Settings
from gatekey.tokens import key_tokens
from gatekey.tokens.keyring import Keyring
from gatekey_local.sam_model import effective_authorizer
from gatekey_local.template import load_template

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "docs" / "openapi.yaml"
TEMPLATE = REPO / "template.yaml"
FUNCTIONS = REPO / "functions"

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SPEC_URI = "urn:gatekey:openapi"
AUTHORIZER_SCHEME = "gatekeyToken"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
ERROR_REF = "#/components/schemas/Error"
USAGE_REFUSED_REF = "#/components/responses/UsageRefused"


# --- loading ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE)


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follows local $refs (siblings such as `description` may override, as 3.1 allows)."""
    seen = set()
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are used: {ref}"
        assert ref not in seen, f"reference cycle at {ref}"
        seen.add(ref)
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def schema_validator(spec: dict[str, Any], ref: str) -> jsonschema.Draft202012Validator:
    """A JSON Schema 2020-12 validator for one schema of the spec, its $refs resolved."""
    registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(spec))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SPEC_URI}{ref}"},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def schema_accepts(spec: dict[str, Any], name: str, instance: Any) -> bool:
    return schema_validator(spec, f"#/components/schemas/{name}").is_valid(instance)


def assert_matches(spec: dict[str, Any], name: str, instance: Any) -> None:
    schema_validator(spec, f"#/components/schemas/{name}").validate(instance)


# --- (1) a valid OpenAPI 3.1 document ----------------------------------------------------


def test_spec_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)
    json.dumps(spec)  # plain JSON values only (no YAML timestamps or other tags)


def test_operation_ids_are_unique(spec):
    ids = [operation["operationId"] for operation in operations(spec).values()]
    assert len(ids) == len(set(ids))


# --- (2) exactly the routes of template.yaml ---------------------------------------------


def test_routes_equal_the_template(spec, template):
    declared = {(route.method.upper(), route.path) for route in template.routes}
    assert set(operations(spec)) == declared


def test_path_parameters_are_declared_with_the_template_names(spec):
    for (method, path), operation in operations(spec).items():
        parameters = [
            resolve(spec, parameter)
            for parameter in spec["paths"][path].get("parameters", [])
            + operation.get("parameters", [])
        ]
        in_path = {parameter["name"] for parameter in parameters if parameter["in"] == "path"}
        assert in_path == set(re.findall(r"\{([^}]+)\}", path)), (method, path)
        for parameter in parameters:
            assert parameter["in"] != "path" or parameter["required"] is True


# --- (3) security follows the authorizer -------------------------------------------------


def test_guarded_routes_declare_the_authorizer_and_public_ones_do_not(spec, template):
    api = template.apis["GatekeyApi"]
    ops = operations(spec)
    assert "security" not in spec, "no global requirement: each operation says its own"
    guarded = 0
    for route in template.routes:
        operation = ops[(route.method.upper(), route.path)]
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        if effective_authorizer(route, api) is not None:
            guarded += 1
            assert operation.get("security") == [{AUTHORIZER_SCHEME: []}], route
            responses = operation["responses"]
            assert {"401", "503"} <= set(responses), f"{route}: the authorizer answers these"
        else:
            assert AUTHORIZER_SCHEME not in schemes, route
    assert guarded > 0


def test_authorizer_scheme_is_bearer_and_mentions_the_bare_token(spec):
    scheme = spec["components"]["securitySchemes"][AUTHORIZER_SCHEME]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "Authorization: <token>" in scheme["description"]


# --- (4) every error uses the shared Error schema ----------------------------------------


# Routes that answer errors in OAuth's format (contract section 10), not section 4's.
OAUTH_FORMAT = {"/oauth/token", "/oauth/introspect"}


def test_every_error_response_refers_to_the_error_schema(spec):
    count = 0
    for key, operation in operations(spec).items():
        for status, response in operation["responses"].items():
            assert re.fullmatch(r"[1-5][0-9][0-9]", status), (key, status)
            if int(status) < 400:
                continue
            count += 1
            resolved = resolve(spec, response)
            assert set(resolved["content"]) == {JSON}, (key, status)
            schema = resolved["content"][JSON]["schema"]
            if key[1] in OAUTH_FORMAT and status != "503":  # RFC 6749 §5.2's body
                assert schema == {"$ref": "#/components/schemas/OAuthError"}, (key, status)
                continue
            assert schema == {"$ref": ERROR_REF}, (key, status)
    assert count > 0


def test_retry_after_on_429_and_503(spec):
    for key, operation in operations(spec).items():
        for status, response in operation["responses"].items():
            if status in ("429", "503"):
                header = resolve(spec, resolve(spec, response)["headers"]["Retry-After"])
                assert header["schema"]["type"] == "integer", key
                if status == "429" and response != {"$ref": USAGE_REFUSED_REF}:
                    # a usage refusal has no Retry-After when credits never refill
                    assert header["required"] is True, key


def test_error_examples_match_the_error_schema(spec):
    for name, response in spec["components"]["responses"].items():
        content = response.get("content", {}).get(JSON, {})
        if content.get("schema") != {"$ref": ERROR_REF}:
            continue
        examples = [content["example"]] if "example" in content else []
        examples += [example["value"] for example in content.get("examples", {}).values()]
        assert examples, f"{name} shows an example"
        for example in examples:
            assert_matches(spec, "Error", example)


def error_instances() -> list[errors.GatekeyError]:
    instances: list[errors.GatekeyError] = []
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if not issubclass(cls, errors.GatekeyError):
            continue
        if cls is errors.Throttled:
            instances.append(cls(retry_after=60))
        elif cls is errors.ValidationFailed:
            try:
                models.CreateKeyRequest.model_validate({"handle": "no spaces", "color": 1})
            except pydantic.ValidationError as exc:
                instances.append(cls(validation_entries(exc)))
        else:
            # any other required argument (the ended session of SessionUsedElsewhere)
            # plays no part in the body
            required = [
                parameter
                for parameter in inspect.signature(cls).parameters.values()
                if parameter.default is inspect.Parameter.empty
                and parameter.kind is not inspect.Parameter.VAR_KEYWORD
                and parameter.kind is not inspect.Parameter.VAR_POSITIONAL
            ]
            instances.append(cls(*[None] * len(required)))
    return instances


@pytest.mark.parametrize("error", error_instances(), ids=lambda error: type(error).__name__)
def test_every_error_the_layer_raises_matches_the_error_schema(spec, error):
    assert_matches(spec, "Error", error.body())


def test_gateway_responses_of_the_template_match_the_error_schema(spec, template):
    substitutions = {
        "$context.authorizer.error_code": "invalid_token",
        "$context.authorizer.error_detail": "The provided token is expired or invalid.",
        "$context.authorizer.error_extra": '{"retry_after":12}',  # JSON text, as it is
        # API Gateway substitutes a JSON string literal, quotes included
        "$context.error.messageString": '"Missing Authentication Token"',
    }
    responses = template.apis["GatekeyApi"].gateway_responses
    assert responses
    for name, response in responses.items():
        body = response.templates["application/json"]
        for placeholder, value in substitutions.items():
            body = body.replace(placeholder, value)
        assert_matches(spec, "Error", json.loads(body))
        assert "$context" not in body, name


# --- the handlers: success statuses and request bodies -----------------------------------


@dataclass
class Handler:
    statuses: set[int]
    model: str | None
    allow_form: bool
    oauth_form: bool = False  # an OAuth route: RFC 6749 form parameters (oauth/endpoints.py)


def normalized(path: str) -> str:
    """A path with its parameters unnamed: `/user/keys/{}` for `<handle>` and `{handle}`."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def handlers() -> dict[tuple[str, str], Handler]:
    """What each functions/*/app.py route returns and parses, read from its source."""
    found: dict[tuple[str, str], Handler] = {}
    for source in sorted(FUNCTIONS.glob("*/app.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            routes = [
                (decorator.func.attr.upper(), normalized(decorator.args[0].value))
                for decorator in node.decorator_list
                if isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and isinstance(decorator.func.value, ast.Name)
                and decorator.func.value.id == "app"
                and decorator.func.attr in METHODS
            ]
            if not routes:
                continue
            handler = Handler(statuses=set(), model=None, allow_form=False)
            for call in ast.walk(node):
                if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
                    continue
                name = call.func.id
                if name in ("json_response", "empty_response"):
                    handler.statuses.add(ast.literal_eval(call.args[0]))
                elif name == "Response":
                    (status,) = [kw.value for kw in call.keywords if kw.arg == "status_code"]
                    handler.statuses.add(ast.literal_eval(status))
                elif name in ("parse_form", "_form"):
                    handler.oauth_form = True
                elif name == "parse_body":
                    assert isinstance(call.args[1], ast.Name)
                    handler.model = call.args[1].id
                    handler.allow_form = any(
                        kw.arg == "allow_form" and ast.literal_eval(kw.value) is True
                        for kw in call.keywords
                    )
            assert handler.statuses, f"{source}: {node.name} returns no literal status"
            for route in routes:
                found[route] = handler
    return found


def test_success_statuses_are_those_the_handlers_return(spec):
    found = handlers()
    for (method, path), operation in operations(spec).items():
        handler = found[(method, normalized(path))]
        documented = {int(status) for status in operation["responses"] if status.startswith("2")}
        assert documented == handler.statuses, (method, path)


def test_request_bodies_are_the_models_the_handlers_parse(spec):
    found = handlers()
    for (method, path), operation in operations(spec).items():
        handler = found[(method, normalized(path))]
        if handler.oauth_form:
            body = resolve(spec, operation["requestBody"])
            assert set(body["content"]) == {FORM}, (method, path)
            assert "400" in operation["responses"], f"{method} {path} parses a form"
            continue
        if handler.model is None:
            assert "requestBody" not in operation, (method, path)
            continue
        body = resolve(spec, operation["requestBody"])
        ref = {"$ref": f"#/components/schemas/{handler.model}"}
        expected_types = {JSON, FORM} if handler.allow_form else {JSON}
        assert set(body["content"]) == expected_types, (method, path)
        for media in body["content"].values():
            assert media["schema"] == ref, (method, path)
        model = getattr(models, handler.model)
        # required exactly when the server refuses an empty body (a required field, or
        # "at least one of" as in UpdateUserRequest)
        refuses_empty = not server_accepts(model, {})
        assert body.get("required", False) is refuses_empty, (method, path)
        assert "400" in operation["responses"], f"{method} {path} parses a body"


# --- (5) request schemas agree with the pydantic models ----------------------------------

# A field the model declares only to refuse it; the spec leaves it out of `properties`
# and forbids unknown fields instead.
REFUSED_FIELDS = {"UpdateKeyRequest": {"expires_at"}}
# New passwords: the model bounds them loosely and the handler applies the password rule
# (its own codes on `attr` `password`); the spec states the rule's bounds.
RULE_PASSWORDS = {
    "CreateUserRequest": "password",
    "PasswordResetConfirm": "new_password",
    "ChangePasswordRequest": "new_password",
}
CONSTRAINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "enum",
    "const",
    "multipleOf",
)


def request_models() -> list[type[pydantic.BaseModel]]:
    return [
        cls
        for _, cls in inspect.getmembers(models, inspect.isclass)
        if issubclass(cls, pydantic.BaseModel)
        and cls is not pydantic.BaseModel
        and cls is not models.StrictModel
        and cls.__module__ == models.__name__
    ]


def test_request_models_never_coerce_types():
    for model in request_models():
        assert issubclass(model, models.StrictModel), model.__name__
        assert model.model_config.get("strict") is True, model.__name__


def field_shape(schema: dict[str, Any]) -> dict[str, Any]:
    """Types, constraints and default of a property, however the nulls are spelled."""
    branches = schema.get("anyOf", [schema])
    types: set[str] = set()
    constraints: dict[str, Any] = {}
    for branch in branches:
        kind = branch.get("type")
        types.update([kind] if isinstance(kind, str) else kind or [])
        for keyword in CONSTRAINTS:
            if keyword in branch:
                assert constraints.get(keyword, branch[keyword]) == branch[keyword]
                constraints[keyword] = branch[keyword]
    shape = {"types": types, **constraints}
    if "default" in schema:
        shape["default"] = schema["default"]
    return shape


@pytest.mark.parametrize("model", request_models(), ids=lambda model: model.__name__)
def test_request_schema_mirrors_the_model(spec, model):
    expected = model.model_json_schema()
    documented = spec["components"]["schemas"][model.__name__]
    refused = REFUSED_FIELDS.get(model.__name__, set())
    assert documented["type"] == "object"
    assert set(documented.get("required", [])) == set(expected.get("required", []))
    assert documented.get("additionalProperties", True) == expected.get(
        "additionalProperties", True
    )
    assert set(documented["properties"]) == set(expected["properties"]) - refused
    for name, field in documented["properties"].items():
        shape = field_shape(expected["properties"][name])
        if RULE_PASSWORDS.get(model.__name__) == name:
            shape.update(minLength=passwords.MIN_LENGTH, maxLength=passwords.MAX_LENGTH)
        assert field_shape(field) == shape, name


def server_accepts(model: type[pydantic.BaseModel], body: dict[str, Any]) -> bool:
    """What the handler lets through: the model, plus the checks the handler adds."""
    try:
        parsed = model.model_validate(body)
        if isinstance(parsed, models.CreateKeyRequest):
            resolve_expiry(parsed.expires_at, parsed.expires_in_days)
        new_password = getattr(parsed, RULE_PASSWORDS.get(model.__name__, ""), None)
        if new_password is not None:
            passwords.check_password_rule(new_password, None)
    except (pydantic.ValidationError, errors.ValidationFailed):
        return False
    return True


LONG_EMAIL = "a" * 310 + "@example.c"  # 320 characters
GOOD = "violet stapler orbit"  # follows the password rule
BODIES = [
    # (model, body, accepted)
    (models.LoginRequest, {"email": "ada@example.com", "password": "pw"}, True),
    (models.LoginRequest, {"email": "a@b", "password": "x", "account_id": None}, True),
    (models.LoginRequest, {"email": "a@b", "password": "x", "account_id": "acct"}, True),
    (models.LoginRequest, {"email": "ada@example.com", "password": "pw", "extra": 1}, True),
    (models.LoginRequest, {"email": LONG_EMAIL, "password": "x"}, True),
    (models.LoginRequest, {"email": LONG_EMAIL + "m", "password": "x"}, False),
    (models.LoginRequest, {"email": "ada@example.com", "password": "x" * 1024}, True),
    (models.LoginRequest, {"email": "ada@example.com", "password": "x" * 1025}, False),
    (models.LoginRequest, {"email": "ada@example.com", "password": ""}, False),
    (models.LoginRequest, {"email": "ada example.com", "password": "pw"}, False),
    (models.LoginRequest, {"email": "a@b@c", "password": "pw"}, False),
    (models.LoginRequest, {"email": "ada@example.com"}, False),
    (models.LoginRequest, {"password": "pw"}, False),
    (models.LoginRequest, {"email": "a@b", "password": "x", "account_id": ""}, False),
    (models.LoginRequest, {"email": "a@b", "password": "x", "account_id": "a" * 65}, False),
    (models.LoginRequest, {"email": 12345, "password": "pw"}, False),
    (models.CreateKeyRequest, {"handle": "ci-deploy"}, True),
    (models.CreateKeyRequest, {"handle": "A.b_c-9" + "x" * 57}, True),
    (models.CreateKeyRequest, {"handle": "x" * 65}, False),
    (models.CreateKeyRequest, {"handle": ""}, False),
    (models.CreateKeyRequest, {"handle": "has space"}, False),
    (models.CreateKeyRequest, {"handle": "slash/no"}, False),
    (models.CreateKeyRequest, {}, False),
    (models.CreateKeyRequest, {"handle": "k", "type": "jwt", "alias": "a" * 128}, True),
    (models.CreateKeyRequest, {"handle": "k", "alias": "a" * 129}, False),
    (models.CreateKeyRequest, {"handle": "k", "alias": None, "type": "token"}, True),
    (models.CreateKeyRequest, {"handle": "k", "type": "hmac"}, False),
    (models.CreateKeyRequest, {"handle": "k", "type": None}, False),
    (models.CreateKeyRequest, {"handle": "k", "expires_in_days": 1}, True),
    (models.CreateKeyRequest, {"handle": "k", "expires_in_days": 36_500}, True),
    (models.CreateKeyRequest, {"handle": "k", "expires_in_days": 0}, False),
    (models.CreateKeyRequest, {"handle": "k", "expires_in_days": 36_501}, False),
    (models.CreateKeyRequest, {"handle": "k", "expires_in_days": 1.5}, False),
    (models.CreateKeyRequest, {"handle": "k", "expires_at": "2999-01-01T00:00:00Z"}, True),
    (
        models.CreateKeyRequest,
        {"handle": "k", "expires_at": "2999-01-01T00:00:00" + "0" * 46},
        False,
    ),
    (
        models.CreateKeyRequest,
        {"handle": "k", "expires_at": "2999-01-01T00:00:00Z", "expires_in_days": 3},
        False,
    ),
    (models.CreateKeyRequest, {"handle": "k", "expires_at": None, "expires_in_days": 3}, True),
    (
        models.CreateKeyRequest,
        {"handle": "k", "expires_at": "2999-01-01T00:00:00+02:00", "expires_in_days": None},
        True,
    ),
    # RFC 3339 date-times only (format: date-time)
    (models.CreateKeyRequest, {"handle": "k", "expires_at": "2999-01-01"}, False),
    (models.CreateKeyRequest, {"handle": "k", "expires_at": "2999-01-01T00:00:00"}, False),
    (models.CreateKeyRequest, {"handle": "k", "expires_at": "soon"}, False),
    (models.CreateKeyRequest, {"handle": "k", "color": "red"}, False),
    (models.UpdateKeyRequest, {}, True),
    (models.UpdateKeyRequest, {"alias": "nightly"}, True),
    (models.UpdateKeyRequest, {"alias": None}, True),
    (models.UpdateKeyRequest, {"alias": "a" * 129}, False),
    (models.UpdateKeyRequest, {"expires_at": "2999-01-01T00:00:00Z"}, False),
    (models.UpdateKeyRequest, {"expires_at": None}, False),
    (models.UpdateKeyRequest, {"alias": "x", "handle": "y"}, False),
    (models.RotateKeyRequest, {}, True),
    (models.RotateKeyRequest, {"grace_seconds": 0}, True),
    (models.RotateKeyRequest, {"grace_seconds": 86_400}, True),
    (models.RotateKeyRequest, {"grace_seconds": 86_401}, False),
    (models.RotateKeyRequest, {"grace_seconds": -1}, False),
    (models.RotateKeyRequest, {"grace_seconds": None}, False),
    (models.RotateKeyRequest, {"grace_seconds": 60, "now": True}, False),
    # types are never coerced (issue 23)
    (models.RotateKeyRequest, {"grace_seconds": False}, False),
    (models.RotateKeyRequest, {"grace_seconds": True}, False),
    (models.RotateKeyRequest, {"grace_seconds": "60"}, False),
    (models.CreateKeyRequest, {"handle": "k", "expires_in_days": "30"}, False),
    (models.CreateKeyRequest, {"handle": "k", "expires_in_days": True}, False),
    (models.CreateKeyRequest, {"handle": 12}, False),
    (models.CreateBotRequest, {"name": 7}, False),
    (models.LoginRequest, {"email": "a@b", "password": 1234567890}, False),
    (models.RevokeRequest, {"token": 5}, False),
    (models.CreateBotRequest, {"name": "nightly-report"}, True),
    (models.CreateBotRequest, {"name": "é" * 64}, True),
    (models.CreateBotRequest, {"name": "é" * 65}, False),
    (models.CreateBotRequest, {"name": ""}, False),
    (models.CreateBotRequest, {}, False),
    (models.CreateBotRequest, {"name": "bot", "admin": True}, False),
    (models.RevokeRequest, {"token": "gk_x"}, True),
    (models.RevokeRequest, {"token": "t", "token_type_hint": "refresh_token"}, True),
    (models.RevokeRequest, {"token": "t", "token_type_hint": None}, True),
    (models.RevokeRequest, {"token": "t", "client_id": "ignored"}, True),
    (models.RevokeRequest, {"token": "t" * 4096}, True),
    (models.RevokeRequest, {"token": "t" * 4097}, False),
    (models.RevokeRequest, {"token": ""}, False),
    (models.RevokeRequest, {"token": None}, False),
    (models.RevokeRequest, {"token": "t", "token_type_hint": "h" * 65}, False),
    (models.RevokeRequest, {}, False),
    (models.LeakReport, {"credentials": ["gk_x"]}, True),
    (models.LeakReport, {"credentials": ["t" * 4096] * 100}, True),
    (models.LeakReport, {"credentials": ["t"] * 101}, False),
    (models.LeakReport, {"credentials": []}, False),
    (models.LeakReport, {"credentials": [""]}, False),
    (models.LeakReport, {"credentials": ["t" * 4097]}, False),
    (models.LeakReport, {"credentials": "gk_x"}, False),
    (models.LeakReport, {"credentials": [7]}, False),
    (models.LeakReport, {"credentials": ["gk_x"], "source": "github"}, False),
    (models.LeakReport, {}, False),
    # user administration (part A)
    (models.CreateUserRequest, {"email": "grace@example.com"}, True),
    (models.CreateUserRequest, {"email": "g@x", "role": "admin", "password": GOOD}, True),
    (models.CreateUserRequest, {"email": "g@x", "password": "p" * 9 + "q"}, True),
    (models.CreateUserRequest, {"email": "g@x", "password": "short-pw"}, False),
    (models.CreateUserRequest, {"email": "g@x", "password": "x" * 257}, False),
    (models.CreateUserRequest, {"email": "g@x", "password": 1234567890}, False),
    (models.CreateUserRequest, {"email": "g@x", "password": None}, True),
    (models.CreateUserRequest, {"email": LONG_EMAIL}, True),
    (models.CreateUserRequest, {"email": LONG_EMAIL + "m"}, False),
    (models.CreateUserRequest, {"email": "g@x", "password": "x" * 1025}, False),
    (models.CreateUserRequest, {"email": "g@x", "password": ""}, False),
    (models.CreateUserRequest, {"email": "g@x", "role": "owner"}, False),
    (models.CreateUserRequest, {"email": "g@x", "role": None}, False),
    (models.CreateUserRequest, {"email": "not an email"}, False),
    (models.CreateUserRequest, {"email": "g@x", "admin": True}, False),
    (models.CreateUserRequest, {}, False),
    (models.UpdateUserRequest, {"role": "admin"}, True),
    (models.UpdateUserRequest, {"disabled": True}, True),
    (models.UpdateUserRequest, {"role": "member", "disabled": False}, True),
    (models.UpdateUserRequest, {"role": None, "disabled": False}, True),
    (models.KeyPolicyRequest, {}, True),
    (models.KeyPolicyRequest, {"max_key_lifetime_days": 366, "key_idle_days": 90}, True),
    (models.KeyPolicyRequest, {"max_key_lifetime_days": None, "key_idle_days": 3650}, True),
    (models.KeyPolicyRequest, {"max_key_lifetime_days": 1}, True),
    (models.KeyPolicyRequest, {"max_key_lifetime_days": 0}, False),
    (models.KeyPolicyRequest, {"key_idle_days": 3651}, False),
    (models.KeyPolicyRequest, {"key_idle_days": "90"}, False),
    (models.KeyPolicyRequest, {"key_idle_days": 1.5}, False),
    (models.KeyPolicyRequest, {"max_days": 30}, False),
    (models.UpdateUserRequest, {}, False),
    (models.UpdateUserRequest, {"role": None}, False),
    (models.UpdateUserRequest, {"role": None, "disabled": None}, False),
    (models.UpdateUserRequest, {"role": "owner"}, False),
    (models.UpdateUserRequest, {"disabled": 1}, False),
    (models.UpdateUserRequest, {"disabled": "true"}, False),
    (models.UpdateUserRequest, {"disabled": True, "email": "g@x"}, False),
    # passwords and MFA (part B)
    (models.LoginRequest, {"email": "a@b", "password": "x", "totp": "123456"}, True),
    (models.LoginRequest, {"email": "a@b", "password": "x", "recovery_code": "ab-cd"}, True),
    (models.LoginRequest, {"email": "a@b", "password": "x", "totp": None}, True),
    (models.LoginRequest, {"email": "a@b", "password": "x", "totp": "1" * 17}, False),
    (models.LoginRequest, {"email": "a@b", "password": "x", "recovery_code": "r" * 65}, False),
    (models.PasswordResetRequest, {"email": "ada@example.com"}, True),
    (models.PasswordResetRequest, {"email": "a@b", "account_id": "acct"}, True),
    (models.PasswordResetRequest, {"email": "a@b", "account_id": ""}, False),
    (models.PasswordResetRequest, {"email": "not an email"}, False),
    (models.PasswordResetRequest, {"email": "a@b", "password": "x"}, False),
    (models.PasswordResetRequest, {}, False),
    (models.PasswordResetConfirm, {"token": "t", "new_password": GOOD}, True),
    (models.PasswordResetConfirm, {"token": "t", "new_password": "p"}, False),
    (models.PasswordResetConfirm, {"token": "t", "new_password": ""}, False),
    (models.PasswordResetConfirm, {"token": "t" * 513, "new_password": "p"}, False),
    (models.PasswordResetConfirm, {"token": "", "new_password": "p"}, False),
    (models.PasswordResetConfirm, {"token": "t", "new_password": "p" * 1025}, False),
    (models.PasswordResetConfirm, {"token": "t"}, False),
    (models.ChangePasswordRequest, {"current_password": "a", "new_password": GOOD}, True),
    (models.ChangePasswordRequest, {"current_password": "a", "new_password": "b"}, False),
    (models.ChangePasswordRequest, {"current_password": "", "new_password": "b"}, False),
    (models.ChangePasswordRequest, {"current_password": "a"}, False),
    (models.ChangePasswordRequest, {"current_password": "a", "new_password": "b", "x": 1}, False),
    (models.TotpEnrolRequest, {"password": "p"}, True),
    (models.TotpEnrolRequest, {}, False),
    (models.TotpEnrolRequest, {"password": ""}, False),
    (models.TotpEnrolRequest, {"password": "x" * 1025}, False),
    (models.TotpConfirmRequest, {"code": "123456", "password": "p"}, True),
    (models.TotpConfirmRequest, {"code": "123456"}, False),
    (models.TotpConfirmRequest, {"code": "", "password": "p"}, False),
    (models.TotpConfirmRequest, {"code": "1" * 17, "password": "p"}, False),
    (models.TotpConfirmRequest, {"code": 123456, "password": "p"}, False),
    (models.DisableMfaRequest, {"password": "p", "code": "abcde-fghjk"}, True),
    (models.DisableMfaRequest, {"password": "p"}, False),
    (models.DisableMfaRequest, {"password": "", "code": "123456"}, False),
    (models.DisableMfaRequest, {"password": "p", "code": "c" * 65}, False),
    # usage rules (contract section 9)
    (models.RateLimit, {"limit": 1, "window_seconds": 1}, True),
    (models.RateLimit, {"limit": 1_000_000, "window_seconds": 2_592_000}, True),
    (models.RateLimit, {"limit": 0, "window_seconds": 60}, False),
    (models.RateLimit, {"limit": 1_000_001, "window_seconds": 60}, False),
    (models.RateLimit, {"limit": 10, "window_seconds": 2_592_001}, False),
    (models.RateLimit, {"limit": 10}, False),
    (models.RateLimit, {"limit": "10", "window_seconds": 60}, False),
    (models.Refill, {"interval": "daily", "amount": 1}, True),
    (models.Refill, {"interval": "weekly", "amount": 1}, False),
    (models.Refill, {"interval": "monthly", "amount": 0}, False),
    (models.Credits, {"remaining": 0}, True),
    (models.Credits, {"remaining": 10**9, "refill": None}, True),
    (models.Credits, {"remaining": 10**9 + 1}, False),
    (models.Credits, {"remaining": -1}, False),
    (models.Credits, {"refill": {"interval": "daily", "amount": 5}}, False),
    (models.UsageRules, {"meta": {"tier": "gold", "seats": 5, "beta": True, "ratio": 0.5}}, True),
    (models.UsageRules, {"meta": None, "allowed_ips": None}, True),
    (models.UsageRules, {"allowed_ips": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]}, True),
    (models.UsageRules, {"meta": {"nested": {"a": 1}}}, False),
    (models.UsageRules, {"meta": {"list": [1]}}, False),
    (models.UsageRules, {"meta": {"none": None}}, False),
    (models.UsageRules, {"meta": "text"}, False),
    (models.UsageRules, {"allowed_ips": ["10.0.0.0/8"] * 21}, False),
    (models.UsageRules, {"allowed_ips": [1]}, False),
    (
        models.CreateKeyRequest,
        {"handle": "m", "ratelimit": {"limit": 5, "window_seconds": 1}},
        True,
    ),
    (models.CreateKeyRequest, {"handle": "m", "credits": {"remaining": 5, "refill": None}}, True),
    (models.CreateKeyRequest, {"handle": "m", "ratelimit": {"limit": 5}}, False),
    (models.UpdateKeyRequest, {"ratelimit": None, "credits": None, "meta": None}, True),
    (
        models.UpdateKeyRequest,
        {"credits": {"remaining": 1, "refill": {"interval": "monthly", "amount": 9}}},
        True,
    ),
    (models.UpdateKeyRequest, {"allowed_ips": "10.0.0.0/8"}, False),
    (models.CreateBotRequest, {"name": "b", "allowed_ips": ["10.0.0.0/8"]}, True),
    (models.CreateBotRequest, {"name": "b", "credits": {"remaining": -5}}, False),
]


@pytest.mark.parametrize(
    ("model", "body", "accepted"),
    BODIES,
    ids=[f"{model.__name__}-{index}" for index, (model, _, _) in enumerate(BODIES)],
)
def test_schema_and_model_accept_and_reject_alike(spec, model, body, accepted):
    assert server_accepts(model, body) is accepted, "the example itself is wrong"
    assert schema_accepts(spec, model.__name__, body) is accepted


def test_request_examples_are_valid_bodies(spec):
    shown = 0
    for key, operation in operations(spec).items():
        for media in resolve(spec, operation.get("requestBody", {})).get("content", {}).values():
            if "example" in media:
                shown += 1
                name = media["schema"]["$ref"].rsplit("/", 1)[1]
                assert schema_accepts(spec, name, media["example"]), key
                assert server_accepts(getattr(models, name), media["example"]), key
    assert shown > 0


def test_every_model_has_accepted_and_rejected_examples():
    for model in request_models():
        outcomes = {accepted for example, _, accepted in BODIES if example is model}
        assert outcomes == {True, False}, model.__name__


# --- response schemas agree with what the layer returns ----------------------------------

KEYRING = Keyring.parse(json.dumps({"current": "k1", "k1": "0123456789abcdef" * 4}))
ACCOUNT_ID = str(uuid.uuid4())
NOW = clock.now()


def user_item(**changes: Any) -> dict[str, Any]:
    return {
        "user_id": str(uuid.uuid4()),
        "account_id": ACCOUNT_ID,
        "email": "ada@example.com",
        "role": "admin",
        "is_bot": False,
        "password_hash": None,
        "created_at": NOW,
        **changes,
    }


def a_key(key_type: str, **changes: Any) -> ApiKey:
    item = {
        "key_id": str(uuid.uuid4()),
        "user_id": str(uuid.uuid4()),
        "account_id": ACCOUNT_ID,
        "handle": "ci-deploy",
        "role": "member",
        "alias": None,
        "type": key_type,
        "created_at": NOW,
        "expires_at": None,
        "last_used_at": None,
        "version": 3,
        "secret_kid": "k1",
        **changes,
    }
    return ApiKey.from_item(item)


KEY_VARIANTS = [
    {},
    {"alias": "CI", "expires_at": NOW + 86_400, "last_used_at": NOW - 5},
]


@pytest.mark.parametrize("changes", KEY_VARIANTS)
@pytest.mark.parametrize("key_type", ["token", "jwt"])
def test_key_views_match_their_schemas(spec, key_type, changes):
    key = a_key(key_type, **changes)
    listed = key_view(key)
    with_credential = key_view(key, KEYRING)
    assert_matches(spec, "Key", listed)
    assert_matches(spec, "KeyWithCredential", with_credential)
    assert_matches(spec, "KeyList", {"keys": [listed]})
    assert not schema_accepts(spec, "Key", with_credential), "lists never show credentials"
    assert not schema_accepts(spec, "KeyWithCredential", listed)
    for ref in ({"owner_name": None}, {"owner_name": "nightly"}):
        view = account_key_view(key, ref)
        assert_matches(spec, "AccountKey", view)
        assert_matches(spec, "AccountKeyPage", {"keys": [view], "cursor": None})


@pytest.mark.parametrize(
    "changes",
    [{"expires_at": NOW - 1}, {"idle_days": 1, "created_at": NOW - 86_400}, {"disabled": True}],
)
def test_every_key_status_is_documented(spec, changes):
    assert_matches(spec, "Key", key_view(a_key("token", **changes)))
    assert_matches(spec, "KeyPolicy", policy_view(KeyPolicy(366, None, 2)))


def test_credential_patterns_match_real_credentials(spec):
    for version in range(1, 50):
        key_id = str(uuid.uuid4())
        token = key_tokens.make_token(KEYRING, key_id=key_id, version=version, secret_kid="k1")
        secret = key_tokens.make_client_secret(
            KEYRING, key_id=key_id, version=version, secret_kid="k1"
        )
        assert_matches(spec, "ApiKeyToken", token)
        assert_matches(spec, "ClientSecret", secret)
    assert not schema_accepts(spec, "ApiKeyToken", token[:-1])
    assert not schema_accepts(spec, "ClientSecret", token)


def test_account_users_and_audit_events_match_their_schemas(spec):
    from gatekey.accounts import audit
    from gatekey.accounts.user_admin import user_view

    admin = user_view(User.from_item(user_item(last_login_at=NOW, mfa_enabled=True)))
    bot = user_view(
        User.from_item(user_item(email=None, role="member", is_bot=True, disabled=True))
    )
    assert_matches(spec, "AccountUserList", {"users": [admin, bot]})
    assert_matches(spec, "AccountUserResponse", {"user": admin})
    principal = Principal(
        user_id=str(uuid.uuid4()),
        account_id=ACCOUNT_ID,
        email="ada@example.com",
        role="admin",
        is_bot=False,
        token_type="api_key",
        key_handle="ci-deploy",
    )
    meta = audit.RequestMeta(ip="203.0.113.9", user_agent="curl/8.5")
    events = [
        audit.new_event(
            ACCOUNT_ID, action, actor=principal, target=("key", "ci"), meta=meta, retention_days=1
        )
        for action in audit.ACTIONS
    ]
    events.append(
        audit.new_event(
            ACCOUNT_ID,
            audit.LOGIN_FAILURE,
            actor=audit.Actor(None),
            target=("user", str(uuid.uuid4())),
            outcome=audit.FAILURE,
            retention_days=1,
        )
    )
    page = {"events": [audit.event_view(event) for event in events], "cursor": None}
    assert_matches(spec, "AuditPage", page)
    page["cursor"] = audit.encode_cursor(events[0])
    assert_matches(spec, "AuditPage", page)
    documented = spec["components"]["schemas"]["AuditAction"]["enum"]
    assert documented == list(audit.ACTIONS)


def test_users_and_bots_match_their_schemas(spec):
    assert_matches(spec, "User", public_user(User.from_item(user_item())))
    bot = User.from_item(user_item(email=None, role="member", is_bot=True, name="nightly"))
    assert_matches(spec, "User", public_user(bot))
    token = key_view(a_key("token"), KEYRING)["token"]
    created = {**bot_view(bot), "scopes": ["gatekey:keys", "ci:deploy"]}
    assert_matches(spec, "BotWithToken", {"bot": created, "token": token})
    assert not schema_accepts(spec, "BotWithToken", {"bot": bot_view(bot), "token": token}), (
        "create and regenerate give the token's scopes"
    )
    assert_matches(spec, "BotList", {"bots": [bot_view(bot)]})
    assert not schema_accepts(spec, "Bot", public_user(bot)), "a bot has its name"


class FakeStore:
    """Just enough of the store for a login and a session list."""

    def __init__(self, user: dict[str, Any]) -> None:
        self.user = user
        self.sessions: list[Session] = []

    def reserve_login_attempt(self, email: str, **_: Any) -> dict[str, Any]:
        return {"failures": 1}

    def clear_login_failures(self, email: str) -> None:
        return None

    def find_user_ids_by_email(self, email: str) -> dict[str, str]:
        return (
            {self.user["account_id"]: self.user["user_id"]} if email == self.user["email"] else {}
        )

    def get_user(self, user_id: str) -> User | None:
        return User.from_item(self.user) if user_id == self.user["user_id"] else None

    def put_session(self, session: Session) -> Session:
        self.sessions.append(session)
        return session

    def open_session(self, session: Session, **_: Any) -> Session:
        return self.put_session(session)

    def list_sessions(self, user_id: str) -> list[Session]:
        return [session for session in self.sessions if session.user_id == user_id]

    signing_keys: dict[str, Any] | None = None

    def get_signing_keys(self) -> dict[str, Any] | None:
        return self.signing_keys

    def put_signing_keys(self, document: dict[str, Any]) -> None:
        self.signing_keys = document


def test_login_refresh_and_sessions_match_their_schemas(spec, tmp_path):
    from gatekey.oauth.discovery import publish
    from gatekey.tokens.local_kms import LocalKms

    user = user_item(password_hash=hash_password("correct horse"))
    store = FakeStore(user)
    kms, key_arn = LocalKms(tmp_path), f"arn:aws:kms:us-east-1:123456789012:key/{uuid.uuid4()}"
    kms.create_key(key_arn)
    publish(store, kms, key_arns=[key_arn], current_key_arn=key_arn, issuer="http://127.0.0.1")
    sessions = SessionService(store, KEYRING, Settings(), kms)  # type: ignore[arg-type]
    result = sessions.login("Ada@example.com", "correct horse", None, "pytest")
    assert_matches(spec, "LoginResponse", result)
    assert_matches(spec, "RefreshResponse", sessions.refresh(store.sessions[0]))

    sessions.login("ada@example.com", "correct horse", None, "")
    principal = Principal(
        user_id=user["user_id"],
        account_id=ACCOUNT_ID,
        email=user["email"],
        role="admin",
        is_bot=False,
        token_type=SESSION,
        session_id=store.sessions[0].session_id,
    )
    listed = RevocationService(store, None).list_sessions(principal)  # type: ignore[arg-type]
    assert len(listed["sessions"]) == 2
    assert_matches(spec, "SessionList", listed)


def test_timestamps_and_ids_are_strict(spec):
    assert_matches(spec, "Timestamp", clock.iso(NOW))
    assert not schema_accepts(spec, "Timestamp", "2026-11-22T03:54:51+00:00")
    assert not schema_accepts(spec, "Timestamp", "2026-11-22T03:54:51.5Z")
    assert_matches(spec, "NullableTimestamp", None)
    assert_matches(spec, "Uuid", str(uuid.uuid4()))
    assert not schema_accepts(spec, "Uuid", "not-a-uuid")


def test_password_and_mfa_answers_match_their_schemas(spec):
    import pyotp

    from gatekey.accounts import mfa

    secret = mfa.derive_secret(KEYRING, str(uuid.uuid4()), "nonce", "k1")
    uri = pyotp.TOTP(secret).provisioning_uri(name="ada@example.com", issuer_name=mfa.ISSUER)
    assert_matches(spec, "TotpEnrolment", {"secret": secret, "otpauth_uri": uri})
    assert_matches(spec, "RecoveryCodes", {"recovery_codes": mfa.new_recovery_codes()})
    assert not schema_accepts(spec, "RecoveryCodes", {"recovery_codes": ["abcde-fghjk"]})
    assert_matches(spec, "PasswordResetResult", {"password_reset": True, "sessions_ended": 3})
    assert_matches(spec, "PasswordChanged", {"password_changed": True, "sessions_ended": 0})
    assert_matches(spec, "User", public_user(User.from_item(user_item(mfa_enabled=True))))


def test_gateway_responses_carry_the_handlers_headers(template):
    """A gateway-made answer is JSON and never cached, like a handler's (issue 23)."""
    responses = template.apis["GatekeyApi"].gateway_responses
    for name, response in responses.items():
        assert set(response.templates) == {JSON}, name
        assert response.headers.get("Cache-Control") == "'no-store'", name
