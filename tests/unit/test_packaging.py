"""Our own packaging gives pip and setuptools nothing to warn about (issue 19).

Building the package here would need setuptools >= 77 from an index, so this checks the
fields that setuptools warns about instead: the license as an SPDX expression (PEP 639)
with a setuptools that reads it, and every folder setuptools sees as a package listed
in `packages` (a folder of data files is a package too, e.g. `gatekey.data`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_license_is_an_spdx_expression_with_a_setuptools_that_reads_it():
    assert PYPROJECT["project"]["license"] == "MIT"
    assert not any(
        classifier.startswith("License ::")
        for classifier in PYPROJECT["project"].get("classifiers", [])
    ), "PEP 639: no license classifier next to an SPDX expression"
    [requirement] = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    found = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", requirement)
    assert found is not None and int(found.group(1)) >= 77, requirement


def test_every_folder_of_the_packages_is_listed():
    listed = set(SETUPTOOLS["packages"])
    for top, folder in SETUPTOOLS["package-dir"].items():
        root = REPO / folder
        for path in [root, *root.rglob("*")]:
            if not path.is_dir() or path.name == "__pycache__" or path.name.startswith("."):
                continue
            if not any(child.is_file() for child in path.iterdir()):
                continue
            name = ".".join([top, *path.relative_to(root).parts])
            assert name in listed, f"{name} ({path.relative_to(REPO)}) is not in packages"
    assert listed <= {
        ".".join([top, *path.relative_to(REPO / folder).parts])
        for top, folder in SETUPTOOLS["package-dir"].items()
        for path in [REPO / folder, *(REPO / folder).rglob("*")]
        if path.is_dir()
    }, "a listed package has no folder"


def test_the_common_password_list_is_package_data():
    assert SETUPTOOLS["package-data"]["gatekey.data"] == ["*"]
    data = REPO / "layers" / "gatekey" / "gatekey" / "data"
    assert (data / "common-passwords.txt.gz").is_file()
