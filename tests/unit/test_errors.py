from gatekey.errors import (
    GatekeyError,
    HandleTaken,
    InvalidToken,
    ServerError,
    ServiceUnavailable,
    Throttled,
    ValidationFailed,
)


def test_invalid_token_body_is_exactly_the_contracts():
    assert InvalidToken().body() == {
        "type": "client_error",
        "errors": [
            {
                "code": "invalid_token",
                "detail": "The provided token is expired or invalid.",
                "attr": None,
                "extra": None,
            }
        ],
    }
    assert InvalidToken().status == 401


def test_every_leaf_is_a_gatekey_error_with_its_own_code():
    assert issubclass(HandleTaken, GatekeyError)
    assert (HandleTaken.status, HandleTaken.code) == (409, "handle_taken")
    assert (ServiceUnavailable.status, ServiceUnavailable.error_type) == (503, "server_error")


def test_validation_error_has_one_entry_per_field():
    entries = [
        {"code": "required", "detail": "Field required", "attr": "email", "extra": None},
        {"code": "invalid", "detail": "Too long", "attr": "password", "extra": None},
    ]
    body = ValidationFailed(entries).body()
    assert body["type"] == "validation_error"
    assert [entry["attr"] for entry in body["errors"]] == ["email", "password"]


def test_throttled_carries_retry_after():
    error = Throttled(retry_after=42)
    assert error.status == 429
    assert error.headers() == {"Retry-After": "42"}


def test_one_fields_error_is_the_contracts_entry():
    error = ValidationFailed.field("account_id", "Give it.", code="required", extra={"a": 1})
    assert error.body() == {
        "type": "validation_error",
        "errors": [
            {"code": "required", "detail": "Give it.", "attr": "account_id", "extra": {"a": 1}}
        ],
    }
    assert ValidationFailed.field("token", "Bad.").entries[0]["code"] == "invalid"


def test_server_error_body_tells_nothing_of_the_cause():
    assert (ServerError.status, ServerError().body()) == (
        500,
        {
            "type": "server_error",
            "errors": [
                {"code": "error", "detail": "A server error occurred.", "attr": None, "extra": None}
            ],
        },
    )
