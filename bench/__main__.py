"""`make bench`: gatekey's speed, each figure a ratio against a floor measured in the same run.

- authorization: warm `Authorizer.authorize` time per token kind, as the authorizer
  function runs it (on gatekey.aws), / one boto3 GetItem round trip to the same
  endpoint, the floor this figure has always used (target <= 1.1); and, reported, the
  same over a GetItem through gatekey.aws itself (what token checks add to the read);
- DynamoDB calls per warm authorization (<= 1; 0 for malformed or forged tokens);
- cold import of the authorizer function, its client ready / (`import boto3` + a
  DynamoDB client) (<= 0.4), beside the same for the boto3 authorizer it replaced;
- first authorization in a fresh process (import + keyring from a local Secrets Manager
  stand-in + first GetItem + answer) / the same floor, new and boto3 authorizer;
- login: argon2id verify time, and unknown-email / wrong-password login time (~1.0);
- RS256 access tokens (issue 21): warm authorization of an RS256 session access token /
  an HS256 one of the same session (<= 1.1), the cold import of the authorizer with
  the modules a session access token needs / the floor above (<= 0.3), and login time
  with and without signing its access token (ms; the local KMS stand-in signs with a key
  file, on AWS a kms:Sign round trip takes its place).

Cold figures are medians of COLD_ROUNDS fresh interpreters minus the median of an empty
one; other work on the machine moves them, so compare ratios taken in one run.
Prints one table, writes bench/results.json, then regenerates docs/cost.md from it.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
ROUNDS = 300
CPU_ROUNDS = 200
COLD_ROUNDS = 9
LOGIN_ROUNDS = 31


def median_seconds(action: Callable[[], Any], rounds: int) -> float:
    for _ in range(min(20, rounds)):
        action()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def interleaved_medians(actions: list[Callable[[], Any]], rounds: int) -> list[float]:
    """Medians of each action, run in turn each round so drift and load hit all alike."""
    for _ in range(min(20, rounds)):
        for action in actions:
            action()
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(rounds):
        for action, bucket in zip(actions, samples, strict=True):
            start = time.perf_counter()
            action()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in samples]


def paired_medians(
    action: Callable[[], Any], floor: Callable[[], Any], rounds: int
) -> tuple[float, float]:
    """Medians of `action` and `floor`, alternated so that drift and load hit both alike."""
    for _ in range(min(20, rounds)):
        action(), floor()
    action_samples, floor_samples = [], []
    for _ in range(rounds):
        for call, samples in ((action, action_samples), (floor, floor_samples)):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
    return statistics.median(action_samples), statistics.median(floor_samples)


def fresh_process_seconds(runs: dict[str, tuple[str, dict[str, str]]]) -> dict[str, float]:
    """Median wall time of a fresh interpreter running each (code, env), minus an empty
    one's. Rounds interleave every snippet, so load from other work hits all alike."""
    runs = {**runs, "empty": ("pass", next(iter(runs.values()))[1])}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(COLD_ROUNDS):
        for name, (code, env) in runs.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
            samples[name].append(time.perf_counter() - start)
    empty = statistics.median(samples.pop("empty"))
    return {name: statistics.median(values) - empty for name, values in samples.items()}


class SecretsManagerStandIn(http.server.ThreadingHTTPServer):
    """Answers every GetSecretValue with the bench's secret, so a fresh process's first
    authorization reads its keyring over the network as on AWS (unsigned checks)."""

    daemon_threads = True

    def __init__(self, secret: str) -> None:
        body = json.dumps({"SecretString": secret, "Name": "bench"}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


def metering_figures(owner: Any, agent: str, endpoint: str) -> list[dict[str, Any]]:
    """Issue 20: a metered key (ratelimit) against an unmetered one, timed in the same
    run, and their DynamoDB requests counted on the wire (a counting proxy)."""
    from gatekey import aws
    from gatekey.credentials.keys import get_key_service
    from gatekey.settings import get_settings
    from gatekey.store import Store, item_keys
    from gatekey.tokens.authorization import Authorizer, get_authorizer
    from gatekey.tokens.keyring import get_keyring

    keys = get_key_service()
    unmetered = keys.create(
        owner, handle="bench-unmetered", alias=None, key_type="token", expires_at=None
    )["token"]
    metered = keys.create(
        owner,
        handle="bench-metered",
        alias=None,
        key_type="token",
        expires_at=None,
        rules={"ratelimit": {"limit": 1_000_000, "window_seconds": 2_592_000}},
    )["token"]
    authorizer = get_authorizer(lean=True)

    def use(token: str, through: Authorizer = authorizer) -> None:
        through.authorize(f"Bearer {token}", agent, source_ip="10.0.0.1")

    # The floor: DynamoDB's own write against its own read of the same item, by the same
    # client. Against DynamoDB Local a write costs more than a read whatever it does.
    lean = authorizer.store
    item = item_keys.wire(
        item_keys.api_key(lean.get_key_by_handle(owner.user_id, "bench-metered").key_id)
    )

    def raw_get() -> None:
        lean.client.get_item(TableName=lean.table, Key=item, ConsistentRead=True)

    def raw_update() -> None:
        lean.client.update_item(
            TableName=lean.table,
            Key=item,
            UpdateExpression="SET bench_n = if_not_exists(bench_n, :zero) + :one",
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )

    metered_seconds, unmetered_seconds, get_seconds, update_seconds = interleaved_medians(
        [lambda: use(metered), lambda: use(unmetered), raw_get, raw_update], ROUNDS
    )
    ratio = metered_seconds / unmetered_seconds
    floor = update_seconds / get_seconds
    figures: list[dict[str, Any]] = [
        {
            "figure": "warm authorization, metered / unmetered API key",
            "value": round(ratio, 3),
            "detail": f"{metered_seconds * 1e3:.2f} ms vs {unmetered_seconds * 1e3:.2f} ms "
            "(one conditional UpdateItem returning the item vs one GetItem)",
            "target": "<= 1.3",
            "ok": ratio <= 1.3,
        },
        {
            "figure": "floor: a bare UpdateItem (ALL_NEW) / GetItem of the same item",
            "value": round(floor, 3),
            "detail": f"{update_seconds * 1e3:.2f} ms vs {get_seconds * 1e3:.2f} ms: what the "
            "database charges for a write over a read, before any metering",
            "target": "(reported)",
            "ok": True,
        },
        {
            "figure": "metered / unmetered authorization, over that floor",
            "value": round(ratio / floor, 3),
            "detail": "what the metering adds beyond the write itself: the conditions, the "
            "usage count, planning and reading the returned item",
            "target": "(reported)",
            "ok": True,
        },
    ]
    from bench.wire import WireCounter

    proxy = WireCounter(endpoint)
    try:
        settings = get_settings()
        counted = Authorizer(
            Store(aws.DynamoDB(endpoint_url=proxy.url), settings.table_name),
            get_keyring(lean=True),
            settings,
        )
        for kind, token in (("unmetered", unmetered), ("metered", metered)):
            use(token, counted)  # warm: the container has seen the key
            proxy.counts.clear()
            for _ in range(CPU_ROUNDS):
                use(token, counted)
            calls = {op: n / CPU_ROUNDS for op, n in sorted(proxy.counts.items())}
            expected = {"GetItem": 1.0} if kind == "unmetered" else {"UpdateItem": 1.0}
            figures.append(
                {
                    "figure": f"DynamoDB requests on the wire per warm authorization, {kind} key",
                    "value": sum(calls.values()),
                    "detail": ", ".join(f"{op} {n:g}" for op, n in calls.items()),
                    "target": "1 " + next(iter(expected)),
                    "ok": calls == expected,
                }
            )
    finally:
        proxy.stop()
    return figures


def quicken() -> None:
    """`--quick` (what `make test` runs, so the bench cannot rot): each figure measured
    once or a few times, no speed assertion, and results.json and docs/cost.md left as
    they are."""
    global ROUNDS, CPU_ROUNDS, COLD_ROUNDS, LOGIN_ROUNDS
    ROUNDS, CPU_ROUNDS, COLD_ROUNDS, LOGIN_ROUNDS = 3, 3, 1, 3


def main(argv: list[str] | None = None) -> int:
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    if quick:
        quicken()
    from gatekey_local.dynamodb_local import DynamoDBLocal, create_table
    from gatekey_local.local_aws import LOCAL_AWS_ENVIRONMENT
    from gatekey_local.template import load_template

    with DynamoDBLocal() as database:
        table = f"bench-{uuid.uuid4().hex[:6]}"
        os.environ.update(
            {
                "GATEKEY_TABLE": table,
                "DYNAMODB_ENDPOINT": database.endpoint,
                "GATEKEY_SECRET": json.dumps({"current": "k1", "k1": secrets.token_urlsafe(48)}),
                "GATEKEY_TOUCH_INTERVAL_SECONDS": "86400",
                "GATEKEY_LOGIN_MAX_FAILURES": "1000000",
                **LOCAL_AWS_ENVIRONMENT,
            }
        )
        import boto3

        create_table(
            boto3.client("dynamodb", endpoint_url=database.endpoint),
            table,
            load_template(ROOT / "template.yaml", table_name=table),
        )
        publish_local_signing_keys(table)
        results = measure(database.endpoint)
    results["figures"].extend(against_last_run(results["figures"]))
    print_table(results)
    if quick:
        return 0
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    from bench import cost

    cost.main()
    return 0 if all(row["ok"] for row in results["figures"]) else 1


UNMETERED_FIGURE = "authorization time / GetItem (boto3), api_key"


def against_last_run(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unmetered API key's authorization, as a ratio to the GetItem floor, against the
    same ratio in the results.json this run replaces (usage rules must not slow it)."""
    try:
        previous = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return []
    before = next((f for f in previous["figures"] if f["figure"] == UNMETERED_FIGURE), None)
    now = next((f for f in figures if f["figure"] == UNMETERED_FIGURE), None)
    if before is None or now is None:
        return []
    change = now["value"] / before["value"]
    return [
        {
            "figure": "unmetered API key authorization / GetItem, this run / last recorded",
            "value": round(change, 3),
            "detail": f"{now['value']} now vs {before['value']} in {previous['measured_at']}'s run",
            "target": "<= 1.05",
            "ok": change <= 1.05,
        }
    ]


def publish_local_signing_keys(table: str) -> None:
    """The access-token signing key as the local run has it: a key file behind the local
    KMS stand-in, published in the table (gatekey_local.signing_keys)."""
    import tempfile

    from gatekey_local.signing_keys import publish_signing_keys
    from gatekey_local.template import load_template

    os.environ["GATEKEY_LOCAL_KMS_DIR"] = tempfile.mkdtemp(prefix="gatekey-bench-kms-")
    template = load_template(ROOT / "template.yaml", table_name=table)
    publish_signing_keys(template, "http://127.0.0.1:3000", os.environ)


def access_token_figures(
    authorizer: Any, session_token: str, agent: str, email: str, password: str
) -> list[dict[str, Any]]:
    """RS256 against HS256 on the same session, and what signing adds to a login."""
    from gatekey.accounts.sessions import SessionService, get_session_service
    from gatekey.tokens import access_tokens, session_tokens
    from gatekey.tokens.authorization import jwt_kid

    kid = jwt_kid(session_token)
    claims = authorizer._authorize_access_token(  # the session this RS256 token belongs to
        session_token, kid, agent, enforce=False, sessions_allowed=True, source_ip=None
    )
    now = int(time.time())
    hs256_token = session_tokens.issue(  # the access tokens gatekey issued before issue 21
        authorizer.keyring,
        user_id=claims.user_id,
        session_id=str(claims.session_id),
        token_use=session_tokens.ACCESS,
        issued_at=now,
        expires_at=now + 3600,
    )
    rs256_seconds, hs256_seconds = paired_medians(
        lambda: authorizer.authorize(f"Bearer {session_token}", agent),
        lambda: authorizer.authorize(f"Bearer {hs256_token}", agent),
        ROUNDS,
    )
    ratio = rs256_seconds / hs256_seconds

    def first_sight() -> None:
        access_tokens.forget_verified()
        authorizer.authorize(f"Bearer {session_token}", agent)

    unseen_seconds, hs256_again = paired_medians(
        first_sight, lambda: authorizer.authorize(f"Bearer {hs256_token}", agent), ROUNDS
    )
    figures = [
        {
            "figure": "warm authorization, RS256 / HS256 session access token",
            "value": round(ratio, 3),
            "detail": f"{rs256_seconds * 1e3:.2f} ms vs {hs256_seconds * 1e3:.2f} ms "
            "(same session, same GetItem; the container remembers checked signatures)",
            "target": "<= 1.1",
            "ok": ratio <= 1.1,
        },
        {
            "figure": "warm authorization of an RS256 token not seen before / HS256",
            "value": round(unseen_seconds / hs256_again, 3),
            "detail": f"{unseen_seconds * 1e3:.2f} ms vs {hs256_again * 1e3:.2f} ms: the "
            "pure-Python RSA check, once per token and container",
            "target": "(reported)",
            "ok": True,
        },
    ]

    class NoSigning:
        """Answers kms:Sign with a dummy signature: login without the signing cost."""

        def sign(self, **_: Any) -> dict[str, Any]:
            return {"Signature": bytes(256)}

    service = get_session_service()
    unsigned = SessionService(service.store, service.keyring, service.settings, NoSigning())
    signed_seconds, unsigned_seconds = paired_medians(
        lambda: service.login(email, password, None, agent),
        lambda: unsigned.login(email, password, None, agent),
        LOGIN_ROUNDS,
    )
    from gatekey.tokens import signing_keys

    document = signing_keys.current_document(service.store)
    sign_seconds = median_seconds(
        lambda: access_tokens.issue(
            signing_keys.get_kms(),
            document,
            user_id=claims.user_id,
            account_id=claims.account_id,
            scopes=("*",),
            issued_at=now,
            expires_at=now + 60,
            session_id=str(claims.session_id),
        ),
        CPU_ROUNDS,
    )
    figures.append(
        {
            "figure": "access token signing time (ms), local KMS stand-in",
            "value": round(sign_seconds * 1e3, 2),
            "detail": "RSA 2048 PKCS #1 v1.5 with a key file (cryptography); on AWS a "
            "kms:Sign call (a regional round trip) takes its place",
            "target": "(reported)",
            "ok": True,
        }
    )
    figures.append(
        {
            "figure": "login time with / without signing the access token (ms)",
            "value": round((signed_seconds - unsigned_seconds) * 1e3, 2),
            "detail": f"{signed_seconds * 1e3:.1f} ms vs {unsigned_seconds * 1e3:.1f} ms: "
            "the difference is one RS256 signature (local key file; on AWS one kms:Sign)",
            "target": "(reported)",
            "ok": True,
        }
    )
    return figures


def measure(endpoint: str) -> dict[str, Any]:
    import jwt

    from gatekey.accounts import passwords, users
    from gatekey.accounts.sessions import get_session_service
    from gatekey.credentials.keys import get_key_service
    from gatekey.errors import GatekeyError
    from gatekey.principal import Principal
    from gatekey.store import get_lean_store, get_store, item_keys
    from gatekey.tokens.authorization import get_authorizer

    store = get_store()  # boto3, as the handlers that create the credentials
    lean = get_lean_store()  # gatekey.aws, as the authorizer function
    account = users.create_account(store, "Bench")["account_id"]
    email = "bench@example.com"
    password = "correct horse battery staple"
    user = users.create_user(store, account_id=account, email=email, password=password)
    agent = "bench/1.0"
    session_token = get_session_service().login(email, password, None, agent)["access_token"]
    owner = Principal(
        user_id=user.user_id,
        account_id=account,
        email=email,
        role="member",
        is_bot=False,
        token_type="session",
    )
    keys = get_key_service()
    api_key = keys.create(owner, handle="bench", alias=None, key_type="token", expires_at=None)
    jwt_key = keys.create(owner, handle="bench-jwt", alias=None, key_type="jwt", expires_at=None)
    client_jwt = jwt.encode(
        {"exp": int(time.time()) + 3600, "jti": "bench"},
        jwt_key["secret"],
        algorithm="HS256",
        headers={"kid": jwt_key["kid"]},
    )
    authorizer = get_authorizer(lean=True)
    tokens = {
        "session": session_token,
        "api_key": api_key["token"],
        "client_jwt": client_jwt,
    }

    # The floor reads an item of the same size class as the ones authorization reads.
    bench_key = store.get_key_by_handle(user.user_id, "bench")
    assert bench_key is not None
    key = item_keys.wire(item_keys.api_key(bench_key.key_id))

    def get_item() -> None:
        lean.client.get_item(TableName=lean.table, Key=key, ConsistentRead=True)

    def boto3_get_item() -> None:
        store.client.get_item(TableName=store.table, Key=key, ConsistentRead=True)

    figures: list[dict[str, Any]] = []
    lean_get, boto3_get = paired_medians(get_item, boto3_get_item, ROUNDS)
    figures.append(
        {
            "figure": "GetItem round trip, gatekey.aws / boto3",
            "value": round(lean_get / boto3_get, 3),
            "detail": f"{lean_get * 1e3:.2f} ms vs {boto3_get * 1e3:.2f} ms",
            "target": "(reported)",
            "ok": True,
        }
    )
    for kind, token in tokens.items():
        header = f"Bearer {token}"
        seconds, boto3_seconds, lean_seconds = interleaved_medians(
            [lambda header=header: authorizer.authorize(header, agent), boto3_get_item, get_item],
            ROUNDS,
        )
        ratio = seconds / boto3_seconds
        figures.append(
            {
                "figure": f"authorization time / GetItem (boto3), {kind}",
                "value": round(ratio, 3),
                "detail": f"{seconds * 1e3:.2f} ms vs {boto3_seconds * 1e3:.2f} ms",
                "target": "<= 1.1",
                "ok": ratio <= 1.1,
            }
        )
        figures.append(
            {
                "figure": f"authorization time / GetItem (gatekey.aws), {kind}",
                "value": round(seconds / lean_seconds, 3),
                "detail": f"{seconds * 1e3:.2f} ms vs {lean_seconds * 1e3:.2f} ms: "
                "token checks' CPU over the same client's read",
                "target": "(reported)",
                "ok": True,
            }
        )
        before, cpu_before = lean.calls, time.process_time()
        for _ in range(CPU_ROUNDS):
            authorizer.authorize(header, agent)
        calls = (lean.calls - before) / CPU_ROUNDS
        cpu_ms = (time.process_time() - cpu_before) / CPU_ROUNDS * 1e3
        figures.append(
            {
                "figure": f"CPU per warm authorization (ms), {kind}",
                "value": round(cpu_ms, 3),
                "detail": "process time, gatekey.aws request signing and parsing included",
                "target": "(reported)",
                "ok": True,
            }
        )
        figures.append(
            {
                "figure": f"DynamoDB calls per warm authorization, {kind}",
                "value": calls,
                "detail": "",
                "target": "<= 1",
                "ok": calls <= 1,
            }
        )

    forged = (
        api_key["token"][:-8]
        + ("A" if api_key["token"][-8] != "A" else "B")
        + api_key["token"][-7:]
    )
    bad_tokens = {
        "garbage": "Bearer not-a-token",
        "forged api key": f"Bearer {forged}",
        "truncated api key": f"Bearer {api_key['token'][:40]}",
        "jwt without kid": "Bearer " + jwt.encode({"exp": 1}, "x" * 32, algorithm="HS256"),
    }
    for kind, header in bad_tokens.items():
        before = lean.calls
        for _ in range(50):
            with contextlib.suppress(GatekeyError):
                authorizer.authorize(header, agent)
        calls = (lean.calls - before) / 50
        figures.append(
            {
                "figure": f"DynamoDB calls per authorization, {kind}",
                "value": calls,
                "detail": "",
                "target": "0",
                "ok": calls == 0,
            }
        )

    figures.extend(metering_figures(owner, agent, endpoint))
    figures.extend(access_token_figures(authorizer, session_token, agent, email, password))
    figures.extend(cold_figures(f"Bearer {api_key['token']}", agent, f"Bearer {session_token}"))

    encoded = passwords.hash_password(password)
    verify = median_seconds(lambda: passwords.verify_password(encoded, password), LOGIN_ROUNDS)
    figures.append(
        {
            "figure": "argon2id verify time (ms)",
            "value": round(verify * 1e3, 1),
            "detail": f"m={passwords.MEMORY_COST_KIB} KiB, t={passwords.TIME_COST}, p=1 "
            "(OWASP minimum: m=19456, t=2, p=1)",
            "target": "OWASP parameters",
            "ok": passwords.MEMORY_COST_KIB >= 19456 and passwords.TIME_COST >= 2,
        }
    )
    service = get_session_service()

    def failed_login(address: str) -> None:
        with contextlib.suppress(GatekeyError):
            service.login(address, "wrong password", None, agent)

    unknown, wrong = paired_medians(
        lambda: failed_login("nobody@example.com"), lambda: failed_login(email), LOGIN_ROUNDS
    )
    figures.append(
        {
            "figure": "login time, unknown email / wrong password",
            "value": round(unknown / wrong, 3),
            "detail": f"{unknown * 1e3:.1f} ms vs {wrong * 1e3:.1f} ms",
            "target": "0.8 .. 1.2",
            "ok": 0.8 <= unknown / wrong <= 1.2,
        }
    )
    return {
        "command": "make bench",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "dynamodb": f"DynamoDB Local at {endpoint}",
        "figures": figures,
    }


COLD_TARGET = 0.4
AUTHORIZER_PATH = "import sys; sys.path.insert(0, 'functions/authorizer'); "
NEW_IMPORT = AUTHORIZER_PATH + "import app"
# What functions/authorizer/app.py imported and built before gatekey.aws (issue 13).
OLD_IMPORT = (
    AUTHORIZER_PATH + "import gatekey.edges.authorizer_events, gatekey.tokens.authorization; "
    "from gatekey.store import get_store; get_store()"
)
FIRST_AUTHORIZATION = """
import json, sys
sys.path.insert(0, 'functions/authorizer')
event = {{"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:1:a/v1/GET/",
          "headers": {{"Authorization": {header!r}, "User-Agent": {agent!r}}}}}
{body}
assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow", answer
"""
NEW_FIRST = "import app\nanswer = app.lambda_handler(event, None)"
SESSION_TOKEN_TARGET = 0.3
# The authorizer with what an RS256 session access token makes it import on first use.
SESSION_IMPORT = NEW_IMPORT + "; import gatekey.tokens.access_tokens, gatekey.tokens.signing_keys"
OLD_FIRST = (
    "import gatekey.edges.authorizer_events as events\n"
    "from gatekey.tokens.authorization import get_authorizer\n"
    "from gatekey.store import get_store\n"
    "get_store()\n"
    "request = events.read_event(event)\n"
    "principal = get_authorizer().authorize(request.authorization, request.user_agent)\n"
    "answer = events.allow(request, principal, simple=True)"
)


def cold_figures(header: str, agent: str, session_header: str) -> list[dict[str, Any]]:
    """Fresh-process figures against one floor: `import boto3` + a DynamoDB client.

    Imports run with AWS's endpoints (no DYNAMODB_ENDPOINT), as deployed. First
    authorizations read the keyring from a local Secrets Manager stand-in and the key
    from DynamoDB Local, over plain HTTP: TLS (CA certificates, handshakes) is left out
    for both clients alike.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    aws_env = {k: v for k, v in env.items() if k != "DYNAMODB_ENDPOINT"}
    secret = env.pop("GATEKEY_SECRET")
    with SecretsManagerStandIn(secret) as stand_in:
        thread = threading.Thread(target=stand_in.serve_forever, daemon=True)
        thread.start()
        first_env = {
            **env,
            "GATEKEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:bench",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": stand_in.url,
        }
        first = {
            name: (FIRST_AUTHORIZATION.format(header=header, agent=agent, body=body), first_env)
            for name, body in (("first_new", NEW_FIRST), ("first_old", OLD_FIRST))
        }
        first["first_session"] = (
            FIRST_AUTHORIZATION.format(header=session_header, agent=agent, body=NEW_FIRST),
            first_env,
        )
        seconds = fresh_process_seconds(
            {
                "floor": ("import boto3; boto3.client('dynamodb')", aws_env),
                "new": (NEW_IMPORT, aws_env),
                "session": (SESSION_IMPORT, aws_env),
                "old": (OLD_IMPORT, aws_env),
                **first,
            }
        )
        stand_in.shutdown()
    floor, new, old = seconds["floor"], seconds["new"], seconds["old"]
    session = seconds["session"]
    return [
        {
            "figure": "cold import of authorizer with a session access token / same floor",
            "value": round(session / floor, 3),
            "detail": f"{session * 1e3:.0f} ms vs {floor * 1e3:.0f} ms: the RS256 check is "
            "pure Python (no cryptography import)",
            "target": f"<= {SESSION_TOKEN_TARGET}",
            "ok": session / floor <= SESSION_TOKEN_TARGET,
        },
        {
            "figure": "first authorization of an RS256 session token, fresh process / floor",
            "value": round(seconds["first_session"] / floor, 3),
            "detail": f"{seconds['first_session'] * 1e3:.0f} ms: import, keyring, published "
            "keys (GetItem), session (GetItem), answer",
            "target": "(reported)",
            "ok": True,
        },
        {
            "figure": "cold import of authorizer, client ready / (import boto3 + DynamoDB client)",
            "value": round(new / floor, 3),
            "detail": f"{new * 1e3:.0f} ms vs {floor * 1e3:.0f} ms (median of {COLD_ROUNDS})",
            "target": f"<= {COLD_TARGET}",
            "ok": new / floor <= COLD_TARGET,
        },
        {
            "figure": "cold import of the boto3 authorizer before gatekey.aws / same floor",
            "value": round(old / floor, 3),
            "detail": f"{old * 1e3:.0f} ms vs {floor * 1e3:.0f} ms",
            "target": "(reported)",
            "ok": True,
        },
        {
            "figure": "first authorization in a fresh process / (import boto3 + client)",
            "value": round(seconds["first_new"] / floor, 3),
            "detail": f"{seconds['first_new'] * 1e3:.0f} ms: import, keyring, GetItem, answer",
            "target": "(reported)",
            "ok": True,
        },
        {
            "figure": "first authorization, boto3 authorizer before gatekey.aws / same floor",
            "value": round(seconds["first_old"] / floor, 3),
            "detail": f"{seconds['first_old'] * 1e3:.0f} ms",
            "target": "(reported)",
            "ok": True,
        },
    ]


def print_table(results: dict[str, Any]) -> None:
    rows = [("figure", "value", "target", "ok", "detail")]
    rows += [
        (
            row["figure"],
            str(row["value"]),
            row["target"],
            "yes" if row["ok"] else "NO",
            row["detail"],
        )
        for row in results["figures"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    print(f"\n{results['machine']}; {results['dynamodb']}")


if __name__ == "__main__":
    raise SystemExit(main())
