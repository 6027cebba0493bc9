"""Handlers imported and called directly with the documented environment and sample events
behave exactly as through the local API."""

import json
import time
import uuid

import pytest

from gatekey.tokens.authorization import get_authorizer
from gatekey_local.function_worker import LambdaContext
from tests.helpers import load_event, load_handler

EVENT_USER_AGENT = "curl/8.5.0"


def lambda_context(name: str) -> LambdaContext:
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + 10,
    )


@pytest.fixture(scope="module")
def handlers():
    return {name: load_handler(name) for name in ("login", "token_test", "keys", "bots")}


def call(handlers, name: str, event: dict) -> tuple[int, dict]:
    response = handlers[name].lambda_handler(event, lambda_context(name))
    return response["statusCode"], json.loads(response["body"] or "null")


def with_user(event: dict, user) -> dict:
    body = json.loads(event["body"])
    body.update(email=user.email, password=user.password)
    event["body"] = json.dumps(body)
    return event


def authorized(event: dict, access_token: str) -> dict:
    """The event as API Gateway would pass it on: context from the real authorizer."""
    principal = get_authorizer().authorize(f"Bearer {access_token}", EVENT_USER_AGENT)
    event["requestContext"]["authorizer"] = {
        **{key: str(value) for key, value in principal.to_context().items()},
        "principalId": principal.user_id,
    }
    return event


def test_login_event_logs_in(handlers, store, user):
    status, body = call(handlers, "login", with_user(load_event("login.json"), user))
    assert status == 200
    assert body["login"] is True and body["user"]["id"] == user.user_id


def test_login_form_event_logs_in(handlers, store, user):
    event = load_event("login_form.json")
    event["body"] = f"email={user.email.replace('@', '%40')}&password=correct+horse+battery+staple"
    status, body = call(handlers, "login", event)
    assert status == 200, body


def test_token_test_events_with_the_authorizers_context(handlers, store, user):
    _, tokens = call(handlers, "login", with_user(load_event("login.json"), user))
    access = tokens["access_token"]
    status, body = call(
        handlers, "token_test", authorized(load_event("token_test_root.json"), access)
    )
    assert (status, body["message"]) == (200, "Oh, Hello")
    event = authorized(load_event("token_test_user.json"), access)
    assert call(handlers, "token_test", event)[1]["id"] == user.user_id
    event = authorized(load_event("token_test_authenticated.json"), access)
    assert call(handlers, "token_test", event)[1]["token"]["type"] == "session"


def test_refresh_event(handlers, store, user):
    _, tokens = call(handlers, "login", with_user(load_event("login.json"), user))
    event = load_event("refresh_token.json", refresh_token=tokens["refresh_token"])
    status, body = call(handlers, "login", event)
    assert status == 200 and set(body) == {"access_token", "expires_in"}


def test_keys_events(handlers, store, user):
    _, tokens = call(handlers, "login", with_user(load_event("login.json"), user))
    status, key = call(
        handlers, "keys", authorized(load_event("keys_create.json"), tokens["access_token"])
    )
    assert status == 201 and key["handle"] == "ci-deploy" and key["expires_at"]
    status, rotated = call(
        handlers, "keys", authorized(load_event("keys_rotate.json"), tokens["access_token"])
    )
    assert status == 200 and rotated["token"] != key["token"]


def test_protected_handler_without_authorizer_context_is_not_authenticated(handlers, store):
    event = load_event("token_test_user.json")
    del event["requestContext"]["authorizer"]
    status, body = call(handlers, "token_test", event)
    assert status == 401 and body["errors"][0]["code"] == "not_authenticated"


def test_bots_event_needs_an_admin(handlers, store, user):
    _, tokens = call(handlers, "login", with_user(load_event("login.json"), user))
    event = authorized(load_event("bots_create.json"), tokens["access_token"])
    status, body = call(handlers, "bots", event)
    assert status == 403 and body["errors"][0]["code"] == "permission_denied"
