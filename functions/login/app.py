"""Login with email and password, and exchange a refresh token for an access token."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from gatekey.api import create_app, header, json_response, parse_body
from gatekey.authorization import get_authorizer
from gatekey.models import LoginRequest
from gatekey.passwords import warm_up
from gatekey.sessions import get_session_service

logger = Logger()
app = create_app()
warm_up()


@app.post("/auth/login")
def login() -> Response[str]:
    body = parse_body(app, LoginRequest, allow_form=True)
    result = get_session_service().login(
        body.email, body.password, body.account_id, header(app, "User-Agent")
    )
    return json_response(200, result)


@app.get("/auth/refresh-token")
def refresh_token() -> Response[str]:
    session = get_authorizer().authorize_refresh(
        header(app, "Authorization"), header(app, "User-Agent")
    )
    return json_response(200, get_session_service().refresh(session))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
