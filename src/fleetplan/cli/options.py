"""The option blocks commands share, defined once: a flag that several commands take means the
same thing, with the same help and the same checks, in each of them.

A command declares a parameter with one of these aliases (`gpu: GpuOpt`, `as_json: JsonOpt =
False`); its default stays in the command, where it can differ. Numeric options are checked by
name against `fleetplan.validation` when the command runs (`fleetplan.cli._checked`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# output
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Show the calculation step by step.")]

# catalogs and calibration
CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog",
        help="TOML file adding or overriding GPUs, models, engines and offers (repeatable).",
    ),
]
CalibrationOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--calibration",
        help="Calibration profile written by `fleetplan calibrate` or `fleetplan measure` "
        "(repeatable; applied after --catalog files).",
    ),
]

# the deployment: model, GPU, precision, parallelism, engine
ModelArg = Annotated[str, typer.Argument(help="Catalog model id or alias, or a config.json path.")]
GpuOpt = Annotated[str, typer.Option("--gpu", help="GPU id or alias (fleetplan gpus).")]
PrecisionOpt = Annotated[
    str, typer.Option("--precision", help="Weight precision (fleetplan precisions).")
]
KvOpt = Annotated[str, typer.Option("--kv-precision", help="KV cache: auto, bf16, fp16, fp8.")]
TpOpt = Annotated[int, typer.Option("--tp", help="Tensor-parallel degree (GPUs per replica).")]
EngineOpt = Annotated[
    str, typer.Option("--engine", help="Engine profile or ENGINE@VERSION (fleetplan engines).")
]

# one request
InputTokensOpt = Annotated[int, typer.Option("--input-tokens", help="Prompt tokens per request.")]
OutputTokensOpt = Annotated[
    int, typer.Option("--output-tokens", help="Generated tokens per request.")
]

# money and SLOs
UtilOpt = Annotated[
    float,
    typer.Option(
        "--utilization", help="Fraction of the month the GPUs are busy at capacity (0-1]."
    ),
]
TpotSloOpt = Annotated[
    float,
    typer.Option(
        "--tpot-p95-ms",
        help="TPOT SLO at p95 in ms: capacity uses the largest batch meeting it "
        "(default: the built-in plan's; 0 = no limit).",
    ),
]
TtftSloOpt = Annotated[
    float,
    typer.Option(
        "--ttft-p95-ms",
        help="TTFT SLO in ms (prefill, no queueing; default: the built-in plan's).",
    ),
]
PricesOpt = Annotated[
    list[Path] | None,
    typer.Option("--api-prices", help="TOML/YAML file of API prices overriding genai-prices."),
]
UpdatePricesOpt = Annotated[
    bool, typer.Option("--update-prices", help="Fetch current API prices first (network).")
]

# the gateway
RouterConfigOpt = Annotated[Path, typer.Option("--config", help="Router config (YAML).")]
KeysDbOpt = Annotated[
    str,
    typer.Option("--db", help="The gateway's gateway.keys_db: a SQLite file or a redis:// URL."),
]

# GPU offers
ProviderOpt = Annotated[
    str | None, typer.Option("--provider", help="Only offers of this provider (fleetplan offers).")
]
PricingOpt = Annotated[
    str, typer.Option("--pricing", help="Pricing model: on-demand, spot, reserved-1y, ...")
]

# servers
HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option("--port", help="TCP port to listen on (1-65535).")]
