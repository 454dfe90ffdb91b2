"""fleetplan: plan, price and route LLM inference.

The public library surface is small and loads lazily (so the CLI starts fast); everything else
is reachable through its module.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Catalog": "fleetplan.catalog",
    "FleetplanError": "fleetplan.errors",
    "InputError": "fleetplan.errors",
    "UnknownNameError": "fleetplan.errors",
    "UnsupportedError": "fleetplan.errors",
    "estimate_fit": "fleetplan.estimate",
    "estimate_perf": "fleetplan.estimate",
    "load_catalog": "fleetplan.catalog",
    "load_scenario": "fleetplan.scenario",
    "make_plan": "fleetplan.plan",
    "parse_scenario": "fleetplan.scenario",
    "resolve_model": "fleetplan.catalog",
}

__all__ = [
    "Catalog",
    "FleetplanError",
    "InputError",
    "UnknownNameError",
    "UnsupportedError",
    "__version__",
    "estimate_fit",
    "estimate_perf",
    "load_catalog",
    "load_scenario",
    "make_plan",
    "parse_scenario",
    "resolve_model",
]

if TYPE_CHECKING:
    from fleetplan.catalog import Catalog, load_catalog, resolve_model
    from fleetplan.errors import FleetplanError, InputError, UnknownNameError, UnsupportedError
    from fleetplan.estimate import estimate_fit, estimate_perf
    from fleetplan.plan import make_plan
    from fleetplan.scenario import load_scenario, parse_scenario


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fleetplan' has no attribute {name!r}")
    return getattr(import_module(module), name)
