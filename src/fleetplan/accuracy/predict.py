"""Predict one validation row under the scheduler and normalization its source used.

- static rows: B requests prefilled together, decoded until the last ends
  (`fleetplan.perf.schedule.static`); continuous rows: a closed loop at concurrency B.
- `output_tok_per_s_per_gpu`: whole-replica output tokens/s ÷ GPU count (TensorRT-LLM
  performance.md and blogs: out_tps = output_len × batch / total latency / tp).
- `output_tok_per_s`: generated tokens ÷ total time, prefill included (LMDeploy, the
  TensorRT-LLM H100-vs-A100 blog).
- `batch_latency_s`: end-to-end time of the whole static batch (Argonne LLM-Inference-Bench).
- `decode_tok_per_s`: one stream's decode rate, 1 / TPOT (llama-bench tg, llama.cpp eval).
- `prefill_tok_per_s`: prompt tokens ÷ first-token latency at batch 1 (llama-bench pp).
- pipeline / layer split (pp > 1) with one stream: the token passes the layers one GPU after
  another, so its time is the whole model's on one GPU of the group (tp = 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import EngineProfile
from fleetplan.errors import InputError
from fleetplan.perf.roofline import Setup, setup
from fleetplan.perf.schedule import run


@dataclass(frozen=True)
class Prediction:
    row: ValidationRow
    predicted: float

    @property
    def error(self) -> float:
        """Signed relative error, (predicted − measured) / measured."""
        return (self.predicted - self.row.value) / self.row.value


_VERSION = re.compile(r"\d+(?:\.\d+)+")


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


def predict_value(row: ValidationRow, s: Setup) -> float:
    """The row's metric as the model predicts it for the compiled setup `s`."""
    i, o, b = row.input_len, row.output_len, row.batch
    r = run(s, np.array([float(b)]), i, o, row.schedule)
    out = float(r.output_tok_per_s[0])
    m = row.metric
    if m == "output_tok_per_s":
        return out
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
    return Prediction(row, predict_value(row, row_setup(row, catalog, engine)))


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
