"""The one place that spells each item's keys; nothing else writes `"APIKEY#..."`.

Item layout (single table, `pk`/`sk`, one GSI `gsi1`, TTL attribute `ttl`):

| item           | pk                | sk            | gsi1pk              | gsi1sk         |
|----------------|-------------------|---------------|---------------------|----------------|
| account        | ACCOUNT#<id>      | ACCOUNT       |                     |                |
| user           | USER#<id>         | USER          | ACCOUNT#<id>#USERS  | USER#<id>      |
| email claim    | EMAIL#<email>     | ACCOUNT#<id>  |                     |                |
| session        | SESSION#<id>      | SESSION       | USER#<id>#SESSIONS  | <created>#<id> |
| login failures | LOGINFAIL#<email> | LOGINFAIL     |                     |                |
| API key        | APIKEY#<key id>   | KEY           |                     |                |
| key handle     | USER#<id>         | KEY#<handle>  |                     |                |
| revocation     | REVOKED#<token>   | REVOKED       |                     |                |
| audit event    | AUDIT#<account>   | <at:012d>#<id>|                     |                |
| reset token    | RESET#<sha256>    | RESET         |                     |                |

Each function returns plain strings (`{"pk": ..., "sk": ...}`); `wire` turns a key into
DynamoDB's attribute-value form.
"""

from __future__ import annotations

ItemKey = dict[str, str]

KEY_HANDLE_PREFIX = "KEY#"
ACCOUNT_PREFIX = "ACCOUNT#"
PLACEHOLDER_PK = "AUDIT#-"  # expired-on-arrival items that equalize unknown emails' cost


def wire(key: ItemKey) -> dict[str, dict[str, str]]:
    """A key in DynamoDB's attribute-value form (`{"pk": {"S": ...}, ...}`)."""
    return {name: {"S": value} for name, value in key.items()}


def account(account_id: str) -> ItemKey:
    return {"pk": f"{ACCOUNT_PREFIX}{account_id}", "sk": "ACCOUNT"}


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


def revocation(revocation_id: str) -> ItemKey:
    return {"pk": f"REVOKED#{revocation_id}", "sk": "REVOKED"}


def login_failures(email: str) -> ItemKey:
    return {"pk": f"LOGINFAIL#{email}", "sk": "LOGINFAIL"}


def reset_token(token_hash: str) -> ItemKey:
    return {"pk": f"RESET#{token_hash}", "sk": "RESET"}


def audit_events(account_id: str) -> str:
    """The pk of an account's audit events."""
    return f"AUDIT#{account_id}"


def audit_event(account_id: str, at: int, event_id: str) -> ItemKey:
    return {"pk": audit_events(account_id), "sk": f"{at:012d}#{event_id}"}


def placeholder(sort_key: str) -> ItemKey:
    """An item written expired, so an unknown email costs what a known one does."""
    return {"pk": PLACEHOLDER_PK, "sk": sort_key}
