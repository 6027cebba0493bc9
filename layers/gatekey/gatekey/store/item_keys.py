"""The one place that spells each item's keys; nothing else writes `"APIKEY#..."`.

Item layout (single table, `pk`/`sk`, one GSI `gsi1`, TTL attribute `ttl`):

| item           | pk                | sk            | gsi1pk              | gsi1sk         |
|----------------|-------------------|---------------|---------------------|----------------|
| account        | ACCOUNT#<id>      | ACCOUNT       | ACCOUNTS            | <created>#<id> |
| user           | USER#<id>         | USER          | ACCOUNT#<id>#USERS  | USER#<id>      |
| email claim    | EMAIL#<email>     | ACCOUNT#<id>  |                     |                |
| session        | SESSION#<id>      | SESSION       | USER#<id>#SESSIONS  | <created>#<id> |
| session ref    | USER#<id>         | SESSION#<id>  |                     |                |
| login failures | LOGINFAIL#USER#<id> | LOGINFAIL   |                     |                |
| unknown email  | LOGINFAIL#EMAIL#<email> | LOGINFAIL |                   |                |
| API key        | APIKEY#<key id>   | KEY           |                     |                |
| key handle     | USER#<id>         | KEY#<handle>  |                     |                |
| account key ref | ACCOUNTKEYS#<account id> | <created:012d>#<key id> |      |                |
| revocation     | REVOKED#<token>   | REVOKED       |                     |                |
| audit event    | AUDIT#<account>   | <at:012d>#<id>|                     |                |
| audit gate     | AUDITGATE#<sha256> | <minute:012d> |                  |                |
| reset token    | RESET#<sha256>    | RESET         |                     |                |
| reset bound    | RESETBOUND#<id>   | RESETBOUND    |                     |                |
| signing keys   | OIDC#SIGNING      | OIDC          |                     |                |
| expiry marker  | EXPIRING#<yyyy-mm-dd> | KEY#<key id> |                  |                |

Each function returns plain strings (`{"pk": ..., "sk": ...}`); `wire` turns a key into
DynamoDB's attribute-value form.
"""

from __future__ import annotations

ItemKey = dict[str, str]

KEY_HANDLE_PREFIX = "KEY#"
SESSION_REF_PREFIX = "SESSION#"
ACCOUNT_PREFIX = "ACCOUNT#"
PLACEHOLDER_PK = "AUDIT#-"  # expired-on-arrival items that equalize unknown emails' cost


def wire(key: ItemKey) -> dict[str, dict[str, str]]:
    """A key in DynamoDB's attribute-value form (`{"pk": {"S": ...}, ...}`)."""
    return {name: {"S": value} for name, value in key.items()}


def account(account_id: str) -> ItemKey:
    return {"pk": f"{ACCOUNT_PREFIX}{account_id}", "sk": "ACCOUNT"}


ACCOUNTS = "ACCOUNTS"
"""The gsi1pk under which every account is listed (the admin CLI's `account list`)."""


def account_index(account_id: str, created_at: int) -> ItemKey:
    """An account item's gsi1 attributes: accounts are listed oldest first, by one Query
    rather than a Scan of the whole table. Accounts are made only by the admin CLI, so
    the one partition sees few writes."""
    return {"gsi1pk": ACCOUNTS, "gsi1sk": f"{created_at:012d}#{account_id}"}


def user(user_id: str) -> ItemKey:
    return {"pk": f"USER#{user_id}", "sk": "USER"}


def account_users(account_id: str) -> str:
    """The gsi1pk under which an account's users are listed."""
    return f"{ACCOUNT_PREFIX}{account_id}#USERS"


def user_index(user_id: str, account_id: str) -> ItemKey:
    """A user item's gsi1 attributes."""
    return {"gsi1pk": account_users(account_id), "gsi1sk": f"USER#{user_id}"}


def email_claims(email: str) -> str:
    """The pk of every account's claim on one email."""
    return f"EMAIL#{email}"


def email_claim(email: str, account_id: str) -> ItemKey:
    return {"pk": email_claims(email), "sk": f"{ACCOUNT_PREFIX}{account_id}"}


def account_of_email_claim(sort_key: str) -> str:
    return sort_key.removeprefix(ACCOUNT_PREFIX)


def session(session_id: str) -> ItemKey:
    return {"pk": f"SESSION#{session_id}", "sk": "SESSION"}


def session_ref(user_id: str, session_id: str) -> ItemKey:
    """A session listed under its user in the base table, so that a change of the user
    can list every session with a strongly consistent read (gsi1 is only eventually
    consistent)."""
    return {"pk": user(user_id)["pk"], "sk": f"{SESSION_REF_PREFIX}{session_id}"}


def user_sessions(user_id: str) -> str:
    """The gsi1pk under which a user's sessions are listed, oldest first."""
    return f"USER#{user_id}#SESSIONS"


def session_index(user_id: str, created_at: int, session_id: str) -> ItemKey:
    """A session item's gsi1 attributes."""
    return {"gsi1pk": user_sessions(user_id), "gsi1sk": f"{created_at:012d}#{session_id}"}


def api_key(key_id: str) -> ItemKey:
    return {"pk": f"APIKEY#{key_id}", "sk": "KEY"}


def key_handle(user_id: str, handle: str) -> ItemKey:
    """The claim that makes a key's handle unique per user."""
    return {"pk": user(user_id)["pk"], "sk": f"{KEY_HANDLE_PREFIX}{handle}"}


ACCOUNT_KEYS_PREFIX = "ACCOUNTKEYS#"


def account_keys(account_id: str) -> str:
    """The pk of an account's key refs: every key and bot token of the account, oldest
    first, listed with a strongly consistent Query (`GET /account/keys`, the policy sync)."""
    return f"{ACCOUNT_KEYS_PREFIX}{account_id}"


def account_key_ref(account_id: str, created_at: int, key_id: str) -> ItemKey:
    """A key's ref under its account, written and deleted in the key's own transactions."""
    return {"pk": account_keys(account_id), "sk": f"{created_at:012d}#{key_id}"}


def revocation(revocation_id: str) -> ItemKey:
    return {"pk": f"REVOKED#{revocation_id}", "sk": "REVOKED"}


def login_failures(counter: str) -> ItemKey:
    """A login-failure counter, named by `user_login_counter` or `email_login_counter`."""
    return {"pk": f"LOGINFAIL#{counter}", "sk": "LOGINFAIL"}


def user_login_counter(user_id: str) -> str:
    """The lockout of one user: only that user's own success or reset clears it."""
    return f"USER#{user_id}"


def email_login_counter(email: str) -> str:
    """The throttle of an email that names no user."""
    return f"EMAIL#{email}"


def reset_token(token_hash: str) -> ItemKey:
    return {"pk": f"RESET#{token_hash}", "sk": "RESET"}


def reset_bound(user_id: str) -> ItemKey:
    """When a user's last reset tokens were issued (at most 3 per 15 minutes)."""
    return {"pk": f"RESETBOUND#{user_id}", "sk": "RESETBOUND"}


def audit_events(account_id: str) -> str:
    """The pk of an account's audit events."""
    return f"AUDIT#{account_id}"


def audit_event(account_id: str, at: int, event_id: str) -> ItemKey:
    return {"pk": audit_events(account_id), "sk": f"{at:012d}#{event_id}"}


def signing_keys() -> ItemKey:
    """The published access-token signing keys (public halves), issuer and audience."""
    return {"pk": "OIDC#SIGNING", "sk": "OIDC"}


EXPIRING_PREFIX = "EXPIRING#"


def expiring_on(day: str) -> str:
    """The pk of the expiry markers of the keys that expire on one UTC day (`2026-12-04`):
    the daily expiry warnings query a week of these partitions instead of the table."""
    return f"{EXPIRING_PREFIX}{day}"


def expiry_marker(day: str, key_id: str) -> ItemKey:
    """The marker of a key or bot token with an expiry, written and deleted with the key."""
    return {"pk": expiring_on(day), "sk": f"{KEY_HANDLE_PREFIX}{key_id}"}


def client_login_counter(client_id: str) -> str:
    """The lockout counter of an OAuth client's failed authentications (a `jwt` key)."""
    return f"CLIENT#{client_id}"


def audit_gate(email_digest: str, minute: int) -> ItemKey:
    """The claim of one email's unauthenticated-failure event for one minute."""
    return {"pk": f"AUDITGATE#{email_digest}", "sk": f"{minute:012d}"}


def placeholder(sort_key: str) -> ItemKey:
    """An item written expired, so an unknown email costs what a known one does."""
    return {"pk": PLACEHOLDER_PK, "sk": sort_key}
