"""The README is a test: every shell block of "Try it locally" runs, in order, in one
shell, against a local run of its own (`gatekey local`, as `make run` starts it), and
each output the README shows (a `# {...}` or `# 204` line after a command) is what the
block printed (`…` stands for anything).

The blocks are run as written, except that the API's address `127.0.0.1:3000` becomes
this run's port, and the shell's working directory is a scratch folder where `.venv`
points at the project's and `.local` is this run's data folder.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gatekey_local.dynamodb_local import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
SECTION = "## Try it locally"
DEFAULT_API = "127.0.0.1:3000"
MARKER = "@@readme-block-done@@"
# a line that shows what the command above it prints
OUTPUT_LINE = re.compile(r"^# ([{\[]|\d{3}$)")


def shell_blocks(text: str) -> list[str]:
    """The ```sh blocks of the "Try it locally" section, in order."""
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.DOTALL | re.MULTILINE)


def shown_outputs(block: str) -> list[str]:
    """The outputs a block shows, without the remarks after them (`   (…)`)."""
    shown = []
    for line in block.splitlines():
        if OUTPUT_LINE.match(line):
            shown.append(re.split(r"\s{3,}\(", line[2:], maxsplit=1)[0].strip())
    return shown


def as_pattern(shown: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in shown.split("…")]
    return re.compile(".*?".join(parts))


def test_blocks_are_found_and_show_outputs():
    blocks = shell_blocks(README.read_text())
    assert len(blocks) >= 8
    assert all("<" not in block.replace("<<", "") for block in blocks), "placeholders"
    assert sum(len(shown_outputs(block)) for block in blocks) >= 10


@pytest.fixture
def readme_stack(
    tmp_path: Path, dynamodb_endpoint: str
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """`gatekey local` on free ports with its own table and data folder; yields the
    API's base URL and the scratch working directory."""
    work = tmp_path / "work"
    work.mkdir()
    (work / ".venv").symlink_to(REPO_ROOT / ".venv")
    data = work / ".local"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GATEKEY_", "DYNAMODB_", "AWS_"))
    }
    env.update(
        {
            "GATEKEY_PORT": str(port),
            "DYNAMODB_ENDPOINT": dynamodb_endpoint,
            "GATEKEY_TABLE": f"readme-{uuid.uuid4().hex[:8]}",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    log_path = tmp_path / "local-run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(REPO_ROOT / ".venv" / "bin" / "gatekey"), "local", "--data-dir", str(data)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            try:
                requests.get(f"{url}/console", timeout=10)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield url, work, env
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_try_it_locally_runs_in_order(readme_stack):
    url, work, env = readme_stack
    blocks = shell_blocks(README.read_text())
    script = ["set -eu -o pipefail"]
    for block in blocks:
        script += [block.replace(f"http://{DEFAULT_API}", url), f"echo {MARKER}"]
    run = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    outputs = run.stdout.split(MARKER + "\n")
    done = len(outputs) - 1
    assert run.returncode == 0 and done == len(blocks), (
        f"block {done + 1} of {len(blocks)} failed:\n{blocks[min(done, len(blocks) - 1)]}\n"
        f"--- stdout ---\n{outputs[-1][-3000:]}\n--- stderr ---\n{run.stderr[-3000:]}"
    )
    mismatches = [
        f"block {index + 1} shows {shown!r} but printed:\n{printed[-1500:]}"
        for index, (block, printed) in enumerate(zip(blocks, outputs, strict=False))
        for shown in shown_outputs(block.replace(f"http://{DEFAULT_API}", url))
        if not as_pattern(shown).search(printed)
    ]
    assert not mismatches, "\n\n".join(mismatches)
