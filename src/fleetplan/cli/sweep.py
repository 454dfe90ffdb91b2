"""`fleetplan sweep SWEEP.yaml`: autoscaling scenarios x policies x seeds x traffic levels on a
local process pool, or on a Ray cluster with --ray."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import print_json, table
from fleetplan.cli.options import json_opt
from fleetplan.errors import InputError


@app.command("sweep")
@click.argument("sweep_file", type=click.Path(path_type=Path))
@click.option("--ray", is_flag=True, help="Run on Ray (extra `ray`); see --ray-address.")
@click.option(
    "--ray-address", help="A running Ray cluster ('auto' or host:port); default: start one."
)
@click.option("--workers", type=int, help="Local processes (default: one per core).")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Write every run to a .csv or .parquet."
)
@json_opt("as_json")
def sweep(
    sweep_file: Path,
    ray: bool,
    ray_address: str | None,
    workers: int | None,
    output: Path | None,
    as_json: bool,
) -> None:
    """Every run's GPU-hours, $, SLO attainment, overflow and drops, and the best policy per
    scenario and traffic level (cheapest mean $ among those meeting the SLO in every run)."""
    from fleetplan.autoscale.sweep import best_per_scenario, jobs_for, load_sweep, run_local
    from fleetplan.autoscale.sweep import run_ray as on_ray

    if ray_address is not None and not ray:
        raise InputError("--ray-address needs --ray")
    if ray and workers is not None:
        raise InputError("--workers is for the local pool; Ray schedules its own workers")
    if output is not None:
        if output.suffix.lower() not in (".csv", ".parquet"):
            raise InputError(f"--output = {str(output)!r}; expected a .csv or .parquet file")
        if not output.parent.is_dir():
            raise InputError(f"--output: folder {str(output.parent)!r} does not exist")
    spec, base = load_sweep(sweep_file)
    jobs = jobs_for(spec, base)
    t0 = time.perf_counter()
    rows = on_ray(jobs, ray_address) if ray else run_local(jobs, workers)
    wall = time.perf_counter() - t0
    best = best_per_scenario(rows)
    if output is not None:
        _write(rows, output)
    data = {
        "runs": rows,
        "best": best,
        "jobs": len(jobs),
        "backend": "ray" if ray else "local",
        "wall_s": round(wall, 3),
    }
    if as_json:
        print_json(data)
        return
    print(f"{len(jobs)} runs in {wall:.1f} s on {data['backend']}", file=sys.stderr)
    cols = [("scenario", "left"), ("traffic x", "right"), ("best policy", "left"),
            ("mean $", "right")]  # fmt: skip
    trs = [
        [b["scenario"], f"{b['traffic_scale']:g}", b["best_policy"] or "none meets the SLO",
         f"${b['mean_usd']:,.0f}" if b["mean_usd"] is not None else ""]
        for b in best
    ]  # fmt: skip
    print(table("Sweep: best policy per scenario and traffic level", cols, trs))


def _write(rows: list[dict], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError("--output .parquet needs pyarrow: pip install pyarrow") from None
        pq.write_table(pa.Table.from_pylist(rows), tmp)
    else:
        import csv

        with tmp.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["scenario"])
            w.writeheader()
            w.writerows(rows)
    tmp.replace(path)
