"""Predict one validation row under the scheduler and normalization its source used.

- static rows: B requests prefilled together, decoded until the last ends
  (`fleetplan.perf.schedule.static`);
- continuous rows: a closed loop of B sequences in flight (`schedule.continuous`; held to the
  simulator by tests/accuracy/test_published.py);
- offline rows (N requests queued at once): the closed loop at the largest concurrency B the
  KV cache and the engine's scheduler cap allow; TTFT adds the queue (`burst_ttft_s`: the
  first B prompts are prefilled together, request j > B starts when j − B have finished);
  held to the simulator by tests/accuracy/test_published.py;
- rate rows (an open loop at R req/s): every metric from the simulator (`fleetplan.sim`).
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

from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import EngineProfile
from fleetplan.errors import InputError
from fleetplan.perf.memory import fit
from fleetplan.perf.roofline import Setup, setup
from fleetplan.perf.schedule import continuous, run

SIMULATED = ("rate",)  # schedules whose every metric comes from the simulator
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
    """Rows whose prediction runs the discrete-event simulator (slower: ~0.05-0.5 s each)."""
    return row.schedule in SIMULATED


def burst_ttft_s(s: Setup, n: int, b: int, i: int, o: int, stat: str = "mean") -> float:
    """TTFT of `n` requests queued at once on a replica that runs `b` at a time.

    The first b prompts are prefilled together (in chunks of max_num_batched_tokens) before
    the first tokens come: on average half of that time. Request j > b waits for j − b
    completions at the steady completion rate, then is prefilled alongside the others' decodes
    (the closed loop's TTFT)."""
    from fleetplan.perf.schedule import prefill_time_s

    r = continuous(s, np.array([float(b)]), i, o)
    rate = float(r.output_tok_per_s[0]) / o  # requests finished per second
    first = float(prefill_time_s(s, float(b * i), float(s.engine.max_num_batched_tokens)))
    ttft = float(r.ttft_s[0])
    if stat == "median":
        j = n / 2
        return first / 2 if j <= b else (j - b) / rate + ttft
    later = n - b
    total = b * first / 2 + later * ttft + later * (later + 1) / 2 / rate
    return total / n


def row_setup(row: ValidationRow, catalog: Catalog, engine: EngineProfile | None = None) -> Setup:
    eng = engine if engine is not None else row_engine(row, catalog)
    return setup(
        catalog.model(row.model),
        catalog.gpu(row.gpu),
        catalog.precision(row.precision),
        eng,
        tp=row.tp,
        kv_precision=row.kv_precision,
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
    )
    if not f.fits:
        raise InputError(f"row {row.row_id}: {f.limit}")
    return f.concurrency


def simulate_row(row: ValidationRow, s: Setup, catalog: Catalog) -> float:
    """The row's metric from the simulator: Poisson arrivals at the row's rate for as long as
    its requests take to arrive; fixed lengths at the row's means."""
    from fleetplan.sim import simulate

    arrivals = {
        "kind": "poisson",
        "rate_per_s": row.rate_per_s,
        "duration_s": row.batch / row.rate_per_s,
    }
    cat = dataclasses.replace(catalog, engines={**catalog.engines, s.engine.id: s.engine})
    res = simulate(
        {
            "model": s.model.id,
            "gpu": s.gpu.id,
            "precision": s.precision.id,
            "kv_precision": row.kv_precision,
            "tp": s.tp,
            "engine": s.engine.id,
            "arrivals": arrivals,
            "lengths": {
                "input": {"mean": row.input_len},
                "output": {"mean": row.output_len},
            },
            "prefix_caching": False,
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
    if m == "output_tok_per_s":
        return res.output_tok_per_s
    if m == "total_tok_per_s":
        return res.output_tok_per_s + res.input_tok_per_s
    raise InputError(f"row {row.row_id}: metric {m} is not simulated")


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


def predict_value(row: ValidationRow, s: Setup, catalog: Catalog | None = None) -> float:
    """The row's metric as the model predicts it for the compiled setup `s`."""
    if needs_simulator(row):
        if catalog is None:
            raise InputError(f"row {row.row_id}: a simulated row needs the catalog")
        return simulate_row(row, s, catalog)
    i, o, b = row.input_len, row.output_len, row.batch
    if row.schedule in ("offline", "continuous"):
        b = min(b, concurrency_cap(row, s))
        if row.schedule == "offline" and row.metric == "ttft_ms":
            return burst_ttft_s(s, row.batch, b, i, o, row.stat) * 1e3
        if row.schedule == "offline" and row.metric != "tpot_ms":
            return burst_throughput(s, row.batch, b, i, o, row.metric == "total_tok_per_s")
        r = continuous(s, np.array([float(b)]), i, o)
    else:
        r = run(s, np.array([float(b)]), i, o, row.schedule)
    out = float(r.output_tok_per_s[0])
    m = row.metric
    if m == "output_tok_per_s":
        return out
    if m == "total_tok_per_s":
        return float(r.total_tok_per_s[0])
    if m == "output_tok_per_s_per_gpu":
        return out / row.gpu_count
    if m == "batch_latency_s":
        return b * o / out
    if m == "ttft_ms":
        return float(r.ttft_s[0]) * 1e3
    if m == "tpot_ms":
        return float(r.tpot_s[0]) * 1e3
    if m == "decode_tok_per_s":
        return 1.0 / float(r.tpot_s[0])
    if m == "prefill_tok_per_s":
        return i / float(r.ttft_s[0])
    raise AssertionError(m)  # ValidationRow rejects other metrics


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
