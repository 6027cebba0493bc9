"""Who may use the access-token signing key: only the functions that issue tokens may
`kms:Sign`, only the one that publishes the JWKS may `kms:GetPublicKey` (template.yaml),
and the local IAM gate holds the local KMS stand-in to exactly that."""

from __future__ import annotations

import pytest

from gatekey import aws
from gatekey.tokens.local_kms import LocalKms
from gatekey_local import iam_gate
from gatekey_local.iam_gate import check_call
from gatekey_local.iam_roles import function_roles
from gatekey_local.signing_keys import local_kms_key_arn
from gatekey_local.template import load_template
from tests.conftest import TEMPLATE

KEY = local_kms_key_arn("AccessTokenSigningKey")
SIGNERS = {"LoginFunction", "OAuthFunction"}
PUBLISHER = "OidcFunction"


@pytest.fixture(scope="module")
def roles():
    return function_roles(load_template(TEMPLATE))


def test_only_the_token_issuers_may_sign(roles):
    may_sign = {
        name
        for name, role in roles.items()
        if check_call(role, "kms", "Sign", {"KeyId": KEY}) is None
    }
    assert may_sign == SIGNERS


def test_only_the_jwks_function_may_read_the_public_key(roles):
    may_read = {
        name
        for name, role in roles.items()
        if check_call(role, "kms", "GetPublicKey", {"KeyId": KEY}) is None
    }
    assert may_read == {PUBLISHER}


def test_no_function_may_use_another_key_or_a_key_by_bare_id(roles):
    other = local_kms_key_arn("SomeOtherKey")
    bare = KEY.rpartition("/")[2]
    for role in roles.values():
        assert check_call(role, "kms", "Sign", {"KeyId": other}) is not None
        assert check_call(role, "kms", "Sign", {"KeyId": bare}) is not None


def test_the_gate_refuses_kms_sign_to_the_authorizer_through_the_local_kms(roles, tmp_path):
    kms = LocalKms(tmp_path)
    kms.create_key(KEY)
    digest = bytes(32)
    params = {
        "KeyId": KEY,
        "Message": digest,
        "MessageType": "DIGEST",
        "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256",
    }
    hooked = iam_gate.lean_client_hook not in aws.before_send
    if hooked:
        aws.before_send.append(iam_gate.lean_client_hook)
    try:
        with (
            iam_gate.invoking(roles["AuthorizerFunction"]),
            pytest.raises(aws.ClientError) as refused,
        ):
            kms.sign(**params)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "kms:Sign" in str(refused.value)
        with iam_gate.invoking(roles["LoginFunction"]):
            assert len(kms.sign(**params)["Signature"]) == 256
            with pytest.raises(aws.ClientError):
                kms.get_public_key(KeyId=KEY)
    finally:
        if hooked:
            aws.before_send.remove(iam_gate.lean_client_hook)
