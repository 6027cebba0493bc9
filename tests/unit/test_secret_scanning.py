"""docs/secret-scanning.md: the custom pattern it gives, read from the page, finds tokens
minted by gatekey (default and another prefix) and nothing else; its checksum snippet
agrees with gatekey's."""

from __future__ import annotations

import re
import uuid

import pytest

from gatekey.tokens import key_tokens
from gatekey.tokens.keyring import Keyring
from tests.helpers import REPO_ROOT

PAGE = (REPO_ROOT / "docs" / "secret-scanning.md").read_text(encoding="utf-8")
KEYRING = Keyring.parse('{"current": "k2", "k1": "' + "a" * 64 + '", "k2": "' + "b" * 64 + '"}')


def field(name: str) -> str:
    """A field of the page's table, as typed into GitHub (`\\|` in the table is `|`)."""
    row = re.search(rf"^\| {name} \| `(.+)` \|$", PAGE, re.MULTILINE)
    assert row is not None, name
    return row.group(1).replace("\\|", "|")


def scanner(prefix: str = "gk_") -> re.Pattern[str]:
    """The pattern as GitHub combines its fields; Hyperscan's `\\z` is Python's `\\Z`."""
    secret = field("Secret format").replace("gk_", prefix)
    before = field("Before secret").replace("\\z", "\\Z")
    after = field("After secret").replace("\\z", "\\Z")
    return re.compile(rf"(?:{before})({secret})(?={after})")


def finds(text: str, prefix: str = "gk_") -> list[str]:
    return [match.group(1) for match in scanner(prefix).finditer(text)]


def minted(count: int = 40, prefix: str = "gk_") -> list[str]:
    return [
        key_tokens.make_token(
            KEYRING,
            key_id=str(uuid.uuid4()),
            version=version,
            secret_kid="k1" if version % 2 else "k2",
            prefix=prefix,
        )
        for version in range(1, count + 1)
    ]


def test_the_combined_expression_on_the_page_is_the_fields_combined():
    assert (
        f"(?:{field('Before secret')})({field('Secret format')})(?:{field('After secret')})" in PAGE
    )


@pytest.mark.parametrize("prefix", ["gk_", "acme_", "x1_", "a_b_c_de_"])
def test_real_tokens_are_found_wherever_they_stand(prefix):
    for token in minted(prefix=prefix):
        assert key_tokens.parse_token(KEYRING, token, prefix)
        for line in (
            token,
            f"Authorization: Bearer {token}",
            f'GATEKEY_TOKEN="{token}"',
            f"token={token}&x=1",
            f"{{'key': '{token}'}}\n",
            f"https://example.com/?t={token}#",
        ):
            assert finds(line, prefix) == [token], line


def test_near_misses_are_not_found():
    token = minted(1)[0]
    body = token[3:]
    for miss in (
        token[:-1],  # truncated
        token + "x",  # longer run of base62
        "x" + token,  # inside a longer word
        "my_" + token,  # inside a longer identifier
        "GK_" + body,
        "gk-" + body,
        "gk_" + body[:30] + "-" + body[31:],
        "gks_" + "A" * 43,  # a client-JWT secret
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    ):
        assert finds(miss) == [], miss


def test_the_example_token_on_the_page_has_the_shape_and_a_valid_checksum():
    example = re.search(r"^```\n(gk_\w+)\n```$", PAGE, re.MULTILINE)
    assert example is not None
    assert finds(example.group(1)) == [example.group(1)]
    assert checksum_ok_from_the_page(example.group(1))


def checksum_ok_from_the_page(token: str) -> bool:
    snippet = re.search(r"```python\n(.+?)```", PAGE, re.DOTALL)
    assert snippet is not None
    namespace: dict = {}
    exec(snippet.group(1), namespace)
    return bool(namespace["checksum_ok"](token))


def test_the_pages_checksum_snippet_agrees_with_gatekey():
    for token in minted(20) + minted(5, prefix="acme_"):
        assert checksum_ok_from_the_page(token)
        changed = token[:-7] + ("0" if token[-7] != "0" else "1") + token[-6:]
        assert not checksum_ok_from_the_page(changed)


def test_the_prefix_rule_matches_the_template_parameter():
    from gatekey.settings import KEY_PREFIX_PATTERN

    template = (REPO_ROOT / "template.yaml").read_text(encoding="utf-8")
    allowed = re.search(r'KeyPrefix:\n(?:    .+\n)*?    AllowedPattern: "(.+)"', template)
    assert allowed is not None
    for prefix in ("gk_", "acme_", "a_", "__", "abcdefghi_", "GK_", "gk", "abcdefghij_", "g-_", ""):
        assert bool(re.fullmatch(allowed.group(1), prefix)) == bool(
            KEY_PREFIX_PATTERN.match(prefix)
        ), prefix
