"""The option blocks commands share, defined once: a flag that several commands take means the
same thing, with the same help and the same checks, in each of them.

Each block is a decorator factory: a command takes it as `@gpu_opt()` (a required option),
`@engine_opt(default="vllm")` or `@json_opt("as_json")` (its own parameter name); the default
stays in the command, where it can differ. Numeric options are checked by name against
`fleetplan.validation` when the command runs (`fleetplan.cli._checked`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[F], F]

_REQUIRED: Any = object()
PATH = click.Path(path_type=Path)


def _option(
    flag: str, help: str, natural: Any = _REQUIRED, **attrs: Any
) -> Callable[..., Decorator]:
    """A factory of `flag` options: (parameter name, default) -> a click option decorator.

    `natural` is the default a command gets without giving one (_REQUIRED: the option is
    required)."""

    def make(name: str | None = None, default: Any = natural) -> Decorator:
        decls = [flag] if name is None else [flag, name]
        if default is _REQUIRED:
            return click.option(*decls, required=True, help=help, **attrs)
        return click.option(*decls, default=default, help=help, **attrs)

    return make


def _flag(flag: str, help: str) -> Callable[..., Decorator]:
    """A factory of on/off `flag` options (off unless given)."""

    def make(name: str | None = None) -> Decorator:
        decls = [flag] if name is None else [flag, name]
        return click.option(*decls, is_flag=True, help=help)

    return make


def _paths(flag: str, help: str) -> Callable[..., Decorator]:
    """A factory of repeatable file options (None when not given)."""
    return _option(flag, help, None, type=PATH, multiple=True)


# output
json_opt = _flag("--json", "Print JSON instead of a table.")
explain_opt = _flag("--explain", "Show the calculation step by step.")

# catalogs and calibration
catalog_opt = _paths(
    "--catalog",
    "TOML file adding or overriding GPUs, models, engines and offers (repeatable).",
)
calibration_opt = _paths(
    "--calibration",
    "Calibration profile written by `fleetplan calibrate` or `fleetplan measure` "
    "(repeatable; applied after --catalog files).",
)


# the deployment: model, GPU, precision, parallelism, engine
def model_arg(name: str = "model") -> Decorator:
    """The MODEL argument: a catalog model id or alias, or a config.json path (its help is in
    the command's docstring: click arguments take none)."""
    return click.argument(name)


gpu_opt = _option("--gpu", "GPU id or alias (fleetplan gpus).")
precision_opt = _option(
    "--precision",
    "Weight precision (fleetplan precisions); auto = the format the model's weights ship in.",
)
kv_opt = _option("--kv-precision", "KV cache: auto, bf16, fp16, fp8.")
tp_opt = _option("--tp", "Tensor-parallel degree (GPUs per replica).", type=int)
engine_opt = _option("--engine", "Engine profile or ENGINE@VERSION (fleetplan engines).")

# one request
input_tokens_opt = _option("--input-tokens", "Prompt tokens per request.", type=int)
output_tokens_opt = _option("--output-tokens", "Generated tokens per request.", type=int)

# money and SLOs
util_opt = _option(
    "--utilization", "Fraction of the month the GPUs are busy at capacity (0-1].", type=float
)
tpot_slo_opt = _option(
    "--tpot-p95-ms",
    "TPOT SLO at p95 in ms: capacity uses the largest batch meeting it "
    "(default: the built-in plan's; 0 = no limit).",
    type=float,
)
ttft_slo_opt = _option(
    "--ttft-p95-ms",
    "TTFT SLO in ms (prefill, no queueing; default: the built-in plan's).",
    type=float,
)
prices_opt = _paths("--api-prices", "TOML/YAML file of API prices overriding genai-prices.")
update_prices_opt = _flag("--update-prices", "Fetch current API prices first (network).")

# the gateway
router_config_opt = _option("--config", "Router config (YAML).", type=PATH)
keys_db_opt = _option("--db", "The gateway's gateway.keys_db: a SQLite file or a redis:// URL.")

# GPU offers
provider_opt = _option("--provider", "Only offers of this provider (fleetplan offers).", None)
pricing_opt = _option("--pricing", "Pricing model: on-demand, spot, reserved-1y, ...")

# servers
host_opt = _option("--host", "Address to listen on.")
port_opt = _option("--port", "TCP port to listen on (1-65535).", type=int)
