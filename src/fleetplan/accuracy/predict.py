"""Predict one validation row under the scheduler and normalization its source used.

- static rows: B requests prefilled together, decoded until the last ends
  (`fleetplan.perf.schedule.static`);
- continuous rows: a steady closed loop of B sequences in flight (`schedule.continuous`);
- offline rows (N equal requests queued at once): throughput from waves of B (the largest
  concurrency the KV cache and the engine's scheduler cap allow) run like static batches
  (`burst_throughput`, held to the simulator by tests/accuracy/test_published.py), or from
  the simulator where the KV cache bounds B on an engine that preempts (`preempts_in_burst`);
  TTFT and TPOT, which depend on the queue, from the simulator replaying the burst;
- concurrency rows (a benchmark run with B requests in flight) and rate rows (an open loop
  at R req/s): every metric from the simulator (`fleetplan.sim`).
- `output_tok_per_s_per_gpu`: whole-replica output tokens/s ÷ GPU count (TensorRT-LLM
  performance.md and blogs: out_tps = output_len × batch / total latency / tp).
- `output_tok_per_s`: generated tokens ÷ total time, prefill included (LMDeploy, the
  TensorRT-LLM H100-vs-A100 blog).
- `batch_latency_s`: end-to-end time of the whole static batch (Argonne LLM-Inference-Bench).
- `decode_tok_per_s`: one stream's decode rate, 1 / TPOT (llama-bench tg, llama.cpp eval).
- `prefill_tok_per_s`: prompt tokens ÷ first-token latency at batch 1 (llama-bench pp).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from fleetplan.accuracy.rows import ValidationRow, row_lengths
from fleetplan.accuracy.server_view import (
    burst_server_s,
    through_server,
)
from fleetplan.catalog import Catalog
from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.errors import InputError
from fleetplan.perf.memory import fit, scheduler_cap
from fleetplan.perf.roofline import Setup, setup
from fleetplan.perf.schedule import PerfResult, continuous, run

SIMULATED = ("rate", "concurrency")  # schedules whose every metric comes from the simulator
LATENCY = ("ttft_ms", "tpot_ms", "itl_ms")
_VERSION = re.compile(r"\d+(?:\.\d+)+")


@dataclass(frozen=True)
class Prediction:
    row: ValidationRow
    predicted: float

    @property
    def error(self) -> float:
        """Signed relative error, (predicted − measured) / measured."""
        return (self.predicted - self.row.value) / self.row.value


def row_engine(row: ValidationRow, catalog: Catalog) -> EngineProfile:
    """The release family a row was measured with: its engine at the first version number its
    `engine_version` names ('~0.5.x-0.6.x' -> 0.5), or the engine's current family when it
    names none (llama.cpp build dates) or no family covers it."""
    found = _VERSION.search(row.engine_version)
    if found:
        try:
            return catalog.engine(f"{row.engine}@{found.group(0)}")
        except InputError:
            pass
    return catalog.engine(row.engine)


def needs_simulator(row: ValidationRow) -> bool:
    """Rows whose prediction runs the discrete-event simulator (slower: ~0.03-0.3 s each):
    open loops, benchmark runs at a concurrency, the latencies of offline bursts (their
    queueing), and static batches the run's KV cache cannot hold (`outgrows_kv`)."""
    return (
        row.schedule in SIMULATED
        or (row.schedule == "offline" and row.metric in LATENCY)
        or outgrows_kv(row)
    )


def outgrows_kv(row: ValidationRow) -> bool:
    """Whether a static batch's latencies outgrow the KV cache its run set: its sequences at
    full length need more than `kv_cache_tokens`. TurboMind (`sim/policy.py`) admits what
    fits, preempts the latest as they grow, and later first tokens wait for earlier requests
    to finish: the simulator replays the batch's users sending their rounds back to back
    (LMDeploy's profile_generation.py). Throughput stays the static batch's: the simulator's
    equal requests, preempted in step, fall 20-40 % under the runs (whose rounds drift)."""
    need = row.batch * (row.input_len + row.output_len)
    latency = row.metric in LATENCY
    return latency and row.schedule == "static" and 0 < row.kv_cache_tokens < need


def row_setup(row: ValidationRow, catalog: Catalog, engine: EngineProfile | None = None) -> Setup:
    """The row's setup under `engine` (default: its release family), at the row's release
    (kernel choices that changed within a family: `EngineProfile.at_version`) on the executor
    backend its launch command names (`EngineProfile.on_backend`)."""
    eng = engine if engine is not None else row_engine(row, catalog)
    found = _VERSION.search(row.engine_version)
    if found:
        eng = eng.at_version(found.group(0))
    eng = eng.on_backend(row.backend)
    if row.kv_cache_fraction or row.max_num_tokens or row.max_batch_size or row.max_model_len:
        eng = eng.for_gpu(catalog.gpu(row.gpu))  # the run's own settings replace these defaults
    if row.kv_cache_fraction:  # the run's own KV memory setting
        eng = dataclasses.replace(eng, gpu_memory_utilization=row.kv_cache_fraction)
    if row.max_num_tokens or row.max_batch_size:  # the run's own scheduler limits
        eng = dataclasses.replace(
            eng,
            max_num_batched_tokens=row.max_num_tokens or eng.max_num_batched_tokens,
            max_num_seqs=row.max_batch_size or eng.max_num_seqs,
        )
    # the host's time between steps runs under the GPU's (published.async_scheduling)
    if row.async_scheduling:
        eng = dataclasses.replace(eng, step_overhead_ms=0.0)
    if row.max_model_len:  # the run's --max-model-len sizes the engine's scheduler
        model = catalog.model(row.model)
        eng = eng.for_model(model, row.max_model_len)
    return setup(
        catalog.model(row.model),
        catalog.gpu(row.gpu),
        catalog.precision(row.precision),
        eng,
        tp=row.tp,
        kv_precision=row.kv_precision,
        attention_dp=row.attention_dp,
        ep=row.ep,
    )


def concurrency_cap(row: ValidationRow, s: Setup) -> int:
    """Sequences the replica runs at once: KV room at the row's context and the engine cap."""
    f = fit(
        s.model,
        s.gpu,
        s.precision,
        s.engine,
        kv_precision=row.kv_precision,
        tp=s.tp,
        context=min(row.input_len + row.output_len, s.model.max_context),
        attention_dp=s.attention_dp,
    )
    if not f.fits:
        raise InputError(f"row {row.row_id}: {f.limit}")
    return f.concurrency


def simulate_row(row: ValidationRow, s: Setup, catalog: Catalog) -> float:
    """The row's metric from the simulator: the row's requests arriving as a Poisson process at
    its rate (exactly that many, as the benchmark sent them), or a closed loop of the row's
    concurrency (an offline burst: every request at once; a static batch: its users, each
    sending its requests back to back); request lengths from `row_lengths`."""
    from fleetplan.sim import simulate

    if row.schedule == "rate":  # the run's requests, sent with exponential gaps at its rate
        arrivals = {"kind": "poisson", "rate_per_s": row.rate_per_s, "requests": row.batch}
    else:  # a closed loop: `batch` users (an offline burst: every request a user, all at 0)
        sent = row.batch if row.schedule == "offline" else max(row.requests, row.batch)
        arrivals = {"kind": "concurrency", "users": row.batch, "requests": sent}
    cat = dataclasses.replace(catalog, engines={**catalog.engines, s.engine.id: s.engine})
    res = simulate(
        {
            "model": s.model.id,
            "gpu": s.gpu.id,
            "precision": s.precision.id,
            "kv_precision": row.kv_precision,
            "tp": s.tp,
            "attention_dp": s.attention_dp,
            "ep": s.ep,
            "engine": s.engine.id,
            "arrivals": arrivals,
            "lengths": row_lengths(row),
            "prefix_caching": s.engine.prefix_caching_default,  # as the run's engine had it
            "kv_capacity_tokens": row.kv_cache_tokens or None,  # the run's own KV cache
            "api_server": row.api_server,  # measured by a client through the engine's server
            "seed": 0,
        },
        catalog=cat,
    )
    stat = "p50" if row.stat == "median" else "mean"
    m = row.metric
    if m == "ttft_ms":
        return getattr(res.ttft_ms, stat)
    if m == "tpot_ms":
        return getattr(res.tpot_ms, stat)
    if m == "itl_ms":
        return getattr(res.itl_ms, stat)
    if m == "output_tok_per_s":
        return res.output_tok_per_s
    if m == "total_tok_per_s":
        return res.output_tok_per_s + res.input_tok_per_s
    raise InputError(f"row {row.row_id}: metric {m} is not simulated")


def preempts_in_burst(row: ValidationRow, s: Setup, b: int) -> bool:
    """Whether an offline burst's throughput is the simulator's to predict: the KV cache, not
    the engine's cap, bounds its concurrency `b`, and the engine's scheduler admits prompts
    without reserving their output (vLLM, SGLang; not TensorRT-LLM's default
    GUARANTEED_NO_EVICT). Such an engine admits more requests than the cache holds at full
    length and preempts by recompute as they grow, which the waves of `burst_throughput` do
    not replay (vLLM V1 on an H100 admits up to its 1,024-sequence default)."""
    from fleetplan.sim.policy import profile_policy

    if row.metric not in ("output_tok_per_s", "total_tok_per_s"):
        return False
    if b >= min(row.batch, scheduler_cap(s.engine, s.attention_dp)):
        return False
    pol = profile_policy(s.engine)
    return pol.admission != "reserve_full"


def burst_throughput(s: Setup, n: int, b: int, i: int, o: int, total: bool = False) -> float:
    """Tokens/s of `n` equal requests queued at once, `b` at a time: equal lengths keep them
    in step, so they run in waves of b (and a last partial wave) that are prefilled together
    and finish together, like static batches."""
    waves, rest = divmod(n, b)
    sizes = np.array([float(b)] + ([float(rest)] if rest else []))
    r = run(s, sizes, i, o, "static")
    per_wave = sizes * o / r.output_tok_per_s  # seconds per wave
    seconds = waves * float(per_wave[0]) + (float(per_wave[1]) if rest else 0.0)
    return n * (i + o if total else o) / seconds


def perf_metric(row: ValidationRow, r: PerfResult, b: int) -> float:
    """The row's metric from a perf result at batch `b`."""
    out = float(r.output_tok_per_s[0])
    m = row.metric
    if m == "output_tok_per_s":
        return out
    if m == "total_tok_per_s":
        return float(r.total_tok_per_s[0])
    if m == "output_tok_per_s_per_gpu":
        return out / row.gpu_count
    if m == "batch_latency_s":
        return b * row.output_len / out
    if m == "ttft_ms":
        return float(r.ttft_s[0]) * 1e3
    if m in ("tpot_ms", "itl_ms"):  # equal requests in step: every gap is the mean step
        return float(r.tpot_s[0]) * 1e3
    if m == "decode_tok_per_s":
        return 1.0 / float(r.tpot_s[0])
    if m == "prefill_tok_per_s":
        return row.input_len / float(r.ttft_s[0])
    raise AssertionError(m)  # ValidationRow rejects other metrics


def predict_value(
    row: ValidationRow, s: Setup, catalog: Catalog | None = None, *, analytic: bool = False
) -> float:
    """The row's metric as the model predicts it for the compiled setup `s` (`analytic`: an
    offline burst that preempts as waves all the same, as a fit sees it: `fit_value`)."""
    if needs_simulator(row):
        if catalog is None:
            raise InputError(f"row {row.row_id}: a simulated row needs the catalog")
        return simulate_row(row, s, catalog)
    i, o, b = row.input_len, row.output_len, row.batch
    if row.schedule in ("offline", "continuous"):
        b = min(b, concurrency_cap(row, s))
        offline = row.schedule == "offline"
        # a burst of varied lengths ends with its longest outputs decoding at a small batch,
        # which waves of mean-length requests do not have: the simulator replays it (a fit
        # still sees the waves)
        varied = row.lengths != "fixed"
        if (
            offline
            and not analytic
            and (preempts_in_burst(row, s, b) or through_server(row, s) or varied)
        ):
            if catalog is None:
                raise InputError(f"row {row.row_id}: a simulated row needs the catalog")
            return simulate_row(row, s, catalog)
        if offline and row.metric not in ("tpot_ms", "itl_ms"):
            tput = burst_throughput(s, row.batch, b, i, o, row.metric == "total_tok_per_s")
            if through_server(row, s):  # a fit's view of the burst through the server
                gpu_s = row.batch * (i + o if row.metric == "total_tok_per_s" else o) / tput
                tput *= gpu_s / burst_server_s(row, s, gpu_s)
            return tput
        r = continuous(s, np.array([float(b)]), i, o)
    else:
        r = run(s, np.array([float(b)]), i, o, row.schedule)
    return perf_metric(row, r, b)


def fittable(row: ValidationRow) -> bool:
    """Rows a fit can use: every row `perf` predicts, and rows measured at a fixed
    concurrency (`fit_value` predicts those analytically)."""
    return not needs_simulator(row) or row.schedule == "concurrency"


def burst_ttft_row(row: ValidationRow) -> bool:
    """Whether the row is the mean or median TTFT of a burst measured through the server."""
    return row.api_server and row.schedule == "offline" and row.metric == "ttft_ms"


def server_fittable(
    row: ValidationRow, catalog: Catalog, engine: EngineProfile | None = None
) -> bool:
    """Rows a fit of the API server's factors can use besides `fittable` ones: the mean or
    median TTFT of a burst measured through the server (`burst_ttft_s`) whose requests all run
    at once (`burst_runs_at_once`)."""
    return burst_ttft_row(row) and burst_runs_at_once(row, row_setup(row, catalog, engine))


def burst_runs_at_once(row: ValidationRow, s: Setup) -> bool:
    """Whether no prompt of an offline burst waits for a slot: the requests in flight while the
    engine prefills the prompts in turn (all of them, or as many as its prefill steps complete
    while the first ones decode: `max_num_batched_tokens` / prompt tokens a step, over output + 1
    steps) fit in the KV cache and under the engine's cap. The fit's view of a burst's TTFT
    (`burst_ttft_s`) prefills the prompts in turn with none waiting; where they do wait, most
    first tokens come after earlier requests finish decoding, which the simulator replays and
    that view does not (GPUStack's 1,000 ShareGPT requests to Qwen3-32B on one A100 under vLLM:
    55 s against the simulator's 122 s), and a fit of the server's factors on such rows would
    take the queueing up as the server's intake."""
    per_step = max(s.engine.max_num_batched_tokens / max(row.input_len, 1), 1.0)
    in_flight = min(float(row.batch), per_step * (row.output_len + 1))
    try:
        return concurrency_cap(row, s) >= in_flight
    except InputError:
        return False


def predict_row(
    row: ValidationRow, catalog: Catalog, engine: EngineProfile | None = None
) -> Prediction:
    return Prediction(row, predict_value(row, row_setup(row, catalog, engine), catalog))


def predict_rows(
    rows: list[ValidationRow], catalog: Catalog, engines: dict[str, EngineProfile] | None = None
) -> list[Prediction]:
    """Predictions for every row; `engines` overrides catalog engine profiles by id."""
    engines = engines or {}
    out = []
    for row in rows:
        eng = row_engine(row, catalog)
        out.append(predict_row(row, catalog, engines.get(eng.id, eng)))
    return out
