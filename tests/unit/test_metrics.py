"""EMF counters: the authorizer's stdlib document is the one Powertools prints."""

import json

import pytest

from gatekey import metrics


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_stdlib_and_powertools_documents_agree(capsys):
    metrics.count(metrics.LOGINS, outcome="success")
    (powertools,) = lines(capsys.readouterr().out)
    metrics.emit(metrics.LOGINS, outcome="success")
    (ours,) = lines(capsys.readouterr().out)
    for document in (powertools, ours):
        document["_aws"].pop("Timestamp")
    assert ours == powertools


@pytest.mark.parametrize("dimensions", [{}, {"outcome": "deny", "token_type": "unknown"}])
def test_documents_are_valid_emf(capsys, dimensions):
    metrics.emit(metrics.AUTHORIZATIONS, **dimensions)
    (document,) = lines(capsys.readouterr().out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "gatekey"
    assert directive["Metrics"] == [{"Name": "Authorizations", "Unit": "Count"}]
    (dimension_set,) = directive["Dimensions"]
    assert dimension_set == ["service", *dimensions]
    assert all(isinstance(document[name], str) for name in dimension_set)
    assert document["Authorizations"] == [1.0]
    assert isinstance(document["_aws"]["Timestamp"], int)
