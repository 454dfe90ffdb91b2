"""A process running one command imports only the module registering it: the table that says
which module that is (`COMMAND_MODULES`) matches what the modules register."""

from __future__ import annotations

import subprocess
import sys

import click

import fleetplan
from fleetplan.cli import COMMAND_MODULES, _register, app


def _registered() -> dict[str, str]:
    """Every top-level command and group name -> the module that registers it."""
    _register()
    out = {}
    for name, cmd in app.commands.items():
        if isinstance(cmd, click.Group):  # a group: the module holding it
            out[name] = next(
                m.__name__.rsplit(".", 1)[-1]
                for m in list(sys.modules.values())
                if m is not None
                and m.__name__.startswith("fleetplan.cli.")
                and any(v is cmd for v in vars(m).values())
            )
        else:
            out[name] = cmd.callback.__module__.rsplit(".", 1)[-1]  # type: ignore[union-attr]
    return out


def test_every_listed_command_is_registered_by_its_module() -> None:
    registered = _registered()
    for name, module in COMMAND_MODULES.items():
        assert registered.get(name) == module, name


def _cli_modules_after(statement: str) -> tuple[list[str], set[str]]:
    """What a new interpreter running `statement` (with fleetplan.cli imported) printed, and
    the fleetplan.cli submodules it then held."""
    code = (
        f"import sys; from fleetplan.cli import _command, main; {statement}; "
        "print(sorted(m for m in sys.modules if m.startswith('fleetplan.cli.')))"
    )
    lines = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    return lines[:-1], set(eval(lines[-1]))


def test_plan_imports_only_its_own_command_module() -> None:
    _, modules = _cli_modules_after("_command('plan')")
    shared = {"fleetplan.cli.common", "fleetplan.cli.options"}  # helpers, no commands
    assert modules - shared == {"fleetplan.cli.plan"}


def test_version_imports_no_command_module() -> None:
    printed, modules = _cli_modules_after("print(main(['--version']))")
    assert printed == ["fleetplan " + fleetplan.__version__, "0"] and modules == set()


def test_no_command_and_unknown_commands_see_every_command(cli) -> None:
    r = cli("no-such-command")
    assert r.code == 2 and "No such command" in r.err
    assert "plan" in app.commands
