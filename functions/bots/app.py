"""Bots of the caller's account (account admins only)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gatekey import scopes
from gatekey.credentials.bots import get_bot_service
from gatekey.edges.api import (
    create_app,
    current_principal,
    empty_response,
    json_response,
    lambda_handler_for,
    parse_body,
    request_meta,
)
from gatekey.edges.models import CreateBotRequest
from gatekey.policy import Action

app = create_app()


@app.post("/account/bots")
def create_bot() -> Response[str]:
    admin = current_principal(app, Action.MANAGE_BOTS)
    body = parse_body(app, CreateBotRequest)
    bot_scopes = tuple(body.scopes or scopes.DEFAULT_SCOPES)
    bot = get_bot_service().create(admin, body.name, bot_scopes, body.rules(), request_meta(app))
    return json_response(201, bot)


@app.get("/account/bots")
def list_bots() -> Response[str]:
    return json_response(200, get_bot_service().list(current_principal(app, Action.MANAGE_BOTS)))


@app.delete("/account/bots/<bot_id>")
def delete_bot(bot_id: str) -> Response[str]:
    get_bot_service().delete(current_principal(app, Action.MANAGE_BOTS), bot_id, request_meta(app))
    return empty_response(204)


@app.post("/account/bots/<bot_id>/token")
def regenerate_bot_token(bot_id: str) -> Response[str]:
    return json_response(
        200,
        get_bot_service().regenerate_token(
            current_principal(app, Action.MANAGE_BOTS), bot_id, request_meta(app)
        ),
    )


lambda_handler = lambda_handler_for(app)
