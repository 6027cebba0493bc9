"""`python -m bench.cost` (also the end of `make bench`): the monthly bill of gatekey's
authorization, written to docs/cost.md so the table is regenerated, never typed.

Inputs: template.yaml (the authorizer's MemorySize and architecture, the defaults of
TouchIntervalSeconds and AuthorizerCacheSeconds), bench/results.json (CPU per warm
authorization and the first authorization of a fresh process, measured by `make bench`
on this machine), gatekey.tokens.keyring.REFRESH_SECONDS, and the prices and workload
assumptions below, each with where it comes from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "cost.md"
READ_ON = "2026-11-23"

# -- prices, us-east-1, USD ---------------------------------------------------------------
# (value, source). Third-party pages were used where the stored copy of AWS's own
# pricing page had no figures; the doc says which.
LAMBDA_REQUEST = (0.20 / 1e6, "lambda")
LAMBDA_GB_SECOND = {
    "arm64": (0.0000133334, "lambda"),
    "x86_64": (0.0000166667, "lambda"),
}
API_REST_REQUEST = (3.50 / 1e6, "apigw")  # first 333 million a month
API_HTTP_REQUEST = (1.00 / 1e6, "apigw")  # first 300 million a month
DYNAMODB_READ_UNIT = (0.125 / 1e6, "dynamodb")  # on-demand read request unit
DYNAMODB_WRITE_UNIT = (0.625 / 1e6, "dynamodb")  # on-demand write request unit
SECRETS_API_CALL = (0.05 / 10_000, "secrets")
SECRET_MONTH = (0.40, "secrets")
PROVISIONED_X86_GB_SECOND = 0.0000097222  # "lambda" source; no arm64 figure found
# Unkey Pro, as issue 20 quotes it: (USD a month, verifications a month included).
UNKEY_PLANS = ((25.0, 250_000), (250.0, 10_000_000))

SOURCES = {
    "lambda": "Lambda requests and arm64/x86 GB-second prices: "
    "https://git.mcrn.ar/mariano/lambda_local_runner/src/branch/main/docs/lambdas-md/"
    "lambda-13-cost.md and https://cloudchipr.com/blog/aws-lambda-pricing (third-party; "
    "the stored https://aws.amazon.com/lambda/pricing/ shows no figures)",
    "cpu": "CPU in proportion to memory, one vCPU at 1,769 MB: "
    "https://docs.amazonaws.cn/lambda/latest/dg/configuration-memory.md (AWS)",
    "init": "INIT phase billed like the handler since 2025-08-01: "
    "https://main.d1m6t5n8e4tvia.amplifyapp.com/blog/"
    "aws-lambda-cost-optimization-pay-per-request-vs-provisioned (third-party)",
    "apigw": "API Gateway REST $3.50 and HTTP $1.00 per million: "
    "https://docs.aws.amazon.com/pt_br/whitepapers/latest/"
    "best-practices-api-gateway-private-apis-integration/cost-optimization.html (AWS)",
    "dynamodb": "DynamoDB on-demand $0.125 per million read and $0.625 per million write "
    "request units: https://airbyte.com/data-engineering-resources/dynamodb-pricing "
    "(third-party); a strongly consistent read up to 4 KB is 1 read unit, a write up to "
    "1 KB 1 write unit: https://developers.scylladb.com/stable/getting-started/dynamodb/"
    "cost/units.html",
    "wru": "Write request units: one write of an item up to 1 KB is 1 unit, each further "
    "started KB another; UpdateItem is charged on the larger of the item's size before and "
    "after the update; a conditional write whose condition fails still consumes write "
    "units: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
    "read-write-operations.html (AWS)",
    "unkey": "Unkey Pro: $25 a month for 250,000 verifications, $250 for 10 million, as "
    "issue 20 quotes them (Unkey's own pricing page is not in the stored pages)",
    "secrets": "Secrets Manager $0.40 per secret-month and $0.05 per 10,000 calls: "
    "https://hivebook.wiki/wiki/aws-secrets-manager-rotated-secrets-dynamic-db-credentials-kms"
    " (third-party)",
}

# -- workload assumptions (not measured; change them here) ---------------------------------
REQUESTS_PER_MAU = 1_000  # API requests a monthly active user makes in a month
ACTIVE_MINUTES_PER_MAU = 200  # minutes of the month with at least one request
ACTIVE_HOURS_PER_MAU = 40  # hours of the month with at least one request
DYNAMODB_ROUND_TRIP_MS = 3.0  # an in-region GetItem/UpdateItem as the function waits on it
COLD_START_SHARE = 0.005  # invocations that start a fresh environment
WARM_ENVIRONMENTS = 1  # environments kept warm through the month (low traffic)
ARM_CPU_FACTOR = 1.0  # Graviton2 time for this machine's CPU-second (unknown: 1.0)
FULL_VCPU_MB = 1769
MONTH_SECONDS = 30 * 24 * 3600
MEMORY_SIZES = (128, 256, 512, 1024, 1769)
# The memory pick: the smallest size whose estimated first authorization in a fresh
# environment stays under this (about half what the boto3 authorizer took at its 1024 MB,
# estimated the same way from the same bench), and whose warm CPU per authorization
# stays under one DynamoDB round trip (so the read, not the CPU, sets the latency).
COLD_BUDGET_MS = 300.0


@dataclass(frozen=True)
class Inputs:
    memory_mb: int
    architecture: str
    touch_interval_seconds: int
    cache_seconds: int
    refresh_seconds: int
    cpu_ms: float  # warm authorization, process time on this machine (worst token kind)
    first_ms: float  # first authorization in a fresh process, wall time on this machine
    old_first_ms: float  # the same for the boto3 authorizer before gatekey.aws
    measured_at: str
    machine: str


def read_inputs() -> Inputs:
    from gatekey.tokens.keyring import REFRESH_SECONDS
    from gatekey_local.cloudformation import load_yaml

    document = load_yaml(TEMPLATE)
    parameters = document.get("Parameters", {})
    function = (
        document["Globals"]["Function"] | document["Resources"]["AuthorizerFunction"]["Properties"]
    )

    def value(raw: Any) -> Any:
        if isinstance(raw, dict) and "Ref" in raw:
            return parameters[raw["Ref"]]["Default"]
        return raw

    results = json.loads(RESULTS.read_text())
    figures = {row["figure"]: row for row in results["figures"]}
    cpu = max(
        float(row["value"])
        for name, row in figures.items()
        if name.startswith("CPU per warm authorization")
    )
    first = figures["first authorization in a fresh process / (import boto3 + client)"]
    old_first = figures["first authorization, boto3 authorizer before gatekey.aws / same floor"]
    return Inputs(
        memory_mb=int(value(function["MemorySize"])),
        architecture=str(value(function.get("Architectures", ["x86_64"]))[0]),
        touch_interval_seconds=int(parameters["TouchIntervalSeconds"]["Default"]),
        cache_seconds=int(parameters["AuthorizerCacheSeconds"]["Default"]),
        refresh_seconds=REFRESH_SECONDS,
        cpu_ms=cpu,
        first_ms=float(first["detail"].split(" ms")[0]),
        old_first_ms=float(old_first["detail"].split(" ms")[0]),
        measured_at=str(results["measured_at"]),
        machine=str(results["machine"]),
    )


def cpu_scale(memory_mb: int) -> float:
    """How much longer a CPU-bound millisecond takes at this memory (one thread)."""
    return max(1.0, FULL_VCPU_MB / memory_mb) * ARM_CPU_FACTOR


def warm_billed_ms(inputs: Inputs, memory_mb: int) -> int:
    return math.ceil(DYNAMODB_ROUND_TRIP_MS + inputs.cpu_ms * cpu_scale(memory_mb))


def cold_ms(inputs: Inputs, memory_mb: int) -> float:
    """A fresh environment's first authorization: imports and keyring are CPU-bound."""
    return inputs.first_ms * cpu_scale(memory_mb) + DYNAMODB_ROUND_TRIP_MS


def old_cold_ms(inputs: Inputs, memory_mb: int = 1024) -> float:
    """The boto3 authorizer's, at the size it had, for comparison."""
    return inputs.old_first_ms * cpu_scale(memory_mb) + DYNAMODB_ROUND_TRIP_MS


@dataclass(frozen=True)
class Bill:
    invocations: float
    lambda_requests: float
    lambda_compute: float
    dynamodb_reads: float
    dynamodb_writes: float
    secrets_calls: float
    api_rest: float
    api_http: float

    @property
    def authorizer(self) -> float:
        """Everything gatekey adds, API Gateway's own request price aside."""
        return (
            self.lambda_requests
            + self.lambda_compute
            + self.dynamodb_reads
            + self.dynamodb_writes
            + self.secrets_calls
        )


def write_units(item_bytes: int) -> int:
    """Write request units of one write: 1 per started KB (the larger of the item before
    and after, for UpdateItem)."""
    return max(1, math.ceil(item_bytes / 1024))


METERED_ITEM_BYTES = 600  # a key item with limits, counters and a small meta (< 1 KB)


def bill(
    inputs: Inputs,
    *,
    requests: float,
    cache_seconds: int,
    memory_mb: int,
    metered: bool = False,
    item_bytes: int = METERED_ITEM_BYTES,
) -> Bill:
    """One month of `requests` API requests from requests / REQUESTS_PER_MAU users.

    ``metered``: every key has a rate limit or credits, so each authorization is one
    conditional UpdateItem that returns the item (write units by ``item_bytes``) instead
    of a GetItem, and the usage counts ride on it (no separate touch write).
    """
    users = requests / REQUESTS_PER_MAU
    if cache_seconds == 0:
        invocations = requests
    else:
        windows = ACTIVE_MINUTES_PER_MAU * max(1.0, 60 / cache_seconds)
        invocations = min(requests, users * windows)
    if inputs.touch_interval_seconds == 0:
        touches = invocations
    else:
        per_user = ACTIVE_HOURS_PER_MAU * max(1.0, 3600 / inputs.touch_interval_seconds)
        touches = min(invocations, users * per_user)
    if metered:
        touches = 0.0
    gb = memory_mb / 1024
    price = LAMBDA_GB_SECOND[inputs.architecture][0]
    cold_starts = invocations * COLD_START_SHARE
    seconds = (
        invocations * warm_billed_ms(inputs, memory_mb)
        + touches * DYNAMODB_ROUND_TRIP_MS
        + cold_starts * cold_ms(inputs, memory_mb)
    ) / 1000
    secrets_calls = WARM_ENVIRONMENTS * MONTH_SECONDS / inputs.refresh_seconds + cold_starts
    return Bill(
        invocations=invocations,
        lambda_requests=invocations * LAMBDA_REQUEST[0],
        lambda_compute=seconds * gb * price,
        dynamodb_reads=0.0 if metered else invocations * DYNAMODB_READ_UNIT[0],
        dynamodb_writes=(invocations * write_units(item_bytes) if metered else touches)
        * DYNAMODB_WRITE_UNIT[0],
        secrets_calls=secrets_calls * SECRETS_API_CALL[0],
        api_rest=requests * API_REST_REQUEST[0],
        api_http=requests * API_HTTP_REQUEST[0],
    )


def pick_memory(inputs: Inputs) -> int:
    for memory in MEMORY_SIZES:
        fast_enough = inputs.cpu_ms * cpu_scale(memory) <= DYNAMODB_ROUND_TRIP_MS
        if fast_enough and cold_ms(inputs, memory) <= COLD_BUDGET_MS:
            return memory
    return MEMORY_SIZES[-1]


TABLE_HEADER = (
    "| authorizer cache | invocations | Lambda requests | Lambda duration | DynamoDB reads "
    "| DynamoDB writes (touches) | Secrets Manager | gatekey total | + REST API | "
    "+ HTTP API |",
    "|---|---|---|---|---|---|---|---|---|---|",
)


def money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 else f"${value:,.4f}"


def render(inputs: Inputs) -> str:
    pick = pick_memory(inputs)
    pc_gb_seconds = inputs.memory_mb / 1024 * MONTH_SECONDS
    lines = [
        "# What authorization costs",
        "",
        "<!-- generated by `python -m bench.cost` (run by `make bench`); edit bench/cost.py -->",
        "",
        f"Model of the monthly AWS bill of gatekey's authorizer, us-east-1, from "
        f"template.yaml (authorizer {inputs.memory_mb} MB, {inputs.architecture}, "
        f"TouchIntervalSeconds {inputs.touch_interval_seconds}, keyring refresh every "
        f"{inputs.refresh_seconds} s per warm environment) and `make bench` of "
        f"{inputs.measured_at} ({inputs.machine}): {inputs.cpu_ms:.2f} ms CPU per warm "
        f"authorization (the costliest token kind), {inputs.first_ms:.0f} ms for the first "
        "authorization of a fresh process. Prices read on "
        f"{READ_ON}; sources at the end.",
        "",
        "## Per million authorization requests",
        "",
        f"{REQUESTS_PER_MAU:,} requests per monthly active user, so a million requests is "
        f"{1e6 / REQUESTS_PER_MAU:,.0f} users. With the authorizer cache on, API Gateway "
        f"calls the authorizer once per credential per cache period: about "
        f"{ACTIVE_MINUTES_PER_MAU} times a month per user at 60 s.",
        "",
        *TABLE_HEADER,
    ]
    per_mau_rows = []
    for cache in (0, 60):
        for requests, rows in ((1e6, lines), (10_000 * REQUESTS_PER_MAU, per_mau_rows)):
            b = bill(inputs, requests=requests, cache_seconds=cache, memory_mb=inputs.memory_mb)
            rows.append(
                f"| {cache} s | {b.invocations:,.0f} | {money(b.lambda_requests)} | "
                f"{money(b.lambda_compute)} | {money(b.dynamodb_reads)} | "
                f"{money(b.dynamodb_writes)} | {money(b.secrets_calls)} | "
                f"**{money(b.authorizer)}** | {money(b.authorizer + b.api_rest)} | "
                f"{money(b.authorizer + b.api_http)} |"
            )
    lines += [
        "",
        "## Per 10,000 monthly active users",
        "",
        f"{10_000 * REQUESTS_PER_MAU:,} requests a month.",
        "",
        *TABLE_HEADER,
        *per_mau_rows,
        "",
        f"Fixed: the signing-keys secret, {money(SECRET_MONTH[0])} a month. API Gateway's "
        "authorizer cache itself costs nothing; it is not the REST API's response cache.",
        "",
        "Beside it, priced per user rather than per request:",
        "",
        "| service | price | found |",
        "|---|---|---|",
        "| Amazon Cognito user pools | per monthly active user above a free allowance, rate "
        "set by the feature plan (Lite, Essentials, Plus); Essentials is the default with "
        "10,000 MAU free (https://c3x.dev/resources/aws/aws_cognito_user_pool/); the stored "
        "copies of https://aws.amazon.com/jp/cognito/pricing/ and "
        "https://www.aws.amazon.com/de/cognito/pricing/ still show the older 50,000-MAU free "
        "tier | the per-MAU rates are **not** in the stored pages: not quoted |",
        "| Unkey | per plan with monthly verification limits; Pro $25 for 250,000 and $250 "
        "for 10 million a month (next section) | as issue 20 quotes them; Unkey's own "
        "pricing page is **not** in the stored pages |",
        "",
        *_native_jwt_section(inputs),
        *_metered_section(inputs),
        "## The authorizer's memory",
        "",
        "CPU scales with memory up to one vCPU at 1,769 MB; the read's wait does not. "
        "Estimated here per size (this machine's CPU time scaled by 1769/MB, "
        f"plus {DYNAMODB_ROUND_TRIP_MS:.0f} ms for the read; cold: first authorization "
        f"scaled alike; {COLD_START_SHARE:.1%} of invocations cold):",
        "",
        "| MemorySize | warm billed ms | first authorization, fresh environment | "
        "gatekey per million (cache 0) |",
        "|---|---|---|---|",
    ]
    for memory in MEMORY_SIZES:
        b = bill(inputs, requests=1e6, cache_seconds=0, memory_mb=memory)
        mark = " (template)" if memory == inputs.memory_mb else ""
        lines.append(
            f"| {memory} MB{mark} | {warm_billed_ms(inputs, memory)} | "
            f"{cold_ms(inputs, memory):.0f} ms | {money(b.authorizer)} |"
        )
    lines += [
        "",
        f"The model's pick: **{pick} MB**, the smallest size whose warm CPU stays under one "
        f"DynamoDB round trip and whose fresh environment answers within "
        f"{COLD_BUDGET_MS:.0f} ms, about half the boto3 authorizer's at its 1024 MB "
        f"(estimated the same way: {old_cold_ms(inputs):.0f} ms). Between sizes the bill "
        "moves by cents per million requests, against $0.20 of Lambda requests and $1.00 to "
        "$3.50 of API Gateway: memory is chosen for latency, and the lean client made the "
        "smaller size enough.",
        "",
        "## Options (template parameters)",
        "",
        "- `AuthorizerProvisionedConcurrency` (default 0 = none): that many environments kept "
        "initialized, billed per GB-second configured whether busy or not, on top of requests "
        "and duration. One environment at the template's "
        f"{inputs.memory_mb} MB for a month is {pc_gb_seconds:,.0f} GB-s: "
        f"{money(pc_gb_seconds * PROVISIONED_X86_GB_SECOND)} at the x86 rate of "
        f"${PROVISIONED_X86_GB_SECOND} per GB-s (the git.mcrn.ar page above); the arm64 "
        "rate is not in the stored pages.",
        "- `AuthorizerSnapStart` (default false): Python 3.12+ functions, billed for the "
        "snapshot cache per GB-second while the version is active and per GB restored "
        "(https://www.hub.pointfive.co/inefficiencies/inefficient-snapstart-configuration-in-"
        "lambda); the rates are not in the stored pages. With imports of ~60 ms left there is "
        "little to restore, so it stays off by default.",
        "",
        "## Assumptions",
        "",
        f"- {REQUESTS_PER_MAU:,} requests, {ACTIVE_MINUTES_PER_MAU} active minutes and "
        f"{ACTIVE_HOURS_PER_MAU} active hours per monthly active user; at most one touch "
        "(UpdateItem) per credential per TouchIntervalSeconds.",
        f"- {DYNAMODB_ROUND_TRIP_MS:.0f} ms per in-region DynamoDB round trip; one strongly "
        "consistent GetItem (1 read unit, items under 4 KB) per invocation; touches are 1 "
        "write unit (items under 1 KB).",
        f"- {WARM_ENVIRONMENTS} environment warm all month re-reading the keyring every "
        f"{inputs.refresh_seconds} s, plus one read per cold start; Graviton2 takes "
        f"{ARM_CPU_FACTOR:.1f}x this machine's CPU time (not measured).",
        "- Free tiers are left out.",
        "",
        "## Sources (read " + READ_ON + ")",
        "",
        *[f"- {text}" for text in SOURCES.values()],
        "",
    ]
    return "\n".join(lines)


def _native_jwt_section(inputs: Inputs) -> list[str]:
    """HTTP API routes on API Gateway's own JWT authorizer (docs/authorizer.md): the
    HTTP API request price only; no Lambda, no DynamoDB, no Secrets Manager per request."""
    lines = [
        "## API Gateway's own JWT authorizer (HTTP APIs)",
        "",
        "A route behind the native JWT authorizer (examples/consumer, GET /native/orders) "
        "costs the HTTP API's request price and nothing more: API Gateway checks the "
        "signature with gatekey's JWKS, which it reads now and then (a few requests a day to "
        "gatekey's JWKS route, left out here). What it gives up for that (revocation before "
        "`exp`, User-Agent binding, limits, meta) is in docs/authorizer.md.",
        "",
        "| HTTP API route | Lambda | DynamoDB | Secrets Manager | gatekey total per million "
        "| with HTTP API | per 10,000 MAU with HTTP API |",
        "|---|---|---|---|---|---|---|",
    ]
    for cache in (0, 60):
        one = bill(inputs, requests=1e6, cache_seconds=cache, memory_mb=inputs.memory_mb)
        many = bill(
            inputs,
            requests=10_000 * REQUESTS_PER_MAU,
            cache_seconds=cache,
            memory_mb=inputs.memory_mb,
        )
        lines.append(
            f"| gatekey's Lambda authorizer, cache {cache} s | "
            f"{money(one.lambda_requests + one.lambda_compute)} | "
            f"{money(one.dynamodb_reads + one.dynamodb_writes)} | {money(one.secrets_calls)} | "
            f"**{money(one.authorizer)}** | "
            f"{money(one.authorizer + one.api_http)} | {money(many.authorizer + many.api_http)} |"
        )
    http = API_HTTP_REQUEST[0]
    lines += [
        f"| native JWT authorizer | $0 | $0 | $0 | **$0** | {money(1e6 * http)} | "
        f"{money(10_000 * REQUESTS_PER_MAU * http)} |",
        "",
    ]
    return lines


def _metered_section(inputs: Inputs) -> list[str]:
    """Metered beside unmetered authorizations, and Unkey's published plans."""
    memory = inputs.memory_mb
    plain = bill(inputs, requests=1e6, cache_seconds=0, memory_mb=memory)
    metered = bill(inputs, requests=1e6, cache_seconds=0, memory_mb=memory, metered=True)
    big = bill(
        inputs, requests=1e6, cache_seconds=0, memory_mb=memory, metered=True, item_bytes=1500
    )
    lines = [
        "## Metered keys (rate limit or credits)",
        "",
        "Limits count authorizer calls, so a metered API runs with the authorizer cache at 0 "
        "(docs/authorizer.md): every request is one authorization. A key without limits is "
        "one strongly consistent GetItem (1 read unit, items up to 4 KB) plus a touch write "
        f"at most every {inputs.touch_interval_seconds} s; a metered key is one conditional "
        "UpdateItem that returns the item, instead of the read, with the usage counts "
        "folded in (1 write unit while the key item stays within 1 KB, before and after "
        "the update; 2 from 1 KB up to 2 KB, e.g. with a large `meta`; a refused "
        "authorization, whose condition failed, is still charged). Same Lambda time "
        f"assumed for both (one {DYNAMODB_ROUND_TRIP_MS:.0f} ms round trip).",
        "",
        "| per million authorizations, cache 0 | Lambda | DynamoDB | gatekey total | "
        "+ REST API | + HTTP API |",
        "|---|---|---|---|---|---|",
    ]
    for label, b in (
        ("unmetered (GetItem)", plain),
        (f"metered, item under 1 KB ({write_units(METERED_ITEM_BYTES)} write unit)", metered),
        (f"metered, item 1-2 KB ({write_units(1500)} write units)", big),
    ):
        lines.append(
            f"| {label} | {money(b.lambda_requests + b.lambda_compute)} | "
            f"{money(b.dynamodb_reads + b.dynamodb_writes)} | **{money(b.authorizer)}** | "
            f"{money(b.authorizer + b.api_rest)} | {money(b.authorizer + b.api_http)} |"
        )
    lines += [
        "",
        "A window's or a refill's first authorization is one UpdateItem more: a key with a "
        "60 s window in use all month adds at most 43,200 writes "
        f"({money(43_200 * DYNAMODB_WRITE_UNIT[0])}).",
        "",
        "Against Unkey's Pro plans (verifications are Unkey's unit; one verification is one "
        "metered authorization here):",
        "",
        "| a month | Unkey | per million | gatekey metered, authorizer only | "
        "with HTTP API | with REST API |",
        "|---|---|---|---|---|---|",
    ]
    for price, verifications in UNKEY_PLANS:
        b = bill(inputs, requests=verifications, cache_seconds=0, memory_mb=memory, metered=True)
        lines.append(
            f"| {verifications:,} | ${price:,.0f} | ${price / verifications * 1e6:,.2f} | "
            f"**{money(b.authorizer)}** | {money(b.authorizer + b.api_http)} | "
            f"{money(b.authorizer + b.api_rest)} |"
        )
    lines += [
        "",
        "API Gateway's own request price is paid with or without gatekey; the authorizer "
        "column is what metering adds. Fixed costs (the signing-keys secret, "
        f"{money(SECRET_MONTH[0])} a month) and free tiers are left out on both sides.",
        "",
    ]
    return lines


def main() -> int:
    DOC.write_text(render(read_inputs()))
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
