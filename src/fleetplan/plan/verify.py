"""`plan --verify`: the recommendation replayed in the simulator at peak traffic, over several
seeds, and the fewest replicas that meet every percentile SLO there — shrinking the fleet as
well as growing it (a bisection over replica counts).

The simulated requests follow the plan's own distributions: arrival times from the
scenario's `traffic.arrivals` (Poisson, gamma, on/off, or a trace's gaps rescaled to the peak
rate) and lengths drawn from the same quantile grid the analytic sizing integrates over, so
the two describe one workload. A percentile with no samples (no request of two or more
output tokens has a TPOT) is "n/a": it is neither met nor missed.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fleetplan.catalog import Catalog
from fleetplan.plan.types import MAX_REQUESTS_PER_SIZE, Plan
from fleetplan.scenario import ScenarioSpec
from fleetplan.units import HOURS_PER_MONTH
from fleetplan.workload import QUANTILE_LEVELS, Arrivals, Lengths, SloTarget

SEEDS = (0, 1, 2)
TARGET_REQUESTS = 8_000  # per seed: enough arrivals for stable p95s, under a second each
MIN_DURATION_S, MAX_DURATION_S = 30.0, 3600.0  # simulated time at peak, per seed
MAX_DOUBLINGS = 4
REPORTED = ("ttft", "tpot", "e2e")


@dataclass(frozen=True)
class FleetRun:
    """Simulated percentiles of one replica count: per metric, the value over seeds (mean)
    and its spread (min, max); None where nothing was measured."""

    replicas: int
    requests: int
    seeds: int
    values_ms: dict[str, float | None]
    spread_ms: dict[str, tuple[float, float] | None]
    goodput: float
    met: bool
    not_applicable: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "replicas": self.replicas,
            "requests": self.requests,
            "seeds": self.seeds,
            "met": self.met,
            "goodput": round(self.goodput, 4),
        }
        for k, v in self.values_ms.items():
            out[k] = None if v is None else round(v, 2)
            s = self.spread_ms[k]
            out[f"{k}_spread"] = None if s is None else [round(s[0], 2), round(s[1], 2)]
        if self.not_applicable:
            out["not_applicable"] = list(self.not_applicable)
        return out


@dataclass(frozen=True)
class Verification:
    replicas_planned: int
    replicas_min: int | None  # fewest meeting every SLO in simulation at the plan's headroom
    replicas_min_slo: int | None  # fewest meeting every SLO, headroom aside
    replicas_verified: int  # what the recommendation now holds
    met: bool  # at the planned count
    planned: FleetRun | None = None
    minimum: FleetRun | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def sample_lengths(x: Lengths, n: int, rng: np.random.Generator, cap: int) -> np.ndarray:
    """`n` token counts drawn by inverse CDF from the grid the analytic sizing uses, one in
    each of n equal strata of the CDF in random order (the draws' mean and spread are the
    distribution's, where independent draws of a few thousand put the mean prompt of three
    seeds 3 % short)."""
    u = (rng.permutation(n) + rng.random(n)) / max(n, 1)
    v = np.interp(u, QUANTILE_LEVELS, x.quantiles())
    return np.clip(np.rint(v), 1, cap).astype(np.int64)


def arrival_times(a: Arrivals, rate: float, duration_s: float, rng: np.random.Generator) -> Any:
    """Arrival instants at an average of `rate` per second over `duration_s`."""
    if a.kind == "trace":
        gaps = np.asarray(a.gaps_s, dtype=np.float64)
        gaps = gaps / gaps.mean() / rate  # the trace's shape at the peak rate
        reps = math.ceil(duration_s * rate / gaps.size) + 1
        t = np.cumsum(np.tile(gaps, reps))
        return t[t < duration_s]
    from fleetplan.sim.arrivals import arrival_times as draw
    from fleetplan.sim.config import Arrivals as SimArrivals

    spec: dict[str, Any] = {"kind": a.kind, "rate_per_s": rate, "duration_s": duration_s}
    if a.kind == "gamma":
        spec["cv"] = a.cv
    elif a.kind == "onoff":
        spec.update(rate_per_s=rate * a.burst_factor, on_s=a.on_s, off_s=a.off_s)
    t = np.asarray(draw(SimArrivals(**spec), rng), dtype=np.float64)
    # at exactly the rate: the draw's own count, its instants stretched or pressed to it (as a
    # trace's gaps are above). The count of a bursty draw strays far: a gamma process of CV 3
    # has a count CV of 3/sqrt(n), and the three seeds' 5,000-request draws came out 2.5-9 %
    # under the peak, where a plan near saturation is 2-3x as sensitive in TPOT
    return t * (t.size / (rate * duration_s)) if t.size else t


def _percentile(stats: Any, p: float) -> float | None:
    if not stats.count:
        return None
    v = stats.percentile(p) if hasattr(stats, "percentile") else getattr(stats, f"p{int(p)}")
    return None if v is None or math.isnan(v) else float(v)


class FleetSimulator:
    """Runs the recommended setup at a replica count over the seeds."""

    def __init__(self, plan: Plan, catalog: Catalog, requests: int, seeds: tuple[int, ...]):
        self.plan = plan
        self.catalog = catalog
        self.seeds = seeds
        s = plan.scenario
        self.peak = s.traffic.resolve().peak_qps
        self.duration = min(max(requests / self.peak, MIN_DURATION_S), MAX_DURATION_S)
        self.arrivals = plan.arrivals
        self.targets: tuple[SloTarget, ...] = s.slo.resolve().targets
        self.cache: dict[int, FleetRun] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="fleetplan-verify-")
        self.traces = [self._trace(seed) for seed in seeds]

    def close(self) -> None:
        self._dir.cleanup()

    def _trace(self, seed: int) -> str:
        rng = np.random.default_rng(seed)
        p = self.plan
        cap = p.model.max_context
        t = arrival_times(self.arrivals, self.peak, self.duration, rng)
        ins = sample_lengths(p.input, t.size, rng, cap - 1)
        outs = sample_lengths(p.output, t.size, rng, cap)
        path = Path(self._dir.name) / f"seed{seed}.csv"
        rows = "\n".join(f"{x:.6f},{i},{o}" for x, i, o in zip(t, ins, outs, strict=True))
        path.write_text("timestamp,input_tokens,output_tokens\n" + rows + "\n")
        return str(path)

    def _goodput_slo(self) -> dict[str, float]:
        """Per-request thresholds for the simulator's goodput: each metric's tightest SLO."""
        out: dict[str, float] = {}
        for t in self.targets:
            key = f"{t.metric}_ms"
            out[key] = min(out.get(key, math.inf), t.ms)
        return out

    def run(self, replicas: int) -> FleetRun:
        if replicas in self.cache:
            return self.cache[replicas]
        from fleetplan.sim.run import simulate

        rec = self.plan.recommended
        assert rec is not None
        per_seed: list[dict[str, float | None]] = []
        requests, good = 0, []
        for seed, trace in zip(self.seeds, self.traces, strict=True):
            cfg = {
                "model": self.plan.model.id,
                "gpu": rec.gpu,
                "precision": rec.precision,
                "kv_precision": self.plan.scenario.kv_precision,
                "tp": rec.tp,
                "engine": rec.engine,
                "max_num_seqs": rec.max_batch,
                "replicas": replicas,
                "load_balancer": "least_outstanding",
                "arrivals": {"kind": "trace", "path": trace},
                "slo": self._goodput_slo(),
                "seed": seed,
            }
            r = simulate(cfg, catalog=self.catalog)
            requests += r.requests
            row: dict[str, float | None] = {}
            stats = {"ttft": r.ttft_ms, "tpot": r.tpot_ms, "e2e": r.e2e_ms}
            for m in REPORTED:
                for p in (95, 99):
                    row[f"{m}_p{p}_ms"] = _percentile(stats[m], p)
            for t in self.targets:
                row[t.name] = _percentile(stats[t.metric], t.percentile)
            per_seed.append(row)
            good.append(float(r.goodput))
        values: dict[str, float | None] = {}
        spread: dict[str, tuple[float, float] | None] = {}
        for k in per_seed[0]:
            xs = [row[k] for row in per_seed if row[k] is not None]
            values[k] = float(np.mean(xs)) if xs else None
            spread[k] = (min(xs), max(xs)) if xs else None
        na = tuple(t.name for t in self.targets if values[t.name] is None)
        met = all(
            values[t.name] is None or values[t.name] <= t.ms  # type: ignore[operator]
            for t in self.targets
        )
        run = FleetRun(
            replicas, requests, len(self.seeds), values, spread, float(np.mean(good)), met, na
        )
        self.cache[replicas] = run
        return run


def fewest_replicas(sim: FleetSimulator, planned: int, floor: int) -> int | None:
    """Fewest replicas >= floor meeting every SLO in simulation: bisection between a count that
    misses and one that meets (grown by doubling from the planned count when it misses)."""
    if sim.run(planned).met:
        hi, lo = planned, floor - 1
    else:
        lo, hi = planned, planned * 2
        for _ in range(MAX_DOUBLINGS):
            if sim.run(hi).met:
                break
            lo, hi = hi, hi * 2
        else:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if sim.run(mid).met:
            hi = mid
        else:
            lo = mid
    return hi


def check_verify_work(
    spec: ScenarioSpec,
    max_requests: int = MAX_REQUESTS_PER_SIZE,
    requests: int = TARGET_REQUESTS,
    seeds: tuple[int, ...] = SEEDS,
) -> None:
    """Refuse (one line, exit 2), before anything runs, a check whose simulated requests per
    fleet size (peak rate x simulated time x seeds) are estimated above `max_requests`."""
    from fleetplan.errors import InputError

    if max_requests < 1:
        raise InputError(f"--verify-max-requests = {max_requests}; accepted: an integer >= 1")
    peak = spec.traffic.resolve().peak_qps
    secs = min(max(requests / peak, MIN_DURATION_S), MAX_DURATION_S)
    work = peak * secs * len(seeds)
    if work > max_requests:
        raise InputError(
            f"plan --verify: estimated {work:,.0f} simulated requests per fleet size ({peak:g} "
            f"req/s at peak x {secs:g} s x {len(seeds)} seeds) is above the cap of "
            f"{max_requests:,}; raise it with --verify-max-requests"
        )


def verify(
    plan: Plan,
    catalog: Catalog,
    requests: int = TARGET_REQUESTS,
    seeds: tuple[int, ...] = SEEDS,
    max_requests: int = MAX_REQUESTS_PER_SIZE,
) -> Plan:
    """The plan with `verification` set; the recommendation resized to the fewest replicas
    that meet every SLO in simulation at the plan's headroom."""
    rec = plan.recommended
    if rec is None:
        return plan
    s = plan.scenario
    check_verify_work(s, max_requests, requests, seeds)
    sim = FleetSimulator(plan, catalog, requests, seeds)
    try:
        floor = max(s.slo.min_replicas, 1)
        least = fewest_replicas(sim, rec.replicas, floor)
        headroom_floor = max(
            floor, math.ceil(sim.peak / (s.headroom * rec.replica_req_per_s) - 1e-9)
        )
        minimum = None if least is None else max(least, headroom_floor)
        planned_run = sim.run(rec.replicas)
        min_run = sim.run(minimum) if minimum is not None else None
        runs = [sim.cache[k].as_dict() for k in sorted(sim.cache)]
    finally:
        sim.close()
    msg = _message(rec.replicas, least, minimum, planned_run, sim.peak)
    final = minimum if minimum is not None else rec.replicas
    v = Verification(
        rec.replicas, minimum, least, final, planned_run.met, planned_run, min_run, runs, msg
    )
    if minimum is None or minimum == rec.replicas or min_run is None:
        return replace(plan, verification=v)
    new_rec = _resized(rec, minimum, min_run)
    return replace(
        plan,
        recommended=new_rec,
        verification=v,
        # what the report says of the recommendation elsewhere follows it: its provider's
        # entry, its point on the Pareto frontier and the API table's self-hosted cost
        by_provider=[new_rec if c is rec else c for c in plan.by_provider],
        pareto=[new_rec if c is rec else c for c in plan.pareto],
        apis=_api_table(plan, new_rec),
    )


def _api_table(plan: Plan, rec: Any) -> list[Any]:
    """The plan's API comparisons for the resized recommendation (none where it had none)."""
    if not plan.apis:
        return plan.apis
    from fleetplan.plan.context import api_comparisons
    from fleetplan.search.candidates import Workload

    s = plan.scenario
    work = Workload(
        plan.input, plan.output, s.traffic.resolve(), s.slo.resolve(), s.headroom, plan.arrivals
    )
    return api_comparisons(rec, s, work)


def _resized(rec: Any, replicas: int, run: FleetRun) -> Any:
    per = rec.replicas_per_instance
    instances = math.ceil(replicas / per - 1e-9)
    usd = instances * rec.usd_per_instance_hour * HOURS_PER_MONTH
    if not usd:
        usd = rec.usd_per_month * replicas / rec.replicas
    ttft = run.values_ms.get("ttft_p95_ms")
    tpot = run.values_ms.get("tpot_p95_ms")
    how = "grown" if replicas > rec.replicas else "shrunk"
    return replace(
        rec,
        replicas=replicas,
        gpus_total=replicas * rec.tp,
        instances=instances,
        usd_per_month=usd,
        usd_per_million_tokens=rec.usd_per_million_tokens * usd / rec.usd_per_month,
        ttft_p95_ms=rec.ttft_p95_ms if ttft is None else ttft,
        tpot_p95_ms=rec.tpot_p95_ms if tpot is None else tpot,
        utilization_at_peak=rec.utilization_at_peak * rec.replicas / replicas,
        notes=(*rec.notes, f"replicas {how} from {rec.replicas} to {replicas} by simulation"),
    )


def _fmt(v: float | None, unit: str = " ms") -> str:
    return "n/a" if v is None else f"{v:,.1f}{unit}"


def _message(
    planned: int, least: int | None, minimum: int | None, run: FleetRun, peak: float
) -> str:
    vals = run.values_ms
    at = (
        f"at {peak:g} req/s over {run.seeds} seeds ({run.requests:,} requests) on {planned} "
        f"replicas: TTFT p95 {_fmt(vals['ttft_p95_ms'])}, TPOT p95 {_fmt(vals['tpot_p95_ms'])}"
    )
    na = f"; {', '.join(run.not_applicable)} n/a (nothing to measure)" if run.not_applicable else ""
    if least is None:
        return f"simulated {at}{na}; SLOs still missed at {planned * 2**MAX_DOUBLINGS} replicas"
    verdict = "SLOs met" if run.met else "an SLO missed"
    tail = f"; the fewest replicas meeting every SLO in simulation: {least}" + (
        f" ({minimum} at the plan's headroom)" if minimum != least else ""
    )
    return f"simulated {at} — {verdict}{na}{tail}"
