import contextlib
import time

import pytest

from gatekey.accounts.sessions import get_session_service
from gatekey.errors import InvalidToken, NotAuthenticated
from gatekey.principal import SESSION
from gatekey.tokens.authorization import get_authorizer
from tests.helpers import PASSWORD, USER_AGENT


def login(user, user_agent=USER_AGENT):
    return get_session_service().login(user.email, PASSWORD, None, user_agent)


def test_access_token_authorizes_with_one_read(store, user):
    tokens = login(user)
    authorizer = get_authorizer()
    before = store.calls
    principal = authorizer.authorize(f"Bearer {tokens['access_token']}", USER_AGENT)
    assert store.calls - before == 1
    assert principal.user_id == user.user_id
    assert principal.account_id == user.account_id
    assert principal.token_type == SESSION
    assert principal.email == user.email


def test_bare_token_without_scheme_works(store, user):
    tokens = login(user)
    assert get_authorizer().authorize(tokens["access_token"], USER_AGENT).user_id == user.user_id


def test_refresh_token_is_not_accepted_as_access(store, user):
    tokens = login(user)
    with pytest.raises(InvalidToken):
        get_authorizer().authorize(f"Bearer {tokens['refresh_token']}", USER_AGENT)


def test_refresh_token_yields_the_same_session(store, user):
    tokens = login(user)
    session = get_authorizer().authorize_refresh(f"Bearer {tokens['refresh_token']}", USER_AGENT)
    assert session.user_id == user.user_id


def test_missing_header_is_not_authenticated_without_reads(store):
    before = store.calls
    with pytest.raises(NotAuthenticated):
        get_authorizer().authorize(None, USER_AGENT)
    assert store.calls == before


def test_garbage_token_costs_no_read(store):
    before = store.calls
    with pytest.raises(InvalidToken):
        get_authorizer().authorize("Bearer not-a-token", USER_AGENT)
    assert store.calls == before


def test_other_user_agent_destroys_session(store, user):
    tokens = login(user)
    authorizer = get_authorizer()
    with pytest.raises(InvalidToken):
        authorizer.authorize(tokens["access_token"], "curl/8.0")
    with pytest.raises(InvalidToken):
        authorizer.authorize(tokens["access_token"], USER_AGENT)
    with pytest.raises(InvalidToken):
        authorizer.authorize_refresh(tokens["refresh_token"], USER_AGENT)


def test_user_agent_binding_can_be_turned_off(configure, user):
    configure(GATEKEY_BIND_USER_AGENT="false")
    tokens = login(user)
    assert get_authorizer().authorize(tokens["access_token"], "curl/8.0").user_id == user.user_id


@pytest.mark.slow
def test_idle_session_expires_and_use_slides_it(configure, user):
    configure(GATEKEY_SESSION_IDLE_SECONDS="3", GATEKEY_TOUCH_INTERVAL_SECONDS="0")
    kept, idle = login(user), login(user)
    authorizer = get_authorizer()
    for _ in range(3):
        time.sleep(1.1)
        authorizer.authorize(kept["access_token"], USER_AGENT)
    time.sleep(0.5)
    with pytest.raises(InvalidToken):
        authorizer.authorize(idle["access_token"], USER_AGENT)
    assert authorizer.authorize(kept["access_token"], USER_AGENT).user_id == user.user_id


def test_touch_is_throttled_to_the_interval(configure, user):
    configure(GATEKEY_TOUCH_INTERVAL_SECONDS="3600")
    tokens = login(user)
    authorizer = get_authorizer()
    authorizer.authorize(tokens["access_token"], USER_AGENT)
    before = authorizer.store.calls
    for _ in range(3):
        authorizer.authorize(tokens["access_token"], USER_AGENT)
    assert authorizer.store.calls - before == 3


def test_touch_racing_a_revoke_never_resurrects_the_session(configure, user):
    """Touches and a logout run at once; afterwards the session is gone, every time."""
    from concurrent.futures import ThreadPoolExecutor

    configure(GATEKEY_TOUCH_INTERVAL_SECONDS="0")
    authorizer = get_authorizer()
    for _ in range(10):
        tokens = login(user)
        session_id = authorizer.authorize(tokens["access_token"], USER_AGENT).session_id

        def use(access_token: str) -> None:
            with contextlib.suppress(InvalidToken):
                authorizer.authorize(access_token, USER_AGENT)

        with ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(use, tokens["access_token"]) for _ in range(5)]
            futures.append(pool.submit(authorizer.store.delete_session, session_id))
            for future in futures:
                future.result()
        assert authorizer.store.get_session(session_id) is None
        with pytest.raises(InvalidToken):
            authorizer.authorize(tokens["access_token"], USER_AGENT)


def test_expired_access_token_is_invalid_but_refresh_still_works(configure, user):
    configure(GATEKEY_ACCESS_TOKEN_SECONDS="1")
    tokens = login(user)
    assert tokens["expires_in"] == 1
    time.sleep(2.1)
    with pytest.raises(InvalidToken):
        get_authorizer().authorize(tokens["access_token"], USER_AGENT)
    assert get_authorizer().authorize_refresh(tokens["refresh_token"], USER_AGENT)


def test_session_ends_at_its_absolute_lifetime(configure, user):
    configure(GATEKEY_SESSION_MAX_SECONDS="2", GATEKEY_TOUCH_INTERVAL_SECONDS="0")
    tokens = login(user)
    time.sleep(2.1)
    with pytest.raises(InvalidToken):
        get_authorizer().authorize_refresh(tokens["refresh_token"], USER_AGENT)


def test_revoked_access_token_is_refused_and_costs_a_second_read_only_there(store, user):
    from gatekey.credentials.revocation import get_revocation_service

    first = login(user)
    authorizer = get_authorizer()
    principal = authorizer.authorize(first["access_token"], USER_AGENT)
    get_revocation_service().revoke(principal)
    before = store.calls
    with pytest.raises(InvalidToken):
        authorizer.authorize(first["access_token"], USER_AGENT)
    assert store.calls - before == 2

    refreshed = get_session_service().refresh(
        authorizer.authorize_refresh(first["refresh_token"], USER_AGENT)
    )
    before = store.calls
    assert authorizer.authorize(refreshed["access_token"], USER_AGENT).user_id == user.user_id
    assert store.calls - before == 2  # same session: its flag is up until the revoked one expires

    other = login(user)
    before = store.calls
    authorizer.authorize(other["access_token"], USER_AGENT)
    assert store.calls - before == 1


@pytest.mark.slow
def test_a_session_in_use_never_lapses_between_throttled_touches(configure, user):
    """A touch interval longer than the idle period is capped at half of it."""
    configure(GATEKEY_SESSION_IDLE_SECONDS="4", GATEKEY_TOUCH_INTERVAL_SECONDS="3600")
    tokens = login(user)
    authorizer = get_authorizer()
    for _ in range(6):
        time.sleep(1)
        assert authorizer.authorize(tokens["access_token"], USER_AGENT).user_id == user.user_id
