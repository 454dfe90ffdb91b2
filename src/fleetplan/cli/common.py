"""Options and output helpers shared by the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetplan.errors import InputError
from fleetplan.render.terminal import table

__all__ = [
    "api_overrides",
    "catalog_from",
    "exclusive",
    "json_only",
    "only_with",
    "print_json",
    "table",
]

if TYPE_CHECKING:
    from fleetplan.catalog import Catalog


def exclusive(given: dict[str, Any]) -> None:
    """Refuse options that cannot be used together: {flag: value}, unset is None or False."""
    named = [flag for flag, value in given.items() if value is not None and value is not False]
    if len(named) > 1:
        raise InputError(f"{' and '.join(named)} cannot be used together; give one")


def only_with(
    needed: str, present: bool, given: dict[str, tuple[Any, Any]], show: Any = str
) -> None:
    """Refuse options that only apply with `needed` when it is absent: {flag: (value, default)};
    a value other than its default would change nothing, silently (the default itself is
    harmless, and is what a caller passing every field sends). `show` writes the value."""
    if present:
        return
    for flag, (value, default) in given.items():
        if value != default:
            raise InputError(f"{flag} = {show(value)} applies with {needed} only")


def json_only(flag: str, given: bool, as_json: bool, instead: str = "") -> None:
    """Refuse `flag`, which only adds to the --json output, when the table was asked for: a flag
    silently ignored reads as a flag that worked. `instead`: what shows it in a table's place."""
    if given and not as_json:
        raise InputError(f"{flag} only adds to the --json output; give --json too{instead}")


def catalog_from(paths: list[Path] | None, calibration: list[Path] | None = None) -> Catalog:
    """The packaged catalog with --catalog files, then --calibration profiles, merged over it.

    A calibration profile is a catalog override file holding `[engines.<id>]` factors.
    """
    from fleetplan.catalog import load_catalog

    return load_catalog(*(paths or []), *(calibration or []))


def api_overrides(paths: list[Path] | None, update: bool) -> dict[str, Any]:
    """API prices from --api-prices files (after fetching current prices with --update-prices)."""
    from fleetplan.catalog.api_prices import load_api_overrides, update_prices

    if update:
        update_prices()
    return load_api_overrides(*(paths or []))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
