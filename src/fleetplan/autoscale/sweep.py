"""Sweeps: autoscaling scenarios x policies x seeds x traffic levels, run on a local process
pool or on a Ray cluster (extra `ray`), with the same results for the same seeds either way.

A sweep file:

    scenarios: [autoscale-week.yaml]   # autoscaling scenarios, relative to the sweep file
    policies: [reactive, predictive]  # optional: a subset of each scenario's policy names
    seeds: [1, 2, 3]
    traffic_scale: [0.5, 1.0, 2.0]     # multiplies the scenario's traffic
    days: 1                            # optional: shorten synthetic traffic
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleetplan.errors import InputError
from fleetplan.validation import Positive, Seed, format_validation_error

MAX_JOBS = 10_000


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scenarios: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1, max_length=100)
    policies: list[str] | None = Field(default=None, min_length=1)
    seeds: list[Seed] = Field(default=[0], min_length=1, max_length=1000)
    traffic_scale: list[Annotated[Positive, Field(le=1000)]] = Field(
        default=[1.0], min_length=1, max_length=100
    )
    days: Annotated[Positive, Field(le=366)] | None = None


@dataclass(frozen=True)
class Job:
    scenario: str  # absolute path
    seed: int
    scale: float
    days: float | None
    policies: tuple[str, ...] | None


def load_sweep(path: str | Path) -> tuple[SweepSpec, Path]:
    from fleetplan.files import load_structured

    p = Path(path)
    data = load_structured(p, "sweep file")
    if not isinstance(data, dict):
        raise InputError(f"sweep file {str(p)!r}: expected a mapping at the top level")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        why = format_validation_error(exc, SweepSpec)
        raise InputError(f"sweep file {str(p)!r}: {why}") from None
    return spec, p.parent


def jobs_for(spec: SweepSpec, base: Path) -> list[Job]:
    paths = [str(Path(base, s).resolve()) for s in spec.scenarios]
    for p in paths:
        if not Path(p).is_file():
            what = "is a folder" if Path(p).is_dir() else "does not exist"
            raise InputError(f"sweep: scenario {p!r} {what}; expected an autoscaling scenario file")
    pol = tuple(spec.policies) if spec.policies else None
    if pol is not None:
        _check_policies(pol, paths)
    if spec.days is not None:
        _check_days(spec.days, paths)
    jobs = [
        Job(sc, seed, scale, spec.days, pol)
        for sc, seed, scale in itertools.product(paths, spec.seeds, spec.traffic_scale)
    ]
    if len(jobs) > MAX_JOBS:
        raise InputError(f"sweep: {len(jobs):,} runs; at most {MAX_JOBS:,} per sweep")
    return jobs


def _check_policies(chosen: tuple[str, ...], paths: list[str]) -> None:
    """Each of `chosen` names a policy of some scenario, and each scenario has one of them: a
    typo would otherwise run nothing and print an empty table."""
    from fleetplan.autoscale.config import load_autoscale

    found: set[str] = set()
    for p in paths:
        names = [x.name for x in load_autoscale(p)[0].policies]
        found.update(names)
        if not set(chosen) & set(names):
            raise InputError(
                f"sweep: policies = {list(chosen)!r}: none is in scenario {Path(p).name!r}; "
                f"accepted: {', '.join(names)}"
            )
    unknown = [n for n in chosen if n not in found]
    if unknown:
        names = ", ".join(sorted(found))
        raise InputError(f"sweep: policies: {unknown[0]!r} is in no scenario; accepted: {names}")


def _check_days(days: float, paths: list[str]) -> None:
    """`days` shortens each synthetic scenario; under one SLO window it would have none."""
    from fleetplan.autoscale.config import SyntheticTraffic, check_span, load_autoscale

    for p in paths:
        sc = load_autoscale(p)[0]
        if not isinstance(sc.traffic, SyntheticTraffic):
            continue
        try:
            check_span(days * 86400.0, sc.window_s, f"sweep: days = {days:g} in {Path(p).name!r}")
        except ValueError as exc:
            raise InputError(str(exc)) from None


@cache
def _deployment(path: str) -> tuple[Any, Any, Any, Any, Any]:
    """Plan once per scenario per worker process: the deployment does not depend on the job."""
    from fleetplan.autoscale.config import load_autoscale
    from fleetplan.autoscale.run import deployment_for
    from fleetplan.catalog import load_catalog

    sc, base = load_autoscale(path)
    cat = load_catalog()
    dep, slo, plan = deployment_for(sc, base, cat)
    return sc, base, dep, slo, plan


def run_job(job: Job) -> list[dict[str, Any]]:
    """One scenario at one seed and traffic level: a row per policy."""
    from fleetplan.autoscale.config import SyntheticTraffic
    from fleetplan.autoscale.fleet import simulate_policy
    from fleetplan.autoscale.run import _overflow_price
    from fleetplan.autoscale.traffic import tick_traffic

    sc, base, dep, slo, plan = _deployment(job.scenario)
    traffic_spec = sc.traffic.model_copy(update={"scale": sc.traffic.scale * job.scale})
    if job.days is not None and isinstance(traffic_spec, SyntheticTraffic):
        traffic_spec = traffic_spec.model_copy(update={"days": job.days})
    chosen = [p for p in sc.policies if job.policies is None or p.name in job.policies]
    traffic = tick_traffic(traffic_spec, sc.tick_s, job.seed, base)
    _, per_request = _overflow_price(chosen, plan)
    rows = []
    for pol in chosen:
        r = simulate_policy(pol, dep, traffic, slo, sc.window_s, sc.max_queue_wait_s, per_request)
        rows.append(
            {
                "scenario": Path(job.scenario).name,
                "seed": job.seed,
                "traffic_scale": job.scale,
                "policy": r.name,
                "kind": r.kind,
                "requests": int(traffic.arrivals.sum()),
                "gpu_hours": round(r.gpu_hours, 3),
                "usd": round(r.usd, 2),
                "ttft_slo_attainment": round(r.ttft_slo_attainment, 5),
                "overflowed_requests": r.overflowed_requests,
                "dropped_requests": r.dropped_requests,
                "peak_replicas": r.peak_replicas,
            }
        )
    return rows


def run_local(jobs: list[Job], workers: int | None = None) -> list[dict[str, Any]]:
    """On a local process pool (one process when `workers` is 1)."""
    if workers == 1 or len(jobs) == 1:
        return [row for j in jobs for row in run_job(j)]
    from concurrent.futures import ProcessPoolExecutor

    n = workers or min(len(jobs), os.cpu_count() or 1)
    with ProcessPoolExecutor(max_workers=n) as pool:
        return [row for rows in pool.map(run_job, jobs) for row in rows]


def run_ray(jobs: list[Job], address: str | None = None) -> list[dict[str, Any]]:
    """On a Ray cluster: `address` of a running cluster, or None for one in this process."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs the ray extra: pip install 'fleetplan[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(run_job)
        return [row for rows in ray.get([remote.remote(j) for j in jobs]) for row in rows]
    finally:
        if started:
            ray.shutdown()


def best_per_scenario(rows: list[dict[str, Any]], min_attainment: float = 1.0) -> list[dict]:
    """Per scenario and traffic level: the policy with the lowest mean $ over seeds among those
    whose every run meets the TTFT SLO at `min_attainment` without drops."""
    groups: dict[tuple[str, float], dict[str, list[dict]]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["traffic_scale"]), {}).setdefault(
            r["policy"], []
        ).append(r)
    out = []
    for (scenario, scale), by_policy in sorted(groups.items()):
        ok = {
            p: sum(x["usd"] for x in rs) / len(rs)
            for p, rs in by_policy.items()
            if all(x["ttft_slo_attainment"] >= min_attainment and not x["dropped_requests"]
                   for x in rs)
        }  # fmt: skip
        best = min(ok, key=ok.__getitem__) if ok else None
        out.append(
            {
                "scenario": scenario,
                "traffic_scale": scale,
                "best_policy": best,
                "mean_usd": round(ok[best], 2) if best else None,
            }
        )
    return out
