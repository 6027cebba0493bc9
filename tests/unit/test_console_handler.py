"""The console function: one HTML page whose headers pin exactly its inline code."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from gatekey_local.function_worker import LambdaContext
from gatekey_local.sam_model import effective_authorizer
from gatekey_local.template import load_template
from tests.helpers import REPO_ROOT, load_event, load_handler

CONSOLE_DIR = REPO_ROOT / "functions" / "console"
# dist/qrcode.js of the npm package qrcode-generator 2.0.4 (Kazuhiko Arase, MIT), unchanged
QRCODE_JS_SHA256 = "79ec86f82856005b1c887905cfccfcfbec3821ca61c7fd5a952faa5f778f791c"


@pytest.fixture(scope="module")
def console() -> Any:
    return load_handler("console")


def console_event(path: str = "/console") -> dict[str, Any]:
    event = load_event("token_test_root.json", access_token="unused")
    for name in ("Authorization",):
        event["headers"].pop(name)
        event["multiValueHeaders"].pop(name)
    event["path"] = event["resource"] = event["requestContext"]["resourcePath"] = path
    event["requestContext"]["path"] = f"/v1{path}"
    event["requestContext"].pop("authorizer")
    return event


def get(console: Any, path: str = "/console") -> dict[str, Any]:
    context = LambdaContext(
        function_name="console",
        memory_limit_in_mb=256,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:console",
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + 10,
    )
    response: dict[str, Any] = console.lambda_handler(console_event(path), context)
    return response


def headers(response: dict[str, Any]) -> dict[str, str]:
    single = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        single[name.lower()] = ",".join(values)
    return single


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def sha256_source(text: str) -> str:
    return f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"


class Markup(HTMLParser):
    """What the page's markup declares: elements with their attributes, inline blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.blocks: dict[str, list[str]] = {"script": [], "style": []}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in self.blocks:
            self._open = tag
            self.blocks[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.blocks[self._open][-1] += data


@pytest.fixture(scope="module")
def page(console: Any) -> Markup:
    markup = Markup()
    markup.feed(get(console)["body"])
    return markup


def test_console_is_an_html_page_that_is_never_cached(console):
    response = get(console)
    sent = headers(response)
    assert response["statusCode"] == 200
    assert sent["content-type"] == "text/html; charset=utf-8"
    assert sent["cache-control"] == "no-store"
    assert sent["x-content-type-options"] == "nosniff"
    assert sent["referrer-policy"] == "no-referrer"
    assert sent["x-frame-options"] == "DENY"
    assert response["body"].startswith("<!doctype html>")


def test_content_security_policy_is_strict(console):
    policy = directives(headers(get(console))["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["img-src"] == ["data:"]
    assert policy["require-trusted-types-for"] == ["'script'"]
    assert policy["trusted-types"] == ["'none'"]
    assert len(policy["script-src"]) == 2, policy["script-src"]
    assert len(policy["style-src"]) == 1, policy["style-src"]
    for source in policy["script-src"] + policy["style-src"]:
        assert source.startswith("'sha256-"), source
    assert "unsafe" not in json.dumps(policy)


def test_policy_hashes_are_those_of_the_only_scripts_and_style(console, page):
    policy = directives(headers(get(console))["content-security-policy"])
    [encoder, script] = page.blocks["script"]
    [style] = page.blocks["style"]
    assert policy["script-src"] == [sha256_source(encoder), sha256_source(script)]
    assert policy["style-src"] == [sha256_source(style)]
    assert encoder == (CONSOLE_DIR / "qrcode.js").read_text(encoding="utf-8")
    assert script == (CONSOLE_DIR / "console.js").read_text(encoding="utf-8")
    assert style == (CONSOLE_DIR / "console.css").read_text(encoding="utf-8")


def test_vendored_qr_encoder_is_unchanged_and_keeps_its_licence():
    encoder = (CONSOLE_DIR / "qrcode.js").read_bytes()
    assert hashlib.sha256(encoder).hexdigest() == QRCODE_JS_SHA256
    header = encoder[:600].decode("utf-8")
    assert "Copyright (c) 2009 Kazuhiko Arase" in header
    assert "Licensed under the MIT license" in header
    licence = (CONSOLE_DIR / "qrcode.LICENSE").read_text(encoding="utf-8")
    assert "Kazuhiko Arase" in licence and "Permission is hereby granted" in licence


def test_markup_needs_nothing_the_policy_blocks(page):
    for tag, attrs in page.elements:
        assert "style" not in attrs, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert tag not in ("iframe", "object", "embed", "base")
        for name in ("src", "href", "action"):
            value = attrs.get(name)
            assert value is None or value.startswith(("#", "data:")), (tag, name, value)


def test_script_keeps_tokens_out_of_local_storage_cookies_and_html_sinks():
    source = (CONSOLE_DIR / "console.js").read_text(encoding="utf-8")
    script = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    for forbidden in (
        "localStorage",
        "document.cookie",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert forbidden not in script, forbidden
    assert re.findall(r"fetch\(([^,]+),", script) == ["API_BASE + path"]


def test_forms_never_put_their_fields_in_a_url(page):
    forms = [attrs for tag, attrs in page.elements if tag == "form"]
    assert len(forms) == 18
    assert all(attrs.get("method") == "post" and "action" not in attrs for attrs in forms)


def test_every_form_control_has_a_label(page):
    labelled = {attrs.get("for") for tag, attrs in page.elements if tag == "label"}
    controls = [
        attrs
        for tag, attrs in page.elements
        if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden"
    ]
    assert len(controls) >= 10
    for attrs in controls:
        assert attrs.get("id") in labelled or "aria-label" in attrs, attrs


def test_every_button_says_what_it_is_for(page):
    buttons = [attrs for tag, attrs in page.elements if tag == "button"]
    assert buttons
    for attrs in buttons:
        assert attrs.get("type") in ("button", "submit"), attrs


def test_a_file_that_would_end_its_block_early_is_refused(console, tmp_path: Path):
    for name in ("console.html", "console.css", "console.js", "qrcode.js"):
        (tmp_path / name).write_text((CONSOLE_DIR / name).read_text(encoding="utf-8"))
    (tmp_path / "console.js").write_text('const x = "</script><script>alert(1)";')
    with pytest.raises(RuntimeError, match="</script"):
        console.build_page(tmp_path)


def test_other_paths_answer_the_contract_404(console):
    response = get(console, "/console/secrets")
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["errors"][0]["code"] == "not_found"


def test_console_route_is_public_and_served_by_its_own_function():
    template = load_template(REPO_ROOT / "template.yaml", table_name="local-table")
    [route] = [route for route in template.routes if route.path == "/console"]
    assert route.method == "GET"
    assert route.function_id == "ConsoleFunction"
    assert effective_authorizer(route, template.apis["GatekeyApi"]) is None
