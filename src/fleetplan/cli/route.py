"""`fleetplan gateway` (serve the router) and `fleetplan route simulate` (replay a policy)."""

from __future__ import annotations

from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import print_json, table
from fleetplan.cli.options import host_opt, json_opt, port_opt, router_config_opt
from fleetplan.errors import InputError

route_app = click.Group("route", help="Routing policies across providers and a self-hosted fleet.")
app.add_command(route_app)


def _need_extra() -> None:
    try:
        import aiohttp  # noqa: F401
        import prometheus_client  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"the gateway needs the `router` extra ({exc.name} is missing): "
            "pip install 'fleetplan[router]'"
        ) from None


@app.command("gateway")
@router_config_opt()
@host_opt(default="127.0.0.1")
@port_opt(default=8080)
@click.option("--redis-url", help="Share limits, circuits and in-flight counts via Redis.")
@click.option("--log-path", help="SQLite request log (default: gateway.log_path; none if unset).")
@click.option(
    "--workers", type=int, default=1, help="Worker processes (more than 1 needs --redis-url)."
)
@click.option(
    "--header-timeout-s",
    type=float,
    default=10.0,
    help="Close connections whose request headers take longer.",
)
@click.option(
    "--json",
    "json_out",
    is_flag=True,
    help="Log as JSON lines on stderr (time, level, logger, message); errors before "
    "serving are one line of JSON on stdout.",
)
def gateway(
    config: Path,
    host: str,
    port: int,
    redis_url: str | None,
    log_path: str | None,
    workers: int,
    header_timeout_s: float,
    json_out: bool,
) -> None:
    """Serve the OpenAI-compatible gateway (/v1/chat/completions, /v1/completions, /metrics)."""
    _need_extra()
    from fleetplan.router.config import load_config
    from fleetplan.router.serve import run

    if workers > 1 and not redis_url:
        raise InputError(
            f"--workers {workers}: worker processes share limits, circuits and in-flight "
            "leases through Redis; give --redis-url"
        )
    cfg = load_config(config)
    cfg.gateway_key()
    cfg.check_keys()  # fail here, before workers start, on an unset key variable
    if redis_url:
        import redis

        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            raise InputError(f"--redis-url: cannot reach Redis ({type(exc).__name__})") from None
    run(str(config), host, port, workers, redis_url, log_path, header_timeout_s, json_out)


@route_app.command("simulate")
@router_config_opt()
@click.option(
    "--traffic",
    type=click.Path(path_type=Path),
    required=True,
    help="Traffic profile (YAML): traffic + per-provider behaviour.",
)
@click.option("--strategy", help="Override gateway.strategy for this run.")
@json_opt("json_out")
def simulate_cmd(
    config: Path,
    traffic: Path,
    strategy: str | None,
    json_out: bool,
) -> None:
    """Replay a traffic profile through a routing policy: cost split, overflow, latency, errors."""
    from fleetplan.files import load_structured
    from fleetplan.router.config import STRATEGIES, load_config
    from fleetplan.router.simulate import parse_profile, simulate

    if strategy is not None and strategy not in STRATEGIES:
        raise InputError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    cfg = load_config(config)
    data = load_structured(traffic, "traffic profile")
    rep = simulate(cfg, parse_profile(data, str(traffic)), strategy)
    if json_out:
        print_json(rep)
        return

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:,.0f}"

    rows = [
        [
            p["name"],
            p["kind"],
            p["served"],
            f"{p['share']:.1%}",
            f"${p['cost_usd']:,.4f}",
            f"{p['cost_share']:.1%}",
            p["price_source"],
        ]
        for p in rep["providers"]
    ]
    cols = [
        ("provider", "left"),
        ("kind", "left"),
        ("served", "right"),
        ("share", "right"),
        ("cost", "right"),
        ("cost share", "right"),
        ("price basis", "left"),
    ]
    print(table(f"route simulate — strategy {rep['strategy']} ({rep['basis']})", cols, rows))
    err = sum(rep["errors"].values())
    print(
        f"requests {rep['requests']:,}  served {rep['served']:,}  errors {err:,}  "
        f"retries {rep['retries']:,}  overflow share {rep['overflow_share']:.1%}"
    )
    print(
        f"TTFT p50/p95/p99 {ms(rep['ttft']['p50_ms'])}/{ms(rep['ttft']['p95_ms'])}/"
        f"{ms(rep['ttft']['p99_ms'])} ms   latency p50/p95/p99 {ms(rep['latency']['p50_ms'])}/"
        f"{ms(rep['latency']['p95_ms'])}/{ms(rep['latency']['p99_ms'])} ms"
    )
    print(
        f"cost ${rep['cost_usd']:,.4f} over the run = ${rep['usd_per_month_at_this_rate']:,.0f}"
        f"/month at this rate (730 h): reserved fleet ${rep['fixed_usd_per_month']:,.0f} fixed "
        f"+ ${rep['variable_usd_per_month']:,.0f} API spend"
    )
