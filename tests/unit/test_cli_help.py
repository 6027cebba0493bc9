"""The admin CLI explains itself: every command and option has a help text, `--help`
works on each, and `gatekey local` says what is missing without the local extra."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekey_cli import main as cli
from gatekey_local import local_aws


def parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def test_every_command_and_option_has_a_help_text():
    walked = list(parsers(cli.build_parser()))
    commands = {path for path, _ in walked}
    for expected in [
        ("account", "create"),
        ("account", "list"),
        ("user", "create"),
        ("user", "list"),
        ("user", "disable"),
        ("user", "enable"),
        ("user", "delete"),
        ("user", "reset-password"),
        ("key", "list"),
        ("key", "revoke"),
        ("local",),
    ]:
        assert expected in commands
    missing = []
    for path, parser in walked:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [
                    f"gatekey {' '.join(path)} {choice.dest}"
                    for choice in action._choices_actions
                    if not choice.help
                ]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"gatekey {' '.join(path)} {action.option_strings or action.dest}")
    assert missing == []


def test_help_of_each_command_prints_and_exits_0(capsys):
    for path, _ in parsers(cli.build_parser()):
        if path == ("local",):
            continue
        with pytest.raises(SystemExit) as exit_:
            cli.main([*path, "--help"])
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: gatekey"), path


def test_the_installed_command_shows_the_new_commands():
    gatekey = Path(sys.executable).parent / "gatekey"
    done = subprocess.run([gatekey, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for word in ("account", "user", "key", "local", "--aws"):
        assert word in done.stdout


def test_the_cli_knows_where_the_local_run_listens():
    """The CLI does not import the local run (an extra); its defaults are the local run's."""
    assert cli.LOCAL_HOST == local_aws.LOCAL_HOST
    assert cli.LOCAL_REGION == local_aws.LOCAL_REGION
    assert cli.DEFAULT_API_PORT == local_aws.DEFAULT_API_PORT
    assert cli.DEFAULT_DYNAMODB_PORT == local_aws.DEFAULT_DYNAMODB_PORT
    assert dict(local_aws.DUMMY_CREDENTIALS) == cli.LOCAL_CREDENTIALS


def test_the_cli_imports_no_local_module_for_its_commands():
    code = (
        "import sys; import gatekey_cli.main as m; m.build_parser(); "
        "print(sorted(n for n in sys.modules if n.startswith('gatekey_local')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_gatekey_local_without_the_local_extra_says_so():
    """PyYAML (of the `local` extra) made unimportable, in a process of its own."""
    code = (
        "import sys; sys.modules['yaml'] = None; "
        "from gatekey_cli.main import main; raise SystemExit(main(['local']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert "`gatekey local` needs the local extra (yaml is not installed)" in done.stderr
    assert "pip install -e '.[local]'" in done.stderr
    assert "Traceback" not in done.stderr
