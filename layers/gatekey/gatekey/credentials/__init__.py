"""The services of credentials: API keys and client-JWT keys, bots, revocation."""
