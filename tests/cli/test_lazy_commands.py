"""A process running one command imports only the module registering it: the table that says
which module that is (`COMMAND_MODULES`) matches what the modules register."""

from __future__ import annotations

import subprocess
import sys

import click

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


def test_plan_imports_only_its_own_command_module() -> None:
    code = (
        "import sys; from fleetplan.cli import _command; _command('plan'); "
        "print(sorted(m for m in sys.modules if m.startswith('fleetplan.cli.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    shared = {"fleetplan.cli.common", "fleetplan.cli.options"}  # helpers, no commands
    assert set(eval(out)) - shared == {"fleetplan.cli.plan"}


def test_no_command_and_unknown_commands_see_every_command(cli) -> None:
    r = cli("no-such-command")
    assert r.code == 2 and "No such command" in r.err
    assert "plan" in app.commands
