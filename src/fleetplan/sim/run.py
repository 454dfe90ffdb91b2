"""`simulate(scenario) -> SimResult`: a fleet of replicas behind a load balancer, simulated.

The library entry point (pure: no printing, no files but a trace the scenario names). A later
`fleetplan plan --verify` calls it with the chosen deployment at peak traffic and grows
`replicas` until the percentile SLOs hold.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleetplan.catalog import Catalog, load_catalog, resolve_model
from fleetplan.errors import InputError, UnsupportedError
from fleetplan.sim.arrivals import Workload, build_workload, expected_requests
from fleetplan.sim.config import Scenario, parse_scenario
from fleetplan.sim.engine import PRIORITY_ARRIVAL, PRIORITY_SAMPLE, EventLoop
from fleetplan.sim.metrics import Recorder, Stats, stats_ms
from fleetplan.sim.replica import ExponentialReplica, Replica, balancer
from fleetplan.sim.work import check_work, events_per_request, over_cap

SAMPLES = 600  # periodic samples of queue length and KV use over the arrival window
MAX_SAMPLES = 2 * SAMPLES  # more, and every other sample goes and the interval doubles
MAX_STEP_TOKENS = 1 << 22  # the step-time table's largest step (tokens)


@dataclass(frozen=True)
class SimResult:
    """Measured by discrete-event simulation (latencies in ms, rates per simulated second)."""

    requests: int
    completed: int
    duration_s: float  # first arrival to last completion, simulated
    ttft_ms: Stats
    tpot_ms: Stats
    itl_ms: Stats
    e2e_ms: Stats
    queue_ms: Stats
    req_per_s: float
    input_tok_per_s: float
    output_tok_per_s: float
    goodput: float  # share of requests meeting every SLO given (1.0 when none is given)
    goodput_req_per_s: float
    preemptions: int
    prefix_hit_tokens: int
    clipped: int
    mean_in_system: float  # time average of the periodic samples
    timeline: dict[str, list[float]]  # t_s, queue, running, in_system, kv_used
    windows: dict[str, list[float]]  # t_s (window start) and TTFT/E2E percentiles, ms
    config: dict[str, Any]
    wall_s: float
    events: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self, timeline: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "completed": self.completed,
            "duration_s": round(self.duration_s, 3),
            "ttft_ms": self.ttft_ms.as_dict(),
            "tpot_ms": self.tpot_ms.as_dict(),
            "itl_ms": self.itl_ms.as_dict(),
            "e2e_ms": self.e2e_ms.as_dict(),
            "queue_ms": self.queue_ms.as_dict(),
            "req_per_s": round(self.req_per_s, 4),
            "input_tok_per_s": round(self.input_tok_per_s, 2),
            "output_tok_per_s": round(self.output_tok_per_s, 2),
            "goodput": round(self.goodput, 6),
            "goodput_req_per_s": round(self.goodput_req_per_s, 4),
            "preemptions": self.preemptions,
            "prefix_hit_tokens": self.prefix_hit_tokens,
            "clipped_requests": self.clipped,
            "mean_in_system": round(self.mean_in_system, 4),
            "config": self.config,
            "events": self.events,
            "wall_s": round(self.wall_s, 3),
            "basis": "discrete-event simulation; step times from the analytic roofline model"
            if self.config.get("service") == "roofline"
            else "discrete-event simulation; exponential service times",
            "notes": list(self.notes),
        }
        if timeline:
            out["timeline"] = {k: [round(x, 6) for x in v] for k, v in self.timeline.items()}
            out["windows"] = {k: [round(x, 4) for x in v] for k, v in self.windows.items()}
        return out


def _roofline_replicas(
    sc: Scenario, cat: Catalog, loop: EventLoop, rec: Recorder
) -> tuple[list[Replica], int, dict[str, Any], tuple[str, ...]]:
    from fleetplan.estimate import estimate_fit
    from fleetplan.perf.roofline import setup
    from fleetplan.sim.batching import BatchingReplica
    from fleetplan.sim.kv_pool import KvPool
    from fleetplan.sim.steptime import StepTable

    model = resolve_model(cat, sc.model)
    eng = cat.engine(sc.engine)
    f = estimate_fit(
        model,
        sc.gpu,
        precision=sc.precision,
        kv_precision=sc.kv_precision,
        tp=sc.tp,
        engine=sc.engine,
        gpu_memory_utilization=sc.gpu_memory_utilization,
        catalog=cat,
    )
    capacity = sc.kv_capacity_tokens or f.kv_capacity_tokens
    if capacity < sc.block_size * 2:
        raise UnsupportedError(f"{model.id} on {f.gpu} x{sc.tp} leaves no KV cache: {f.limit}")
    s = setup(
        model,
        cat.gpu(sc.gpu),
        cat.precision(sc.precision),
        eng,
        tp=sc.tp,
        kv_precision=sc.kv_precision,
    )
    max_seqs = sc.max_num_seqs or eng.max_num_seqs
    max_tokens = sc.max_num_batched_tokens or eng.max_num_batched_tokens
    blocks = capacity // sc.block_size
    # a running sequence holds a block at least and a prefill token a KV slot: a step has at
    # most max(min(max_tokens, KV tokens), min(max_seqs, blocks)) tokens
    largest = max(min(max_tokens, blocks * sc.block_size), min(max_seqs, blocks))
    if largest > MAX_STEP_TOKENS:
        raise InputError(
            f"max_num_batched_tokens = {max_tokens:,}, max_num_seqs = {max_seqs:,} and "
            f"{blocks * sc.block_size:,} KV tokens allow steps of {largest:,} tokens; the "
            f"simulator accepts at most {MAX_STEP_TOKENS:,} (lower max_num_batched_tokens, "
            "max_num_seqs or kv_capacity_tokens)"
        )
    table = StepTable(s, largest)
    reps: list[Replica] = []
    for _ in range(sc.replicas):
        pool = KvPool(blocks, sc.block_size, sc.watermark)
        reps.append(
            BatchingReplica(
                loop,
                rec,
                table,
                pool,
                max_num_seqs=min(max_seqs, blocks),
                max_num_batched_tokens=max_tokens,
                prefix_caching=sc.prefix_caching,
            )
        )
    room = (blocks - int(sc.watermark * blocks) - 1) * sc.block_size
    cfg = {
        "service": "roofline",
        "setup": s.label,
        "replicas": sc.replicas,
        "load_balancer": sc.load_balancer,
        "max_num_seqs": max_seqs,
        "max_num_batched_tokens": max_tokens,
        "kv_capacity_tokens": blocks * sc.block_size,
        "kv_capacity_source": "scenario" if sc.kv_capacity_tokens else "memory model (fit)",
        "block_size": sc.block_size,
        "prefix_caching": sc.prefix_caching,
    }
    return reps, min(room, model.max_context), cfg, s.notes


def simulate(
    scenario: Scenario | dict[str, Any],
    *,
    catalog: Catalog | None = None,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> SimResult:
    """Simulate a scenario; `seed` overrides the scenario's. `progress(share)` is called now
    and then with the share of the arrival window simulated so far.

    Example::

        from fleetplan.sim import load_scenario, simulate
        r = simulate(load_scenario("examples/sim-hour.yaml"))
        r.ttft_ms.p99, r.goodput
    """
    sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
    seed = sc.seed if seed is None else seed
    wall0 = time.perf_counter()
    arr_seq, svc_seq = np.random.SeedSequence(seed).spawn(2)
    loop = EventLoop()
    rec = Recorder(0)
    notes: tuple[str, ...] = ()
    if sc.service.kind == "roofline":
        cat = catalog or load_catalog()
        reps, max_req_tokens, cfg, notes = _roofline_replicas(sc, cat, loop, rec)
        mean_in = min(sc.lengths.input.mean, sc.lengths.input.max or math.inf, max_req_tokens)
        per_request = events_per_request(mean_in, cfg["max_num_batched_tokens"])
    else:
        assert sc.service.mean_s is not None
        slots = sc.max_num_seqs or 1
        svc_rngs = [np.random.default_rng(s) for s in svc_seq.spawn(sc.replicas)]
        reps = [
            ExponentialReplica(loop, rec, r, mean_s=sc.service.mean_s, slots=slots)
            for r in svc_rngs
        ]
        max_req_tokens = 1 << 40
        per_request = 2.0  # arrival and completion
        cfg = {
            "service": "exponential",
            "mean_s": sc.service.mean_s,
            "slots": slots,
            "replicas": sc.replicas,
            "load_balancer": sc.load_balancer,
        }
    if sc.arrivals.kind != "trace":  # a trace's rows are counted once it is read
        check_work(expected_requests(sc.arrivals), per_request, sc.max_events)
    w = build_workload(
        sc.arrivals,
        sc.lengths.input,
        sc.lengths.output,
        sc.prefix,
        np.random.default_rng(arr_seq),
        max_req_tokens,
        max_n=int(sc.max_events / per_request) + 1,
    )
    n = len(w)
    if n == 0:
        raise InputError("arrivals: the scenario produces no requests (check rates and duration)")
    check_work(n, per_request, sc.max_events)
    rec.start(n)
    _drive(loop, rec, reps, sc, w, progress)
    return _summarize(sc, w, rec, cfg, notes, loop.events, time.perf_counter() - wall0)


def _drive(
    loop: EventLoop,
    rec: Recorder,
    reps: list[Replica],
    sc: Scenario,
    w: Workload,
    progress: Callable[[float], None] | None,
) -> None:
    n = len(w)
    if n == 0:
        return
    times = w.arrival_s.tolist()
    ins, outs = w.input_tokens.tolist(), w.output_tokens.tolist()
    pids, ptoks = w.prefix_id.tolist(), w.prefix_tokens.tolist()
    pick = balancer(sc.load_balancer, reps)
    schedule = loop.schedule

    horizon = max(times[-1], 1e-9)
    # samples on a grid: at most MAX_SAMPLES; one more, and every other one is dropped and the
    # interval doubles, so their number never depends on the interval or the run's length
    grid = [sc.sample_interval_s or horizon / SAMPLES, 0]  # interval, index of the next
    next_sample = [0.0]
    times.append(float("inf"))

    def arrive(now: float, i: int) -> None:
        nxt = times[i + 1]
        barrier = nxt if nxt < next_sample[0] else next_sample[0]
        pick(i).submit(now, i, ins[i], outs[i], pids[i], ptoks[i], barrier)
        if i + 1 < n:
            schedule(nxt, PRIORITY_ARRIVAL, arrive, i + 1)

    samples = rec.samples

    def sample(now: float, _: Any) -> None:
        queue = running = 0
        kv = 0.0
        for r in reps:
            queue += r.queue_len
            running += r.running_len
            kv += r.kv_used()
        in_system = _arrived(times, now) - rec.completed
        samples.append((now, queue, running, in_system, kv / len(reps)))
        grid[1] += 1
        if len(samples) >= MAX_SAMPLES:
            del samples[1::2]
            grid[0] *= 2
            grid[1] = len(samples)
        if rec.completed < n:
            next_sample[0] = t = grid[1] * grid[0]
            schedule(t, PRIORITY_SAMPLE, sample, None)
        else:
            next_sample[0] = float("inf")

    schedule(times[0], PRIORITY_ARRIVAL, arrive, 0)
    schedule(0.0, PRIORITY_SAMPLE, sample, None)
    on_progress = None
    if progress is not None:

        def on_progress(now: float) -> None:
            progress(min(now / horizon, 1.0))

    loop.run(
        on_progress=on_progress,
        max_events=sc.max_events,
        on_over=lambda events: over_cap(events, sc.max_events),
    )
    for r in reps:
        r.check_drained()
    if progress is not None:
        progress(1.0)


def _arrived(times: list[float], now: float) -> int:
    """Requests that arrived by `now` (arrival events run before same-time samples)."""
    return bisect.bisect_right(times, now)


def _summarize(
    sc: Scenario,
    w: Workload,
    rec: Recorder,
    cfg: dict[str, Any],
    notes: tuple[str, ...],
    events: int,
    wall_s: float,
) -> SimResult:
    arr = w.arrival_s
    first = np.asarray(rec.first_s)
    finish = np.asarray(rec.finish_s)
    sched = np.asarray(rec.sched_s)
    ok = finish >= 0
    n, done = len(w), int(ok.sum())
    if done < n:  # the loop drains every request; anything else is a simulator bug
        raise RuntimeError(f"simulation ended with {n - done} of {n} requests unfinished")
    ttft = first - arr
    e2e = finish - arr
    outs = w.output_tokens
    multi = outs > 1
    tpot = np.where(multi, (finish - first) / np.maximum(outs - 1, 1), 0.0)
    span = float(finish.max() - arr.min()) if n else 0.0
    span = span if span > 0 else 1.0
    good = np.ones(n, dtype=bool)
    if sc.slo.ttft_ms is not None:
        good &= ttft * 1e3 <= sc.slo.ttft_ms
    if sc.slo.tpot_ms is not None:
        good &= tpot * 1e3 <= sc.slo.tpot_ms
    if sc.slo.e2e_ms is not None:
        good &= e2e * 1e3 <= sc.slo.e2e_ms
    samples = np.asarray(rec.samples, dtype=np.float64).reshape(-1, 5)
    timeline = {
        "t_s": samples[:, 0].tolist(),
        "queue": samples[:, 1].tolist(),
        "running": samples[:, 2].tolist(),
        "in_system": samples[:, 3].tolist(),
        "kv_used": samples[:, 4].tolist(),
    }
    if w.clipped:
        notes = (*notes, f"{w.clipped} requests shortened to fit the context or KV cache")
    return SimResult(
        requests=n,
        completed=done,
        duration_s=span if n else 0.0,
        ttft_ms=stats_ms(ttft),
        tpot_ms=stats_ms(tpot[multi]),
        itl_ms=stats_ms(np.frombuffer(rec.itl_s), np.frombuffer(rec.itl_w)),
        e2e_ms=stats_ms(e2e),
        queue_ms=stats_ms(sched - arr),
        req_per_s=n / span,
        input_tok_per_s=float(w.input_tokens.sum()) / span,
        output_tok_per_s=float(outs.sum()) / span,
        goodput=float(good.mean()) if n else 0.0,
        goodput_req_per_s=float(good.sum()) / span,
        preemptions=rec.preemptions,
        prefix_hit_tokens=rec.prefix_hit_tokens,
        clipped=w.clipped,
        mean_in_system=float(samples[:, 3].mean()) if samples.size else 0.0,
        timeline=timeline,
        windows=_windows(arr, ttft, e2e),
        config=cfg,
        wall_s=wall_s,
        events=events,
        notes=notes,
    )


def _windows(
    arr: np.ndarray, ttft: np.ndarray, e2e: np.ndarray, n: int = 60
) -> dict[str, list[float]]:
    """TTFT and E2E percentiles of the requests arriving in each of `n` equal windows."""
    out: dict[str, list[float]] = {
        k: [] for k in ("t_s", "ttft_p50", "ttft_p95", "ttft_p99", "e2e_p50", "e2e_p95", "e2e_p99")
    }
    if arr.size == 0:
        return out
    edges = np.linspace(arr.min(), arr.max() + 1e-9, n + 1)
    which = np.searchsorted(edges, arr, side="right") - 1
    for i in range(n):
        sel = which == i
        if not sel.any():
            continue
        out["t_s"].append(float(edges[i]))
        for name, v in (("ttft", ttft[sel]), ("e2e", e2e[sel])):
            p = np.percentile(v, (50, 95, 99)) * 1e3
            out[f"{name}_p50"].append(float(p[0]))
            out[f"{name}_p95"].append(float(p[1]))
            out[f"{name}_p99"].append(float(p[2]))
    return out
