"""Counters as CloudWatch embedded metric format (EMF) log lines: no API calls.

CloudWatch turns each JSON line below into a metric of namespace `gatekey`, with the
service and the given dimensions (docs/architecture.md lists them; template.yaml alarms
on some). Handlers write them with Powertools' `single_metric`. The authorizer writes
the very same document with the standard library: its cold start is paid by every API
that attaches it, and importing Powertools' metrics costs 13-40 ms there, a quarter to
the whole of its import (tests/unit/test_metrics.py checks the two documents agree).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

NAMESPACE = "gatekey"
SERVICE_ENV = "POWERTOOLS_SERVICE_NAME"
DEFAULT_SERVICE = "gatekey"

AUTHORIZATIONS = "Authorizations"  # dimensions: outcome (allow/deny/refused/error), token_type
LOGINS = "Logins"  # dimension: outcome (success/failure/mfa_required/throttled)
LOCKOUTS = "Lockouts"  # an email locked after too many failures


def emf_document(name: str, dimensions: dict[str, str], *, timestamp_ms: int) -> dict[str, Any]:
    """One Count of 1 for `name`, in the shape Powertools' `single_metric` prints."""
    labels = {"service": os.environ.get(SERVICE_ENV) or DEFAULT_SERVICE, **dimensions}
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(labels)],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
            ],
        },
        **labels,
        name: [1.0],
    }


def emit(name: str, **dimensions: str) -> None:
    """The authorizer's counter: one EMF line on stdout, standard library only."""
    document = emf_document(name, dimensions, timestamp_ms=int(time.time() * 1000))
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")


def count(name: str, **dimensions: str) -> None:
    """A handler's counter, through Powertools (flushed at once, not per invocation)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": os.environ.get(SERVICE_ENV) or DEFAULT_SERVICE},
    ) as metric:
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)
