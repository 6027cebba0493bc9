"""Leaked credentials: a public report of gatekey tokens found in public, which are
revoked at once (CONTRACT section 11; gatekey.credentials.leaks)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response

from gatekey.credentials.leaks import get_leak_service
from gatekey.edges.api import (
    create_app,
    json_response,
    lambda_handler_for,
    parse_body,
    request_meta,
)
from gatekey.edges.models import LeakReport

app = create_app()


@app.post("/credentials/revoke")
def report_leaked_credentials() -> Response[str]:
    body = parse_body(app, LeakReport)
    received = get_leak_service().report(body.credentials, request_meta(app))
    return json_response(202, {"received": received})


lambda_handler = lambda_handler_for(app)
