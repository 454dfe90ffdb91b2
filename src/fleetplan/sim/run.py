"""`simulate(scenario) -> SimResult`: a fleet of replicas behind a load balancer, simulated.

The library entry point (pure: no printing, no files but a trace the scenario names). A later
`fleetplan plan --verify` calls it with the chosen deployment at peak traffic and grows
`replicas` until the percentile SLOs hold.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fleetplan.catalog import Catalog, load_catalog, resolve_model
from fleetplan.errors import InputError, UnsupportedError
from fleetplan.sim.arrivals import arrival_window_s, expected_requests, workload_chunks
from fleetplan.sim.config import Scenario, parse_scenario
from fleetplan.sim.drive import SAMPLES, Sampler, closed_loop, open_loop
from fleetplan.sim.engine import EventLoop
from fleetplan.sim.metrics import Recorder
from fleetplan.sim.policy import policy_for
from fleetplan.sim.replica import ExponentialReplica, Replica, balancer
from fleetplan.sim.result import SimResult, summarize
from fleetplan.sim.work import check_work, events_per_request, over_cap

MAX_STEP_TOKENS = 1 << 22  # the step-time table's largest step (tokens)


def _roofline_replicas(
    sc: Scenario, cat: Catalog, loop: EventLoop, rec: Recorder
) -> tuple[list[Replica], int, dict[str, Any], tuple[str, ...], float]:
    from fleetplan.estimate import estimate_fit, notes_with_auto_precision
    from fleetplan.perf.dp_prefill import rank_prefill_tokens
    from fleetplan.perf.memory import (
        kv_pool_tokens,
        scheduler_cap,
        served_model,
        swa_pool_ratio,
    )
    from fleetplan.perf.roofline import setup
    from fleetplan.sim.batching import BatchingReplica
    from fleetplan.sim.frontend import Frontend
    from fleetplan.sim.kv_pool import KvPool, window_blocks
    from fleetplan.sim.steptime import StepTable

    model = resolve_model(cat, sc.model)
    eng = cat.engine(sc.engine).for_gpu(cat.gpu(sc.gpu)).for_model(model)
    model = served_model(model, eng)
    f = estimate_fit(
        model,
        sc.gpu,
        precision=sc.precision,
        kv_precision=sc.kv_precision,
        tp=sc.tp,
        engine=sc.engine,
        gpu_memory_utilization=sc.gpu_memory_utilization,
        catalog=cat,
        attention_dp=sc.attention_dp,
    )
    policy = policy_for(
        eng.id,
        getattr(eng, "engine", ""),
        profile_chunked=getattr(eng, "chunked_prefill", True),
        chunked_prefill=sc.chunked_prefill,
        capacity_scheduler_policy=sc.capacity_scheduler_policy,
        schedule_policy=sc.schedule_policy,
    )
    bs = sc.block_size or policy.block_size
    swa = swa_pool_ratio(model, eng)  # the window layers' own pool, if the engine gives one
    capacity = sc.kv_capacity_tokens or kv_pool_tokens(model, f, swa)
    if capacity < bs * 2:
        raise UnsupportedError(f"{model.id} on {f.gpu} x{sc.tp} leaves no KV cache: {f.limit}")
    s = setup(
        model,
        cat.gpu(sc.gpu),
        cat.precision_for(model, sc.precision),
        eng,
        tp=sc.tp,
        kv_precision=sc.kv_precision,
        attention_dp=sc.attention_dp,
        ep=sc.ep,
    )
    max_seqs = sc.max_num_seqs or scheduler_cap(eng, sc.attention_dp)
    max_tokens = sc.max_num_batched_tokens or eng.max_num_batched_tokens
    # data-parallel attention ranks that schedule on their own: a budget each (sim/dp_ranks.py)
    rank_tokens = rank_prefill_tokens(eng, max_tokens, sc.attention_dp)
    if rank_tokens:
        max_tokens = rank_tokens * sc.attention_dp
    blocks = capacity // bs
    # a running sequence holds a block at least and a prefill token a KV slot: a step has at
    # most max(min(max_tokens, KV tokens), min(max_seqs, blocks)) tokens
    largest = max(min(max_tokens, blocks * bs), min(max_seqs, blocks))
    if largest > MAX_STEP_TOKENS:
        raise InputError(
            f"max_num_batched_tokens = {max_tokens:,}, max_num_seqs = {max_seqs:,} and "
            f"{blocks * bs:,} KV tokens allow steps of {largest:,} tokens; the "
            f"simulator accepts at most {MAX_STEP_TOKENS:,} (lower max_num_batched_tokens, "
            "max_num_seqs or kv_capacity_tokens)"
        )
    table = StepTable(s, largest)
    # the API server's serial seconds a request taken in and a token streamed (sim/frontend.py)
    req_s = eng.server_ms_per_request(model) * 1e-3 if sc.api_server else 0.0
    tok_s = eng.api_server_us_per_output_token * 1e-6 if sc.api_server else 0.0
    hop_s = eng.server_latency_ms(model) * 1e-3  # on the way, chat template included
    win_blocks = window_blocks(model, bs, swa)
    share = eng.admission_watermark if sc.watermark is None else sc.watermark
    share = share if policy.admission == "watermark" else 0.0
    reps: list[Replica] = []
    for _ in range(sc.replicas):
        pool = KvPool(blocks, bs, share)
        rep = BatchingReplica(
            loop,
            rec,
            table,
            pool,
            max_num_seqs=min(max_seqs, blocks),
            max_num_batched_tokens=max_tokens,
            prefix_caching=sc.prefix_caching,
            policy=policy,
            window_blocks=win_blocks,
            attention_dp=sc.attention_dp,
            rank_tokens=rank_tokens,
        )
        if sc.api_server:
            rep = Frontend(loop, rep, rec, req_s, tok_s, hop_s, eng.api_server_queued_hand_off)
        reps.append(rep)
    watermark = pool.watermark_blocks  # each replica's pool keeps the same
    # the longest sequence the pool can hold beside its window layers' blocks
    room = (blocks - watermark - 1 - (win_blocks(model.max_context) if win_blocks else 0)) * bs
    cfg = {
        "service": "roofline",
        "setup": s.label,
        "replicas": sc.replicas,
        "load_balancer": sc.load_balancer,
        "max_num_seqs": max_seqs,
        "max_num_batched_tokens": max_tokens,
        "kv_capacity_tokens": blocks * bs,
        "kv_capacity_source": "scenario" if sc.kv_capacity_tokens else "memory model (fit)",
        "block_size": bs,
        "prefix_caching": sc.prefix_caching,
        "scheduler": policy.describe(sc.prefix_caching, share),
    }
    if win_blocks is not None:
        cfg["kv_capacity_tokens_counts"] = (
            f"tokens of the {model.layers - model.sliding_window_layers} full-attention layers; "
            f"the {model.sliding_window_layers} sliding-window layers hold at most "
            f"{model.sliding_window:,} tokens a sequence (blocks reserved at admission)"
        )
    if sc.api_server:
        cfg["api_server_ms_per_request"] = eng.server_ms_per_request(model)
        cfg["api_server_latency_ms"] = eng.server_latency_ms(model)
        cfg["api_server_us_per_output_token"] = eng.api_server_us_per_output_token
    notes = notes_with_auto_precision(s.notes, model, sc.precision)  # what "auto" picked
    return reps, min(room, model.max_context), cfg, notes, table.step_s(1.0, 0.0)


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
    slo = tuple(
        None if x is None else x / 1e3 for x in (sc.slo.ttft_ms, sc.slo.tpot_ms, sc.slo.e2e_ms)
    )
    rec = Recorder(slo)  # type: ignore[arg-type]
    notes: tuple[str, ...] = ()
    if sc.service.kind == "roofline":
        cat = catalog or load_catalog()
        reps, max_req_tokens, cfg, notes, min_step_s = _roofline_replicas(sc, cat, loop, rec)
        mean_in = min(sc.lengths.input.mean, sc.lengths.input.max or math.inf, max_req_tokens)
        per_request = events_per_request(mean_in, cfg["max_num_batched_tokens"])
        min_latency_s = min_step_s * min(sc.lengths.output.mean, max_req_tokens)
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
        min_latency_s = sc.service.mean_s
        cfg = {
            "service": "exponential",
            "mean_s": sc.service.mean_s,
            "slots": slots,
            "replicas": sc.replicas,
            "load_balancer": sc.load_balancer,
        }
    rng = np.random.default_rng(arr_seq)
    arrivals = sc.arrivals
    pick = balancer(sc.load_balancer, reps)
    if arrivals.kind == "concurrency":
        assert arrivals.users is not None
        cycle_s = arrivals.think_s + min_latency_s
        per_user = (arrivals.duration_s or math.inf) / cycle_s
        if arrivals.requests is not None:
            expected = min(arrivals.requests, arrivals.users * per_user)
        else:
            expected = arrivals.users * per_user
        check_work(expected, per_request, sc.max_events)
        window = arrivals.duration_s or expected / arrivals.users * cycle_s
        rec.set_windows(0.0, window)
        sampler = Sampler(loop, rec, reps, sc.sample_interval_s or window / SAMPLES)
        fed = closed_loop(
            loop, rec, pick, arrivals, sc.lengths.input, sc.lengths.output, sc.prefix, rng,
            max_req_tokens,
        )  # fmt: skip
    else:
        chunks = workload_chunks(
            arrivals,
            sc.lengths.input,
            sc.lengths.output,
            sc.prefix,
            rng,
            max_req_tokens,
            max_n=int(sc.max_events / per_request) + 1,
        )
        if arrivals.kind == "trace":  # held in memory anyway: counted before it runs
            parts = list(chunks)
            check_work(sum(len(w) for w in parts), per_request, sc.max_events)
            window = float(parts[-1].arrival_s[-1]) if parts else 0.0
            chunks = iter(parts)
        else:
            check_work(expected_requests(arrivals), per_request, sc.max_events)
            window = arrival_window_s(arrivals)
        rec.set_windows(0.0, window + 1e-9)
        sampler = Sampler(loop, rec, reps, sc.sample_interval_s or max(window, 1e-9) / SAMPLES)
        fed = open_loop(loop, rec, pick, sampler, chunks)
    sampler.fed = fed
    sampler.start()
    on_progress = None
    if progress is not None:

        def on_progress(now: float) -> None:
            progress(min(now / max(window, 1e-9), 1.0))

    loop.run(
        on_progress=on_progress,
        max_events=sc.max_events,
        on_over=lambda events: over_cap(events, sc.max_events),
    )
    if fed.sent == 0:
        raise InputError("arrivals: the scenario produces no requests (check rates and duration)")
    for r in reps:
        r.check_drained()
    if progress is not None:
        progress(1.0)
    return summarize(
        rec, fed.sent, fed.clipped, cfg, notes, loop.events, time.perf_counter() - wall0
    )
