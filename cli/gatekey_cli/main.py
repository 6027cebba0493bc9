"""The `gatekey` admin CLI: accounts, users and the local runtime.

Each command prints one JSON object on stdout, or a clear message on stderr and a
non-zero exit status. It uses the local run's table and endpoint by default
(DynamoDB Local on 127.0.0.1:$GATEKEY_DYNAMODB_PORT); `--aws` uses AWS itself with
the usual credentials, and DYNAMODB_ENDPOINT names any other endpoint.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from gatekey import clock
from gatekey.accounts import audit, passwords, reset, users
from gatekey.accounts.user_admin import user_view
from gatekey.errors import GatekeyError, ServiceUnavailable, ValidationFailed
from gatekey.records import User
from gatekey.settings import (
    DEFAULT_TABLE,
    ENV_AUDIT_RETENTION_DAYS,
    ENV_CONSOLE_URL,
    Settings,
)
from gatekey.store import Store, create_dynamodb_client
from gatekey_local.local_aws import (
    DEFAULT_API_PORT,
    DEFAULT_DYNAMODB_PORT,
    LOCAL_HOST,
    use_local_aws_defaults,
)

CLI_USER_AGENT = "gatekey-cli"


class CliError(Exception):
    """A message for the operator; the CLI prints it and exits 1."""


def _local_dynamodb_port() -> int:
    return int(os.environ.get("GATEKEY_DYNAMODB_PORT") or DEFAULT_DYNAMODB_PORT)


def _store(args: argparse.Namespace) -> Store:
    endpoint = None if args.aws else os.environ.get("DYNAMODB_ENDPOINT")
    if not args.aws and endpoint is None:
        endpoint = f"http://{LOCAL_HOST}:{_local_dynamodb_port()}"
    if endpoint is not None:
        use_local_aws_defaults(os.environ)
    settings = Settings(
        table_name=os.environ.get("GATEKEY_TABLE") or DEFAULT_TABLE, dynamodb_endpoint=endpoint
    )
    return Store(create_dynamodb_client(settings), settings.table_name)


def _read_password() -> str:
    password = os.environ.get("GATEKEY_PASSWORD")
    if password is None:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline()
        password = password.rstrip("\r\n")
    if not password:
        raise CliError("a password is required (stdin or GATEKEY_PASSWORD)")
    return password


def account_create(args: argparse.Namespace) -> dict[str, Any]:
    if not args.name.strip():
        raise CliError("the account name must not be empty")
    account = users.create_account(_store(args), args.name)
    return {"account_id": account["account_id"]}


def user_create(args: argparse.Namespace) -> dict[str, Any]:
    email = users.normalize_email(args.email)
    if "@" not in email or len(email) > 320:
        raise CliError(f"not an email address: {args.email!r}")
    password = None if args.bot else _read_password()
    if password is not None:
        passwords.check_password_rule(password, email)
    user = users.create_user(
        _store(args),
        account_id=args.account,
        email=email,
        password=password,
        admin=args.admin,
        bot=args.bot,
    )
    return {"user_id": user.user_id}


def user_list(args: argparse.Namespace) -> dict[str, Any]:
    """The users of an account, as an admin sees them in GET /account/users."""
    store = _store(args)
    if store.get_account(args.account) is None:
        raise CliError(f"no such account: {args.account}")
    found = sorted(store.list_account_users(args.account), key=lambda u: (u.created_at, u.user_id))
    return {"users": [user_view(user) for user in found]}


def user_reset_password(args: argparse.Namespace) -> dict[str, Any]:
    """A single-use reset link for a user, printed rather than sent (the operator hands it
    over); recorded in the account's audit log as password.reset_requested."""
    store = _store(args)
    user = _user_by_email(store, args.account, args.email)
    event = audit.new_event(
        args.account,
        audit.PASSWORD_RESET_REQUESTED,
        actor=None,
        target=(audit.TARGET_USER, user.user_id),
        meta=audit.RequestMeta(ip=None, user_agent=CLI_USER_AGENT),
        retention_days=_retention_days(),
    )
    token = reset.issue_reset_token(store, user, purpose=reset.RESET, audit_event=event)
    return {
        "user_id": user.user_id,
        "reset_link": reset.reset_link(_console_url(), token),
        "expires_at": clock.iso(clock.now() + reset.TOKEN_SECONDS[reset.RESET]),
    }


def _user_by_email(store: Store, account_id: str, email: str) -> User:
    user_id = store.find_user_ids_by_email(users.normalize_email(email)).get(account_id)
    user = store.get_user(user_id) if user_id else None
    if user is None:
        raise CliError(f"no user with email {email!r} in account {account_id}")
    return user


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatekey", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--aws", action="store_true", help="use AWS DynamoDB (usual credentials, GATEKEY_TABLE)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    account = commands.add_parser("account", help="manage accounts")
    account_commands = account.add_subparsers(dest="action", required=True)
    create_account = account_commands.add_parser("create", help="create an account")
    create_account.add_argument("name")
    create_account.set_defaults(run=account_create)

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="action", required=True)
    create_user = user_commands.add_parser(
        "create", help="create a user (password from stdin or GATEKEY_PASSWORD)"
    )
    create_user.add_argument("--account", required=True, help="account id")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--admin", action="store_true", help="account administrator")
    create_user.add_argument("--bot", action="store_true", help="a bot user (no password)")
    create_user.set_defaults(run=user_create)
    list_users = user_commands.add_parser("list", help="list the users of an account")
    list_users.add_argument("--account", required=True, help="account id")
    list_users.set_defaults(run=user_list)
    reset_password = user_commands.add_parser(
        "reset-password", help="print a single-use password reset link (valid 30 minutes)"
    )
    reset_password.add_argument("--account", required=True, help="account id")
    reset_password.add_argument("--email", required=True)
    reset_password.set_defaults(run=user_reset_password)

    commands.add_parser(
        "local", help="run DynamoDB Local and the local APIs (see `gatekey local --help`)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["local"]:
        from gatekey_local.runtime import main as run_local_main

        return run_local_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except CliError as exc:
        print(f"gatekey: error: {exc}", file=sys.stderr)
        return 1
    except ServiceUnavailable:
        print("gatekey: error: DynamoDB is unreachable (is `make run` up?)", file=sys.stderr)
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


if __name__ == "__main__":
    raise SystemExit(main())
