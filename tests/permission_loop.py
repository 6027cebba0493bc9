"""Remove each permission of template.yaml in turn and show that a test then fails.

    .venv/bin/python -m tests.permission_loop            # every permission (a few minutes)
    .venv/bin/python -m tests.permission_loop --list     # what would be removed
    .venv/bin/python -m tests.permission_loop --only AuthorizerFunction

For each permission (one action of one inline statement, or one dynamodb:LeadingKeys
prefix of a statement; see tests/permission_mutants.py) it writes a copy of the template
without it and runs the route coverage module (every route once, IAM enforced) plus the
static check of the signing-secret permission against that copy. A permission whose
removal fails no test is either unneeded (remove it from template.yaml) or not
exercised (add a request to tests/e2e/test_route_coverage.py). Exit status 1 if any.

One DynamoDB Local serves all runs (DYNAMODB_ENDPOINT, when set, is used instead).
Not part of `make test`: `make permission-loop` runs it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from tests.permission_mutants import (
    REPO_ROOT,
    TEMPLATE,
    Permission,
    load_document,
    permissions,
    without,
    write_template,
)

TESTS = (
    "tests/e2e/test_route_coverage.py",
    "tests/unit/test_iam_roles.py::test_signing_secret_only_for_functions_that_load_the_keyring",
)


def run_tests(template: Path, endpoint: str) -> tuple[bool, str]:
    """(passed, the first failing test) of the checks against ``template``."""
    environment = {
        **os.environ,
        "GATEKEY_TEST_TEMPLATE": str(template),
        "DYNAMODB_ENDPOINT": endpoint,
    }
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *TESTS, "-x", "-q", "-rf", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", completed.stdout, flags=re.MULTILINE)
    if completed.returncode == 0:
        return True, ""
    return False, failed[0] if failed else f"pytest exit {completed.returncode}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="permission_loop", description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="list the permissions and exit")
    parser.add_argument("--only", default=None, help="only this function's permissions")
    arguments = parser.parse_args(argv)

    document = load_document(TEMPLATE)
    selected: list[Permission] = [
        p for p in permissions(document) if arguments.only in (None, p.function_id)
    ]
    if arguments.list:
        for permission in selected:
            print(permission)
        return 0

    with ExitStack() as stack:
        endpoint = os.environ.get("DYNAMODB_ENDPOINT")
        if not endpoint:
            from gatekey_local.dynamodb_local import DynamoDBLocal

            endpoint = stack.enter_context(DynamoDBLocal()).endpoint
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gatekey-iam-")))
        started = time.monotonic()
        passed, failure = run_tests(TEMPLATE, endpoint)
        print(f"baseline template.yaml: {'pass' if passed else 'FAIL ' + failure}", flush=True)
        if not passed:
            return 1
        survivors = []
        for number, permission in enumerate(selected, 1):
            path = write_template(without(document, permission), directory / f"{number}.yaml")
            passed, failure = run_tests(path, endpoint)
            verdict = "SURVIVED (no test failed)" if passed else f"caught by {failure}"
            print(f"[{number}/{len(selected)}] without {permission}: {verdict}", flush=True)
            if passed:
                survivors.append(permission)
        minutes = (time.monotonic() - started) / 60
    print(
        f"{len(selected) - len(survivors)} of {len(selected)} removals made a test fail "
        f"({minutes:.1f} min)"
    )
    for permission in survivors:
        print(f"  not caught: {permission}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
