"""OAuth 2.0: the token endpoint (client_credentials, refresh_token) and introspection.

Public routes (no gatekey authorizer): clients authenticate here with their secret
(HTTP Basic or the body), and introspection also takes a session token. Errors use RFC
6749 §5.2's body, which OAuth client libraries parse, not the contract's.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gatekey.edges.api import create_app, header, json_response, lambda_handler_for, request_meta
from gatekey.oauth.endpoints import get_oauth_service, parse_form
from gatekey.oauth.errors import OAuthError

app = create_app()
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@app.exception_handler(OAuthError)  # type: ignore[untyped-decorator]
def _oauth_error(error: OAuthError) -> Response[str]:
    return json_response(error.status, error.body(), error.headers())


@app.post("/oauth/token")
def token() -> Response[str]:
    form = _form()
    answer = get_oauth_service().token(
        form, header(app, "Authorization"), header(app, "User-Agent"), request_meta(app)
    )
    return json_response(200, answer, NO_STORE)


@app.post("/oauth/introspect")
def introspect() -> Response[str]:
    form = _form()
    service = get_oauth_service()
    account_id = service.introspection_caller(
        form, header(app, "Authorization"), header(app, "User-Agent")
    )
    return json_response(200, service.introspect(account_id, form.get("token")), NO_STORE)


def _form() -> dict[str, str]:
    event = app.current_event
    return parse_form(header(app, "Content-Type"), event.body, encoded=event.is_base64_encoded)


lambda_handler = lambda_handler_for(app)
