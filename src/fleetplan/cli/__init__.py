"""The `fleetplan` command: one thin module per noun, errors as one line.

Exit status: 0 ok; 2 bad input (a value, a file, a usage error, an unsupported combination);
3 when `plan` finds no candidate meeting the SLOs and constraints (its report still prints).
An error is one line on stderr; with `--json` (or `--format json`) it is also one line of JSON
on stdout: `{"error": "<the same line>", "exit_code": 2}`.
Every numeric option of every command is checked against the shared vocabulary of
`fleetplan.validation` (by what its name says it holds) before the command runs.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import click

from fleetplan import __version__
from fleetplan.errors import FleetplanError

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_NO_CANDIDATE = 3


@click.group(
    name="fleetplan",
    no_args_is_help=True,
    context_settings={"show_default": True, "help_option_names": ["--help"]},
)
@click.version_option(
    __version__, "--version", prog_name="fleetplan", message="%(prog)s %(version)s",
    help="Print the version and exit.",
)  # fmt: skip
def app() -> None:
    """Plan, price and route LLM inference: fit, performance, cost and capacity."""


def _checked(cmd: click.Command, path: str) -> None:
    """`cmd`'s callback with its numeric arguments validated (finite, typed, bounded) before it
    runs, and its repeatable options given as a list (None when not given). `path` names the
    command (`forecast`, `route simulate`) for the options whose meaning is its own."""
    fn = cmd.callback
    if fn is None or getattr(fn, "_fleetplan_checked", False):
        return
    numeric = {
        p.name: float if isinstance(p.type, click.types.FloatParamType) else int
        for p in cmd.params
        if p.name is not None
        and isinstance(p.type, click.types.IntParamType | click.types.FloatParamType)
    }
    repeated = {p.name for p in cmd.params if p.multiple or p.nargs == -1}

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from fleetplan.validation import check, option_kind

        for name in repeated:
            if name in kwargs:
                kwargs[name] = list(kwargs[name]) or None
        for name, base in numeric.items():
            value = kwargs.get(name)
            if value is None:
                continue
            flag = "--" + name.replace("_", "-")
            kind = option_kind(name, base, path)
            for v in value if name in repeated else [value]:
                check(flag, v, kind)
        return fn(*args, **kwargs)

    run._fleetplan_checked = True  # type: ignore[attr-defined]
    cmd.callback = run


def _check_all(group: click.Group, prefix: str = "") -> None:
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            _check_all(cmd, f"{prefix}{name} ")
        else:
            _checked(cmd, prefix + name)


# command (or command group) -> the module of this package that registers it, so a process
# running one command imports only that module (a name not listed here imports every module;
# tests/cli/test_lazy_commands.py holds this table to what the modules register)
COMMAND_MODULES = {
    "api": "api_cmds", "breakeven": "econ", "budget": "econ_budget",
    "cache-roi": "capacity_sharing", "calibrate": "calibrate", "cost": "econ", "docs": "docs",
    "engines": "catalog_cmds", "fit": "fit",
    "fleet-mix": "capacity_sharing", "gateway": "route", "gpus": "catalog_cmds",
    "import-offers": "econ_budget", "keys": "keys", "lora": "quant", "measure": "measure",
    "models": "catalog_cmds", "offers": "catalog_cmds", "perf": "perf", "plan": "plan",
    "precisions": "catalog_cmds", "quantize": "quant", "route": "route", "serve": "serve",
    "simulate": "simulate", "tco": "tco", "tenancy": "capacity_sharing",
}  # fmt: skip


def _register(command: str | None = None) -> None:
    """Import the module registering `command` on `app`, or (None, or a name not in
    COMMAND_MODULES) every module of this package."""
    import importlib
    import pkgutil

    module = COMMAND_MODULES.get(command or "")
    if module is not None:
        names = [module]
    else:
        infos = sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        names = [i.name for i in infos if not i.name.startswith("_")]
    for name in names:
        if name not in {"common", "options"}:
            importlib.import_module(f"{__name__}.{name}")
    _check_all(app)


def _one_line(text: str, limit: int = 2000) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _refuse_empty_values(args: list[str]) -> None:
    """An empty option value (`--emit ""`, `-o=`) is an error, never "the current folder"."""
    from fleetplan.errors import InputError

    for i, arg in enumerate(args):
        if arg == "--":
            return
        flag = None
        if arg.startswith("-") and arg.endswith("=") and len(arg) > 2:
            flag = arg[:-1]
        elif arg == "" and i > 0 and args[i - 1].startswith("-") and "=" not in args[i - 1]:
            flag = args[i - 1]
        if flag is not None:
            raise InputError(f"{flag} is empty; give a value")


def _command(command: str | None = None) -> click.Group:
    """The `fleetplan` command group, with at least `command` (None: every command)
    registered."""
    _register(command)
    return app


def _command_name(args: list[str]) -> str | None:
    """The command an argument list names (its first word), or None (no command, or a root
    option such as --version or --help: every command is registered)."""
    return args[0] if args and not args[0].startswith("-") else None


def _wants_json(args: list[str]) -> bool:
    """The command line asks for JSON output (`--json`, `--format json`)."""
    for i, arg in enumerate(args):
        if arg == "--":
            return False
        if arg == "--json" or arg == "--format=json":
            return True
        if arg == "--format" and i + 1 < len(args) and args[i + 1] == "json":
            return True
    return False


def _error(prog: str, message: str, hint: str, code: int, args: list[str]) -> int:
    """An error as one line on stderr and, when JSON was asked for, as one line of JSON on
    stdout (`{"error": ..., "exit_code": ...}`), so a script reading stdout sees it too."""
    print(f"{prog}: error: {message}{hint}", file=sys.stderr)
    if _wants_json(args):
        import json

        print(json.dumps({"error": message, "exit_code": code}))
    return code


def main(argv: list[str] | None = None) -> int:
    """Console entry point. Returns the exit status (see the module docstring)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        _refuse_empty_values(args)
        # without standalone mode a click Exit comes back as its code; commands return None
        # `--version` prints and exits before any command is looked up: none is imported
        group = app if args[:1] == ["--version"] else _command(_command_name(args))
        code = group.main(args=args, prog_name="fleetplan", standalone_mode=False)
    except FleetplanError as exc:
        return _error("fleetplan", _one_line(str(exc)), "", EXIT_BAD_INPUT, args)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `fleetplan`: the help, no error
        print(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        return EXIT_OK
    except click.ClickException as exc:  # a usage error; anything else is a bug: its traceback
        ctx = getattr(exc, "ctx", None)
        where = f" {ctx.command_path}" if ctx is not None else ""
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        msg = _one_line(exc.format_message())
        return _error(
            f"fleetplan{where.removeprefix(' fleetplan')}", msg, hint, exc.exit_code, args
        )
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return code if isinstance(code, int) and not isinstance(code, bool) else EXIT_OK


def run() -> None:
    # fleetplan registers no pydantic plugin (no `pydantic` entry point), so the console command
    # tells pydantic, in its own process and before pydantic is first imported, to skip plugin
    # discovery: otherwise building the first validator scans every installed distribution's
    # entry points (~5 ms of each `fleetplan plan`). A value the user set is kept.
    import os

    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `fleetplan plan | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
        code = 1
    sys.exit(code)
