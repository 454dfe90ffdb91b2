"""The `fleetplan` command: one thin module per noun, errors as one line and exit status 2."""

from __future__ import annotations

import functools
import sys
from typing import Any

import typer

from fleetplan.errors import FleetplanError

app = typer.Typer(
    name="fleetplan",
    help="Plan, price and route LLM inference: fit, performance, cost and capacity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _register() -> None:
    """Import every module of this package: each registers its commands on `app`."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if not info.name.startswith("_") and info.name != "common":
            importlib.import_module(f"{__name__}.{info.name}")


@functools.cache
def _command() -> Any:
    """The click command behind `app`, built once per process (typer rebuilds it per call,
    which costs ~0.2 s for every in-process call such as the web API's)."""
    _register()
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> int:
    """Console entry point. Returns the exit status (0 ok, 2 bad input or unsupported)."""
    try:
        _command()(args=argv, prog_name="fleetplan")
    except FleetplanError as exc:
        print(f"fleetplan: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # typer exits after every command; usage errors exit 2
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def run() -> None:
    sys.exit(main())
