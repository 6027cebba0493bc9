import pytest

from gatekey.store import Store, get_store
from tests.helpers import TestUser, make_user, reset_gatekey_caches


@pytest.fixture
def store(gatekey_env) -> Store:
    reset_gatekey_caches()
    return get_store()


@pytest.fixture
def user(store) -> TestUser:
    return make_user()
