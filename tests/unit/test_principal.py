from gatekey.principal import SESSION, Principal


def test_context_is_scalars_and_round_trips_through_strings():
    principal = Principal(
        user_id="u",
        account_id="a",
        email="e@x.io",
        role="admin",
        is_bot=False,
        token_type=SESSION,
        token_expires_at=1700000000,
        session_id="s",
    )
    context = principal.to_context()
    assert all(isinstance(value, str | int | bool) for value in context.values())
    assert context["key_handle"] == ""
    as_strings = {key: str(value) for key, value in context.items()}
    assert Principal.from_context(as_strings) == principal
    assert Principal.from_context(context) == principal
