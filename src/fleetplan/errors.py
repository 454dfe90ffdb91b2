"""Errors raised by fleetplan.

The tree::

    FleetplanError                  every error the library raises on purpose
    ├── UnknownNameError            a catalog name (GPU, model, precision, engine, offer) not found
    ├── InputError                  a value out of range or a malformed file (names field + value)
    └── UnsupportedError            a valid combination that cannot run (precision on a GPU, ...)

The CLI prints the message of any of these on one line and exits with status 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# the command that lists each kind of name; a kind without one gets no hint (tests check that
# every command named here exists)
LIST_COMMANDS = {
    "gpu": "gpus",
    "model": "models",
    "precision": "precisions",
    "engine": "engines",
    "provider": "offers",
    "api model": "api models",
    "api model (token-priced)": "api models",
}


class FleetplanError(Exception):
    """Base class of every error fleetplan raises deliberately."""


class InputError(FleetplanError, ValueError):
    """A user-supplied value or file is invalid; the message names the field and value."""


class UnknownNameError(FleetplanError, KeyError):
    """A name was not found in a catalog; the message suggests the nearest known names."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.suggestions = nearest(name, known)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        lister = LIST_COMMANDS.get(kind)
        where = f" (list them with `fleetplan {lister}`)" if lister else ""
        super().__init__(f"unknown {kind} {name!r}{hint}{where}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class UnsupportedError(FleetplanError):
    """The inputs are valid on their own but the combination cannot run."""


def require_extra(module: str, extra: str, purpose: str) -> Any:
    """Import an optional dependency, or say which extra installs it (UnsupportedError)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UnsupportedError(
            f"{purpose} needs {module.split('.')[0]}: pip install 'fleetplan[{extra}]'"
        ) from None


def nearest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The up to `n` known names closest to `name` (by difflib ratio, then by substring)."""
    import difflib  # here, not at the top: only a misspelt name needs it, not every command

    pool = sorted(set(known))
    low = name.lower()
    close = difflib.get_close_matches(low, pool, n=n, cutoff=0.5)
    if len(close) < n:
        close += [k for k in pool if (low in k or k in low) and k not in close][: n - len(close)]
    return close
