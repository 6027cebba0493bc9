"""What is deployed is what is tested: `sam build` the template, then import every
handler from the build output alone, as Lambda would.

Each handler is imported in a fresh interpreter (``-I -S``: no site-packages, no
repository on the path) whose path holds only the function's built directory, the
layer's ``python/`` directory (``/opt/python`` on Lambda) and the packages the Lambda
Python runtime itself provides (boto3 and its dependencies). A module the layer forgot,
or a dependency missing from layers/gatekey/requirements.txt, fails here.

The template is deployed for arm64, whose compiled wheels (argon2, pydantic-core) do
not load on an x86_64 machine: this builds a copy whose Architectures is the host's.
It runs the template's Python (python3.13) when that interpreter is on the PATH (pyenv
or not), else the running one. `make test` installs the SAM CLI first (.tools/sam).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gatekey_local.template import load_template
from tests.helpers import REPO_ROOT
from tests.permission_mutants import TEMPLATE, load_document, write_template

SAM = REPO_ROOT / (os.environ.get("GATEKEY_SAM") or ".tools/sam/bin/sam")  # may be absolute
# What the Lambda Python runtime puts on the path next to /opt/python.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
IMPORT_HANDLER = textwrap.dedent(
    """
    import importlib, sys
    function_dir, layer_dir, runtime_dir, handler = sys.argv[1:5]
    sys.path[:0] = [function_dir, layer_dir, runtime_dir]
    module_name, _, attribute = handler.rpartition(".")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute)), handler
    import gatekey
    assert gatekey.__file__.startswith(layer_dir), gatekey.__file__
    print("imported", handler)
    """
)


def build_python() -> tuple[str, str]:
    """(runtime, interpreter): the template's python3.13 if installed, else this one."""
    environment = {**os.environ, "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.13.0")}
    found = shutil.which("python3.13")
    if found:
        check = subprocess.run(
            [found, "-c", "print(1)"], env=environment, capture_output=True, check=False
        )
        if check.returncode == 0:
            return "python3.13", found
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return version, sys.executable


def host_template(directory: Path, runtime: str) -> Path:
    """template.yaml for this machine's architecture and the chosen Python."""
    document = load_document()
    architecture = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    function_globals = document["Globals"]["Function"]
    function_globals["Architectures"] = [architecture]
    function_globals["Runtime"] = runtime
    layer = document["Resources"]["GatekeyLayer"]
    layer["Properties"]["CompatibleArchitectures"] = [architecture]
    layer["Properties"]["CompatibleRuntimes"] = [runtime]
    layer["Metadata"]["BuildArchitecture"] = architecture
    layer["Metadata"]["BuildMethod"] = runtime
    return write_template(document, directory / "template.yaml")


def runtime_packages(directory: Path) -> Path:
    """A directory holding only what the Lambda runtime provides (linked from this venv)."""
    import boto3

    site = Path(boto3.__file__).resolve().parents[1]
    runtime = directory / "runtime"
    runtime.mkdir()
    for name in RUNTIME_PACKAGES:
        source = site / name if (site / name).is_dir() else site / f"{name}.py"
        assert source.exists(), f"{name} is not installed next to boto3"
        (runtime / source.name).symlink_to(source)
    return runtime


def test_every_handler_imports_from_the_sam_build_output(tmp_path):
    if not SAM.exists():
        if os.environ.get("GATEKEY_SAM"):
            pytest.fail(f"GATEKEY_SAM names {SAM}, which does not exist")
        pytest.skip("SAM CLI not installed: `make templates` installs it under .tools/sam")
    runtime, python = build_python()
    template = host_template(tmp_path, runtime)
    build_dir = tmp_path / "build"
    environment = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.11.7:3.13.0"),
    }
    built = subprocess.run(
        [str(SAM), "build", "--template", str(template), "--build-dir", str(build_dir)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

    layer = build_dir / "GatekeyLayer" / "python"
    assert (layer / "gatekey" / "tokens" / "authorization.py").is_file()
    assert not (layer / "gatekey_local").exists()
    runtime_dir = runtime_packages(tmp_path)
    handler_env = {
        "PATH": os.environ.get("PATH", ""),
        "PYENV_VERSION": environment["PYENV_VERSION"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "build-check",
        "AWS_SECRET_ACCESS_KEY": "build-check",
        "GATEKEY_TABLE": "gatekey",
        "GATEKEY_SECRET": "build-check-" + "x" * 40,
        "DYNAMODB_ENDPOINT": "http://127.0.0.1:9",
        "POWERTOOLS_SERVICE_NAME": "gatekey",
    }
    functions = load_template(TEMPLATE).functions
    assert functions
    for function_id, function in functions.items():
        function_dir = build_dir / function_id
        assert function_dir.is_dir(), f"sam build made no {function_id}"
        imported = subprocess.run(
            [
                python,
                "-I",
                "-S",
                "-c",
                IMPORT_HANDLER,
                str(function_dir),
                str(layer),
                str(runtime_dir),
                function.source.handler,
            ],
            cwd=tmp_path,
            env=handler_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert imported.returncode == 0, f"{function_id}: {imported.stderr[-3000:]}"
