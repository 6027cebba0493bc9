"""Settings, read once per container from the environment.

A plain frozen dataclass rather than a pydantic model: the authorizer imports this
module on every cold start, and pydantic would double its import time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

from gatekey.errors import ConfigurationError

ENV_TABLE = "GATEKEY_TABLE"
ENV_DYNAMODB_ENDPOINT = "DYNAMODB_ENDPOINT"
ENV_SECRET = "GATEKEY_SECRET"
ENV_SECRET_ARN = "GATEKEY_SECRET_ARN"
ENV_STAGE = "GATEKEY_STAGE"
ENV_BIND_USER_AGENT = "GATEKEY_BIND_USER_AGENT"
ENV_SESSION_IDLE_SECONDS = "GATEKEY_SESSION_IDLE_SECONDS"
ENV_TOUCH_INTERVAL_SECONDS = "GATEKEY_TOUCH_INTERVAL_SECONDS"
ENV_ACCESS_TOKEN_SECONDS = "GATEKEY_ACCESS_TOKEN_SECONDS"
ENV_SESSION_MAX_SECONDS = "GATEKEY_SESSION_MAX_SECONDS"
ENV_AUTHORIZER_CACHE_SECONDS = "GATEKEY_AUTHORIZER_CACHE_SECONDS"
ENV_HTTP_API_SIMPLE_RESPONSES = "GATEKEY_HTTP_API_SIMPLE_RESPONSES"
ENV_LOGIN_MAX_FAILURES = "GATEKEY_LOGIN_MAX_FAILURES"
ENV_LOGIN_LOCKOUT_SECONDS = "GATEKEY_LOGIN_LOCKOUT_SECONDS"
ENV_SENDER_EMAIL = "GATEKEY_SENDER_EMAIL"
ENV_OUTBOX_DIR = "GATEKEY_OUTBOX_DIR"
ENV_CONSOLE_URL = "GATEKEY_CONSOLE_URL"
ENV_CONSOLE_URL_PARAMETER = "GATEKEY_CONSOLE_URL_PARAMETER"
ENV_AUDIT_RETENTION_DAYS = "GATEKEY_AUDIT_RETENTION_DAYS"
ENV_LOCAL_KMS_DIR = "GATEKEY_LOCAL_KMS_DIR"
ENV_KEY_PREFIX = "GATEKEY_KEY_PREFIX"

DEFAULT_TABLE = "gatekey"
DEFAULT_OUTBOX_DIR = ".local/outbox"
DEFAULT_KEY_PREFIX = "gk_"
# 2 to 10 of [a-z0-9_], ending with `_` (the template's KeyPrefix AllowedPattern): never
# the start of a JWT (`eyJ`), and the token's base62 body cannot run into it.
KEY_PREFIX_PATTERN = re.compile(r"^[a-z0-9_]{1,9}_\Z")


@dataclass(frozen=True)
class Settings:
    """Everything a gatekey function reads from its environment (CONTRACT section 5)."""

    table_name: str = DEFAULT_TABLE
    dynamodb_endpoint: str | None = None
    secret: str | None = None
    secret_arn: str | None = None
    stage: str = "local"
    bind_user_agent: bool = True
    session_idle_seconds: int = 2_592_000
    touch_interval_seconds: int = 3_600
    access_token_seconds: int = 3_600
    session_max_seconds: int = 7_776_000
    authorizer_cache_seconds: int = 60
    http_api_simple_responses: bool = True
    login_max_failures: int = 5
    login_lockout_seconds: int = 60
    audit_retention_days: int = 365
    sender_email: str | None = None  # messages go through Amazon SES when set
    outbox_dir: str = DEFAULT_OUTBOX_DIR  # else one .eml file per message here
    console_url: str | None = None  # base of the links in messages (never the request's)
    console_url_parameter: str | None = None  # else the SSM parameter holding it (AWS)
    local_kms_dir: str | None = None  # the local KMS stand-in's key files (never on AWS)
    key_prefix: str = DEFAULT_KEY_PREFIX  # what API key tokens start with (KeyPrefix)

    @classmethod
    def from_environ(
        cls, environ: dict[str, str] | None = None, *, require_secret: bool = True
    ) -> Settings:
        """The settings of this environment; `require_secret=False` for a caller that
        signs and checks nothing (the admin CLI's mail: `accounts.mail.send`)."""
        env = dict(os.environ if environ is None else environ)
        defaults = cls()
        settings = cls(
            table_name=env.get(ENV_TABLE) or DEFAULT_TABLE,
            dynamodb_endpoint=env.get(ENV_DYNAMODB_ENDPOINT) or None,
            secret=env.get(ENV_SECRET) or None,
            secret_arn=env.get(ENV_SECRET_ARN) or None,
            stage=env.get(ENV_STAGE) or defaults.stage,
            bind_user_agent=_bool(env, ENV_BIND_USER_AGENT, defaults.bind_user_agent),
            session_idle_seconds=_seconds(
                env, ENV_SESSION_IDLE_SECONDS, defaults.session_idle_seconds, minimum=1
            ),
            touch_interval_seconds=_seconds(
                env, ENV_TOUCH_INTERVAL_SECONDS, defaults.touch_interval_seconds, minimum=0
            ),
            access_token_seconds=_seconds(
                env, ENV_ACCESS_TOKEN_SECONDS, defaults.access_token_seconds, minimum=1
            ),
            session_max_seconds=_seconds(
                env, ENV_SESSION_MAX_SECONDS, defaults.session_max_seconds, minimum=1
            ),
            authorizer_cache_seconds=_seconds(
                env, ENV_AUTHORIZER_CACHE_SECONDS, defaults.authorizer_cache_seconds, minimum=0
            ),
            http_api_simple_responses=_bool(
                env, ENV_HTTP_API_SIMPLE_RESPONSES, defaults.http_api_simple_responses
            ),
            login_max_failures=_seconds(
                env, ENV_LOGIN_MAX_FAILURES, defaults.login_max_failures, minimum=1
            ),
            login_lockout_seconds=_seconds(
                env, ENV_LOGIN_LOCKOUT_SECONDS, defaults.login_lockout_seconds, minimum=1
            ),
            audit_retention_days=_seconds(
                env, ENV_AUDIT_RETENTION_DAYS, defaults.audit_retention_days, minimum=1
            ),
            sender_email=(env.get(ENV_SENDER_EMAIL) or "").strip() or None,
            outbox_dir=env.get(ENV_OUTBOX_DIR) or DEFAULT_OUTBOX_DIR,
            console_url=(env.get(ENV_CONSOLE_URL) or "").strip().rstrip("/") or None,
            console_url_parameter=(env.get(ENV_CONSOLE_URL_PARAMETER) or "").strip() or None,
            local_kms_dir=(env.get(ENV_LOCAL_KMS_DIR) or "").strip() or None,
            key_prefix=key_prefix(env),
        )
        if require_secret and settings.secret is None and settings.secret_arn is None:
            raise ConfigurationError(f"set {ENV_SECRET} (local) or {ENV_SECRET_ARN} (AWS)")
        return settings


def key_prefix(environ: dict[str, str] | None = None) -> str:
    """The API key token prefix (`GATEKEY_KEY_PREFIX`, the KeyPrefix parameter), checked."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_KEY_PREFIX) or DEFAULT_KEY_PREFIX
    if not KEY_PREFIX_PATTERN.match(raw):
        raise ConfigurationError(
            f"{ENV_KEY_PREFIX} must be 2 to 10 of a-z, 0-9 and _, ending with _, not {raw!r}"
        )
    return raw


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _seconds(env: dict[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The container's settings, read once; `gatekey.reset_caches()` forgets them."""
    return Settings.from_environ()


def reset() -> None:
    """Forgets the settings, so the next `get_settings()` reads the environment again."""
    get_settings.cache_clear()
