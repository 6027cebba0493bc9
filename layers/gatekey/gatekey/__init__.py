"""gatekey: the token logic, store and settings shared by every gatekey function."""

__version__ = "0.1.0"


def reset_caches() -> None:
    """Forgets every container-level cache (settings, stores, keyrings, remembered keys
    and usage counts), as a new container would; for tests and the local runtime after
    the environment changed.

    Imports lazily, so `import gatekey` stays free for the authorizer's cold start.
    """
    from gatekey import settings, store
    from gatekey.tokens import keyring, metering

    settings.reset()
    store.reset()
    keyring.reset()
    metering.reset()
