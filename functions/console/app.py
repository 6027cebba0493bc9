"""The web console: one HTML page that drives the HTTP API from the browser.

The page's CSS and JavaScript live next to this file and are inlined into
console.html at cold start. The Content-Security-Policy allows exactly those
blocks by their SHA-256 hashes, so it needs neither 'unsafe-inline' nor a second
route, and a changed file can never run under a stale hash. qrcode.js is Kazuhiko
Arase's MIT-licensed QR encoder (npm `qrcode-generator`), vendored unchanged: the
Security screen draws the MFA enrolment QR code with it, without any request.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from aws_lambda_powertools.event_handler import Response

from gatekey.edges.api import create_app, lambda_handler_for
from gatekey.settings import DEFAULT_KEY_PREFIX, key_prefix

HERE = Path(__file__).resolve().parent
CSS_MARKER = "/* console.css */"
JS_MARKER = "/* console.js */"
QR_MARKER = "/* qrcode.js */"
KEY_PREFIX_MARKER = "{{key_prefix}}"  # where the page shows what tokens start with
HTML = "text/html; charset=utf-8"

app = create_app()


def csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _inline(template: str, marker: str, text: str, closing_tag: str) -> str:
    if template.count(marker) != 1:
        raise RuntimeError(f"console.html must hold {marker} exactly once")
    if closing_tag in text.lower():
        raise RuntimeError(f"inlined text must not contain {closing_tag}")
    return template.replace(marker, text)


def build_page(
    directory: Path = HERE, prefix: str = DEFAULT_KEY_PREFIX
) -> tuple[str, dict[str, str]]:
    """The page with its CSS and JS inlined, the API key prefix (KeyPrefix) where it
    shows one, and the headers that pin them."""
    css = (directory / "console.css").read_text(encoding="utf-8")
    js = (directory / "console.js").read_text(encoding="utf-8")
    qr = (directory / "qrcode.js").read_text(encoding="utf-8")
    html = (directory / "console.html").read_text(encoding="utf-8")
    html = html.replace(KEY_PREFIX_MARKER, prefix)  # [a-z0-9_]: nothing to escape
    html = _inline(html, CSS_MARKER, css, "</style")
    html = _inline(html, QR_MARKER, qr, "</script")
    html = _inline(html, JS_MARKER, js, "</script")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {csp_hash(qr)} {csp_hash(js)}",
            f"style-src {csp_hash(css)}",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        # no-store also keeps the page out of the back/forward cache, so Back after
        # logging out never shows a page that still holds a token.
        "Cache-Control": "no-store",
    }
    return html, headers


PAGE, HEADERS = build_page(prefix=key_prefix())


@app.get("/console")
def console() -> Response[str]:
    return Response(status_code=200, content_type=HTML, body=PAGE, headers=dict(HEADERS))


lambda_handler = lambda_handler_for(app)
