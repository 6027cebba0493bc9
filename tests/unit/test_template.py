"""The template loader, read against the real template.yaml and small inline templates."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gatekey_local.cloudformation import TemplateError, load_yaml
from gatekey_local.sam_model import JwtAuthorizer, effective_authorizer, effective_jwt_authorizer
from gatekey_local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
CONSUMER = TEMPLATE.parent / "examples" / "consumer" / "template.yaml"


@pytest.fixture(scope="module")
def template():
    return load_template(TEMPLATE, table_name="local-table")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# the real template


def test_public_and_guarded_routes(template):
    api = template.apis["GatekeyApi"]
    guards = {
        (route.method, route.path): effective_authorizer(route, api) for route in template.routes
    }
    assert guards[("POST", "/auth/login")] is None
    assert guards[("GET", "/auth/refresh-token")] is None
    assert guards[("HEAD", "/")] is None, "gazu's host_is_up(): no credentials"
    for guarded in [("GET", "/"), ("GET", "/auth/authenticated"), ("GET", "/user")]:
        authorizer = guards[guarded]
        assert authorizer is not None and authorizer.name == "GatekeyAuthorizer"


def test_every_route_has_a_local_handler(template):
    for route in template.routes:
        function = template.functions[route.function_id]
        module, _, _ = function.source.handler.rpartition(".")
        assert (function.source.code_dir / f"{module}.py").is_file(), route


def test_no_route_is_declared_twice(template):
    keys = [(route.method, route.path.rstrip("/")) for route in template.routes]
    assert len(keys) == len(set(keys))


def test_authorizer_is_a_request_authorizer_on_authorization_and_user_agent(template):
    authorizer = template.apis["GatekeyApi"].authorizers["GatekeyAuthorizer"]
    assert authorizer.function_id == "AuthorizerFunction"
    assert authorizer.payload_type == "REQUEST"
    assert authorizer.identity_headers == ("Authorization", "User-Agent")
    assert authorizer.identity_context == ("identity.sourceIp",), "cached per address"
    assert authorizer.ttl_seconds == 60


def test_gatekey_api_asks_the_authorizer_to_pass_refusals_to_its_handlers(template):
    api = template.apis["GatekeyApi"]
    assert api.stage_variables["gatekeyRefusalsToBackend"] == "true"
    denied = api.gateway_responses["ACCESS_DENIED"]
    assert denied.status_code == 401
    assert '"extra": $context.authorizer.error_extra}' in denied.templates["application/json"]


def test_authorizer_cache_follows_its_parameter():
    template = load_template(TEMPLATE, {"AuthorizerCacheSeconds": "0"})
    assert template.apis["GatekeyApi"].authorizers["GatekeyAuthorizer"].ttl_seconds == 0
    assert (
        template.functions["AuthorizerFunction"].environment["GATEKEY_AUTHORIZER_CACHE_SECONDS"]
        == "0"
    )


def test_gateway_responses(template):
    responses = template.apis["GatekeyApi"].gateway_responses
    assert responses["UNAUTHORIZED"].status_code == 401
    assert "not_authenticated" in responses["UNAUTHORIZED"].templates["application/json"]
    assert responses["ACCESS_DENIED"].status_code == 401
    assert (
        "$context.authorizer.error_code" in responses["ACCESS_DENIED"].templates["application/json"]
    )
    assert responses["MISSING_AUTHENTICATION_TOKEN"].status_code == 404
    assert responses["DEFAULT_5XX"].status_code is None
    assert "$context.error.messageString" in responses["DEFAULT_5XX"].templates["application/json"]


def test_stage_comes_from_the_parameter(template):
    assert template.apis["GatekeyApi"].stage_name == "v1"


def test_table_definition_for_create_table(template):
    table = template.table
    assert table is not None
    assert table.definition["BillingMode"] == "PAY_PER_REQUEST"
    assert table.definition["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (index,) = table.definition["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "gsi1"
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert {item["AttributeName"] for item in table.definition["AttributeDefinitions"]} == {
        "pk",
        "sk",
        "gsi1pk",
        "gsi1sk",
    }
    assert "SSESpecification" not in table.definition
    assert table.ttl_attribute == "ttl"


def test_function_environment_is_resolved_for_the_local_run(template):
    environment = template.functions["LoginFunction"].environment
    assert environment["GATEKEY_TABLE"] == "local-table"
    assert environment["GATEKEY_SESSION_IDLE_SECONDS"] == "2592000"
    assert environment["GATEKEY_BIND_USER_AGENT"] == "true"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "gatekey"
    assert "GATEKEY_SECRET_ARN" not in environment, "only AWS can resolve the secret's ARN"


def test_function_settings_come_from_globals_unless_overridden(template):
    assert template.functions["ConsoleFunction"].memory_mb == 256
    assert template.functions["AuthorizerFunction"].memory_mb == 512  # bench/cost.py's pick
    assert template.functions["LoginFunction"].memory_mb == 512
    assert template.functions["LoginFunction"].timeout_seconds == 10
    assert (
        template.functions["LoginFunction"].source.code_dir == TEMPLATE.parent / "functions/login"
    )


def test_settings_in_the_environment_override_their_parameters(template):
    overrides = template.parameter_overrides_from(
        {"GATEKEY_SESSION_IDLE_SECONDS": "60", "GATEKEY_PORT": "3001", "HOME": "/root"}
    )
    assert overrides == {"SessionIdleSeconds": "60"}
    resolved = load_template(TEMPLATE, overrides)
    assert resolved.functions["LoginFunction"].environment["GATEKEY_SESSION_IDLE_SECONDS"] == "60"


def test_unknown_parameter_is_refused():
    with pytest.raises(TemplateError, match="NoSuchParameter"):
        load_template(TEMPLATE, {"NoSuchParameter": "1"})


# short tags and intrinsic functions


def test_short_tags_become_long_form_intrinsics(tmp_path):
    document = load_yaml(
        write(
            tmp_path,
            """
            A: !Ref Thing
            B: !GetAtt Fn.Arn
            C: !Sub "${AWS::Region}-x"
            D: !Join [",", [a, b]]
            E: !If [Cond, x, y]
            F: !Select [0, !Split [",", "a,b"]]
            """,
        )
    )
    assert document == {
        "A": {"Ref": "Thing"},
        "B": {"Fn::GetAtt": ["Fn", "Arn"]},
        "C": {"Fn::Sub": "${AWS::Region}-x"},
        "D": {"Fn::Join": [",", ["a", "b"]]},
        "E": {"Fn::If": ["Cond", "x", "y"]},
        "F": {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]},
    }


def test_intrinsics_resolve_in_function_environment(tmp_path):
    path = write(
        tmp_path,
        """
        Parameters:
          Stage: {Type: String, Default: dev}
          Size: {Type: Number, Default: 3}
        Mappings:
          Sizes: {dev: {label: small}}
        Conditions:
          IsDev: !Equals [!Ref Stage, dev]
          IsBig: !Not [!Condition IsDev]
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.handler
              Environment:
                Variables:
                  SUB: !Sub "${Stage}-${AWS::Region}"
                  SUB_RESOURCE: !Sub "${Other}-queue"
                  SUB_VARS: !Sub ["${Name}!", {Name: !Ref Size}]
                  LITERAL: !Sub "${!NotAVariable}"
                  JOINED: !Join ["/", [!Ref Stage, b]]
                  PICKED: !Select [1, !Split [",", "a,b,c"]]
                  CHOSEN: !If [IsBig, big, !FindInMap [Sizes, !Ref Stage, label]]
                  FLAG: true
                  ARN: !GetAtt Other.Arn
                  IMPORTED: !ImportValue other-stack-value
          Other:
            Type: AWS::SQS::Queue
        """,
    )
    environment = load_template(path).functions["Fn"].environment
    assert environment == {
        "SUB": "dev-us-east-1",
        "SUB_VARS": "3!",
        "LITERAL": "${NotAVariable}",
        "JOINED": "dev/b",
        "PICKED": "b",
        "CHOSEN": "small",
        "FLAG": "true",
    }, "values only AWS can resolve (a queue's name, an ARN, an import) are left out"


def test_resources_whose_condition_is_false_are_left_out(tmp_path):
    path = write(
        tmp_path,
        """
        Parameters:
          WithExtra: {Type: String, Default: "no"}
        Conditions:
          Extra: !Equals [!Ref WithExtra, "yes"]
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Condition: Extra
            Properties: {CodeUri: fn/, Handler: app.handler}
        """,
    )
    assert load_template(path).functions == {}
    assert set(load_template(path, {"WithExtra": "yes"}).functions) == {"Fn"}


def test_token_authorizer_defaults_and_implicit_api(tmp_path):
    path = write(
        tmp_path,
        """
        Globals:
          Api:
            Auth:
              DefaultAuthorizer: Tok
              Authorizers:
                Tok:
                  FunctionArn: !Sub "${AuthFn.Arn}"
        Resources:
          AuthFn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: auth/, Handler: app.handler}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.handler
              Events:
                Get: {Type: Api, Properties: {Path: /x, Method: GET}}
        """,
    )
    template = load_template(path)
    (route,) = template.routes
    api = template.apis[route.api_id]
    assert api.stage_name == "Prod"
    authorizer = effective_authorizer(route, api)
    assert authorizer is not None
    assert authorizer.function_id == "AuthFn"
    assert authorizer.payload_type == "TOKEN"
    assert authorizer.identity_headers == ("Authorization",)
    assert authorizer.ttl_seconds == 300


def test_unsupported_identity_sources_are_refused(tmp_path):
    path = write(
        tmp_path,
        """
        Resources:
          Api:
            Type: AWS::Serverless::Api
            Properties:
              StageName: s
              Auth:
                Authorizers:
                  Req:
                    FunctionArn: !GetAtt Fn.Arn
                    FunctionPayloadType: REQUEST
                    Identity: {QueryStrings: [token]}
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn/, Handler: app.handler}
        """,
    )
    with pytest.raises(TemplateError, match="QueryStrings"):
        load_template(path)


def test_route_that_only_aws_can_resolve_is_refused(tmp_path):
    path = write(
        tmp_path,
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.handler
              Events:
                Get: {Type: Api, Properties: {Path: !ImportValue shared-path, Method: GET}}
        """,
    )
    with pytest.raises(TemplateError, match="Fn::ImportValue"):
        load_template(path)


# HTTP APIs


def test_consumer_example_has_a_rest_and_an_http_api_sharing_an_imported_authorizer():
    template = load_template(CONSUMER)
    rest, http = template.apis["OrdersRestApi"], template.apis["OrdersHttpApi"]
    assert (rest.protocol, rest.stage_name) == ("REST", "v1")
    assert (http.protocol, http.stage_name) == ("HTTP", "$default")
    assert http.gateway_responses == {}
    keys = {(route.api_id, route.route_key) for route in template.routes}
    assert keys == {
        (api, route_key)
        for api in ("OrdersRestApi", "OrdersHttpApi")
        for route_key in (
            "GET /orders",
            "POST /orders",
            "GET /orders/{id}",
            "GET /orders/{id}/refunds",
        )
    } | {("ReportsRestApi", "GET /reports"), ("OrdersHttpApi", "GET /native/orders")}
    routes = {route.api_id: route for route in template.routes if route.path == "/orders"}
    assert (
        rest.stage_variables
        == http.stage_variables
        == {
            "gatekeyRouteScopes": "GET/orders=orders:read,POST/orders=orders:write,"
            "GET/orders/:id=orders:read,GET/orders/:id/refunds=refunds:read"
        }
    )
    assert effective_authorizer(routes["OrdersHttpApi"], http).identity_context == (
        "routeKey",
        "identity.sourceIp",
    )
    assert rest.authorizers["GatekeyAuthorizer"].identity_context == ("identity.sourceIp",)
    authorizer = effective_authorizer(routes["OrdersHttpApi"], http)
    assert authorizer is not None
    assert authorizer.function_id is None, "the ARN is imported from the gatekey stack"
    assert authorizer.payload_type == "REQUEST"
    assert authorizer.simple_responses is True
    assert authorizer.identity_headers == ("Authorization", "User-Agent")
    assert authorizer.ttl_seconds == 60
    assert rest.authorizers["GatekeyAuthorizer"].simple_responses is False
    assert template.table is None


def test_consumer_example_meters_on_an_api_without_an_authorizer_cache():
    """Limits count authorizer calls: the metered route's API never caches an answer, and
    its ACCESS_DENIED carries the authorizer's code and extra."""
    template = load_template(CONSUMER)
    reports = template.apis["ReportsRestApi"]
    assert reports.authorizers["GatekeyAuthorizer"].ttl_seconds == 0
    denied = reports.gateway_responses["ACCESS_DENIED"]
    assert denied.status_code == 403
    assert '"extra": $context.authorizer.error_extra}' in denied.templates["application/json"]
    assert template.apis["OrdersRestApi"].gateway_responses["ACCESS_DENIED"].templates == (
        denied.templates
    )


def test_http_api_globals_defaults_implicit_api_and_default_route(tmp_path):
    path = write(
        tmp_path,
        """
        Globals:
          HttpApi:
            Auth:
              DefaultAuthorizer: Lam
              Authorizers:
                Lam:
                  FunctionArn: !GetAtt AuthFn.Arn
                  AuthorizerPayloadFormatVersion: 2.0
        Resources:
          AuthFn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: auth/, Handler: app.handler}
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.handler
              Events:
                Get: {Type: HttpApi, Properties: {Path: "/x/{id}", Method: get}}
                Any: {Type: HttpApi, Properties: {Path: /y}}
                Rest: {Type: Api, Properties: {Path: "/x/{id}", Method: get}}
                Fallback: {Type: HttpApi, Properties: {Auth: {Authorizer: NONE}}}
        """,
    )
    template = load_template(path)
    assert set(template.apis) == {"ServerlessHttpApi", "ServerlessRestApi"}
    api = template.apis["ServerlessHttpApi"]
    assert (api.protocol, api.stage_name) == ("HTTP", "$default")
    keys = {route.route_key: route for route in template.routes if route.api_id == api.logical_id}
    assert set(keys) == {"GET /x/{id}", "ANY /y", "$default"}
    assert keys["$default"].method == "ANY"
    assert effective_authorizer(keys["$default"], api) is None
    authorizer = effective_authorizer(keys["GET /x/{id}"], api)
    assert authorizer is not None
    assert authorizer.function_id == "AuthFn"
    assert authorizer.identity_headers == ()
    assert authorizer.ttl_seconds == 0, "API Gateway v2 caches only when told to"
    assert authorizer.simple_responses is False
    assert template.apis["ServerlessRestApi"].authorizers == {}, "HttpApi globals stay HTTP"


HTTP_API_WITH = """
    Resources:
      Http:
        Type: AWS::Serverless::HttpApi
        Properties:
          Auth:
            Authorizers:
              {authorizer}
      Rest:
        Type: AWS::Serverless::Api
        Properties: {{StageName: s}}
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: fn/
          Handler: app.handler
          Events:
            Get: {{Type: HttpApi, Properties: {event}}}
    """
LAMBDA_2 = "A: {FunctionArn: !GetAtt Fn.Arn, AuthorizerPayloadFormatVersion: '2.0'}"
ROUTE = "{ApiId: !Ref Http, Path: /x, Method: get}"


def test_consumer_native_route_is_behind_the_jwt_authorizer_on_gatekeys_outputs():
    """Issuer and audience are gatekey's outputs: imported on AWS (unknown locally, where
    the route answers 500), or given as parameters."""
    native = next(
        route for route in load_template(CONSUMER).routes if route.path == "/native/orders"
    )
    assert native.authorization_scopes == ("orders:read", "orders:*", "*")
    imported = load_template(CONSUMER).apis["OrdersHttpApi"]
    assert effective_jwt_authorizer(native, imported) == JwtAuthorizer(
        name="GatekeyJwt", issuer=None, audiences=None, identity_header="Authorization"
    )
    assert effective_authorizer(native, imported) is None
    given = load_template(
        CONSUMER, {"GatekeyIssuer": "https://gk.example/v1", "GatekeyAudience": "orders"}
    ).apis["OrdersHttpApi"]
    jwt_authorizer = effective_jwt_authorizer(native, given)
    assert jwt_authorizer is not None
    assert (jwt_authorizer.issuer, jwt_authorizer.audiences) == (
        "https://gk.example/v1",
        ("orders",),
    )
    assert given.default_authorizer == "GatekeyAuthorizer"


@pytest.mark.parametrize(
    ("authorizer", "event", "reason"),
    [
        (
            "Jwt: {IdentitySource: $request.header.Authorization, JwtConfiguration: {}}",
            ROUTE,
            "needs an issuer and an audience",
        ),
        (
            "Jwt: {IdentitySource: $request.querystring.t, "
            "JwtConfiguration: {issuer: 'https://i', audience: [a]}}",
            ROUTE,
            r"one \$request.header",
        ),
        (
            "Jwt: {AuthorizationScopes: [a], "
            "JwtConfiguration: {issuer: 'https://i', audience: [a]}}",
            ROUTE,
            "on each route's Auth",
        ),
        (
            LAMBDA_2,
            "{ApiId: !Ref Http, Path: /x, Auth: {Authorizer: A, AuthorizationScopes: [a]}}",
            "need a JWT authorizer",
        ),
        (
            "A: {FunctionArn: !GetAtt Fn.Arn, AuthorizerPayloadFormatVersion: '1.0'}",
            ROUTE,
            "payload format 2.0 only",
        ),
        (
            "A: {FunctionArn: !GetAtt Fn.Arn, AuthorizerPayloadFormatVersion: '2.0', "
            "Identity: {QueryStrings: [token]}}",
            ROUTE,
            "QueryStrings",
        ),
        (LAMBDA_2, "{ApiId: !Ref Http, Path: /x, PayloadFormatVersion: '1.0'}", "2.0 only"),
        (LAMBDA_2, "{ApiId: !Ref Rest, Path: /x, Method: get}", "not an AWS::Serverless::HttpApi"),
        (LAMBDA_2, "{ApiId: !Ref Http, Path: /x, Auth: {Authorizer: Nope}}", "not defined"),
    ],
)
def test_http_api_features_the_local_api_cannot_emulate_are_refused(
    tmp_path, authorizer, event, reason
):
    path = write(tmp_path, HTTP_API_WITH.format(authorizer=authorizer, event=event))
    with pytest.raises(TemplateError, match=reason):
        load_template(path)


def test_route_scoped_http_api_must_key_its_cache_by_route(tmp_path):
    """A cached simple "yes" for one route would open every route: refused locally."""
    text = """
    Resources:
      Api:
        Type: AWS::Serverless::HttpApi
        Properties:
          StageVariables:
            gatekeyRouteScopes: GET/orders=orders:read
          Auth:
            DefaultAuthorizer: Gk
            Authorizers:
              Gk:
                FunctionArn: arn:aws:lambda:us-east-1:123456789012:function:gk
                AuthorizerPayloadFormatVersion: "2.0"
                EnableSimpleResponses: true
                Identity:
                  Headers: [Authorization]
                  ReauthorizeEvery: 60
    """
    with pytest.raises(TemplateError, match="routeKey"):
        load_template(write(tmp_path, text))
    keyed = text.replace(
        "Headers: [Authorization]",
        "Headers: [Authorization]\n                  Context: [routeKey]",
    )
    assert load_template(write(tmp_path, keyed)).apis["Api"].stage_variables


@pytest.mark.parametrize("value", ["GET /orders=orders:read", "GET/orders/{id}=x:y", "a" * 2049])
def test_stage_variable_values_follow_api_gateways_rules(tmp_path, value):
    text = f"""
    Resources:
      Api:
        Type: AWS::Serverless::Api
        Properties:
          StageName: v1
          Variables:
            gatekeyRouteScopes: "{value}"
    """
    with pytest.raises(TemplateError, match="stage variable"):
        load_template(write(tmp_path, text))
