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


@pytest.fixture
def configure(monkeypatch, gatekey_env):
    """Sets gatekey environment variables for one test and rebuilds the cached settings."""

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        reset_gatekey_caches()

    yield apply
    monkeypatch.undo()
    reset_gatekey_caches()
