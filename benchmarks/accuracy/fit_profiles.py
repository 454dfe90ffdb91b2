"""Fit the packaged engine profiles' efficiency factors to the validation set, once.

    python benchmarks/accuracy/fit_profiles.py [--engine ID]

For each engine it fits, by least squares on ln(predicted / measured) over ALL of that
engine's rows of measurements.csv, a handful of factors: the base factors, and where the rows
span GPU generations or weight formats, `architecture_scale` / `format_scale` multipliers.
No factor belongs to a single row. It prints the fitted values and the errors before and
after; the values are then written (rounded) into src/fleetplan/catalog/data/engines.toml by
hand, with `sources` naming these rows. Tied targets share one fitted value.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from fleetplan.accuracy.calibrate import relative_errors, summarize
from fleetplan.accuracy.rows import read_rows_csv
from fleetplan.catalog import load_catalog
from fleetplan.catalog.specs import EngineProfile

HERE = Path(__file__).resolve().parent
# a target: ("base", factor) | ("arch", architecture, factor) | ("format", precision, factor)
Target = tuple[str, ...]
# physical ceilings: streaming kernels reach ~92 % of the spec bandwidth (STREAM-like copies on
# A100/H100), large GEMMs ~85 % of the spec dense peak
MAX_BW, MAX_MFU = 0.92, 0.85
GGUF = ("gguf-q4_0", "gguf-q4_k_m", "gguf-q8_0")
# the factors every batching server is fitted on (vLLM and LMDeploy need nothing more)
SERVING_ENGINE: list[tuple[list[Target], float, float]] = [
    ([("base", "mbu")], 0.3, MAX_BW),
    ([("base", "attention_mbu")], 0.1, MAX_BW),
    ([("base", "mfu_prefill")], 0.1, MAX_MFU),
    ([("base", "step_overhead_ms")], 0.0, 20.0),
    ([("base", "gemm_half_tokens")], 0.0, 256.0),
    ([("base", "allreduce_latency_us")], 0.0, 50.0),
]
# engine -> list of (tied targets, lower, upper)
PLAN: dict[str, list[tuple[list[Target], float, float]]] = {
    "tensorrt-llm": [
        ([("base", "mbu")], 0.3, MAX_BW),
        ([("base", "attention_mbu")], 0.1, MAX_BW),
        ([("base", "mfu_prefill")], 0.1, MAX_MFU),
        ([("base", "step_overhead_ms")], 0.0, 20.0),
        ([("base", "gemm_half_tokens")], 0.0, 256.0),
        ([("base", "gqa_kv_reread")], 0.0, 1.0),
        ([("base", "allreduce_latency_us")], 0.0, 50.0),
        ([("format", "fp8", "mfu_prefill")], 0.3, 1.5),
    ],
    "lmdeploy": SERVING_ENGINE,
    "vllm": SERVING_ENGINE,
    "llama.cpp": [
        ([("base", "mbu")], 0.3, MAX_BW),
        ([("base", "mfu_prefill")], 0.1, MAX_MFU),
        ([("base", "per_layer_overhead_us")], 0.0, 500.0),
        ([("base", "gemm_half_tokens")], 0.0, 256.0),
        ([("arch", a, "per_layer_overhead_us") for a in ("ampere", "hopper")], 0.5, 4.0),
        ([("format", p, "mfu_prefill") for p in GGUF], 0.2, 1.5),
        ([("format", p, "mbu") for p in GGUF], 0.5, 1.5),
    ],
}  # fmt: skip


def apply(eng: EngineProfile, plan: list, values: np.ndarray) -> EngineProfile:
    base: dict[str, float] = {}
    arch = {k: dict(v) for k, v in eng.architecture_scale.items()}
    fmt = {k: dict(v) for k, v in eng.format_scale.items()}
    for (targets, _lo, _hi), v in zip(plan, values, strict=True):
        for t in targets:
            if t[0] == "base":
                base[t[1]] = float(v)
            elif t[0] == "arch":
                arch.setdefault(t[1], {})[t[2]] = float(v)
            else:
                fmt.setdefault(t[1], {})[t[2]] = float(v)
    return dataclasses.replace(eng, **base, architecture_scale=arch, format_scale=fmt)


def start_value(eng: EngineProfile, targets: list[Target], lo: float, hi: float) -> float:
    t = targets[0]
    if t[0] == "base":
        v = float(getattr(eng, t[1]))
    elif t[0] == "arch":
        v = eng.architecture_scale.get(t[1], {}).get(t[2], 1.0)
    else:
        v = eng.format_scale.get(t[1], {}).get(t[2], 1.0)
    return float(np.clip(v, lo + 1e-6, hi - 1e-6))


def fit(engine_id: str) -> None:
    cat = load_catalog()
    rows = [r for r in read_rows_csv(HERE / "measurements.csv") if r.engine == engine_id]
    eng = cat.engine(engine_id)
    plan = PLAN[engine_id]
    x0 = np.array([start_value(eng, t, lo, hi) for t, lo, hi in plan])
    lo = np.array([p[1] for p in plan])
    hi = np.array([p[2] for p in plan])
    before = relative_errors(rows, cat, eng)

    def res(x: np.ndarray) -> np.ndarray:
        return np.log1p(relative_errors(rows, cat, apply(eng, plan, x)))

    sol = least_squares(res, x0, bounds=(lo, hi), diff_step=1e-3)
    after = relative_errors(rows, cat, apply(eng, plan, sol.x))
    print(f"{engine_id}: {len(rows)} rows")
    for (targets, _l, _h), v in zip(plan, sol.x, strict=True):
        print(f"  {' = '.join('.'.join(t[1:]) if t[0] != 'base' else t[1] for t in targets)}"
              f" = {v:.4g}")  # fmt: skip
    b, a = summarize(before), summarize(after)
    print(f"  |error| before: median {b['median']:.1f} % p90 {b['p90']:.1f} % "
          f"worst {b['worst']:.1f} %")  # fmt: skip
    print(f"  |error| after:  median {a['median']:.1f} % p90 {a['p90']:.1f} % "
          f"worst {a['worst']:.1f} %")  # fmt: skip
    for r, e in sorted(zip(rows, after, strict=True), key=lambda p: -abs(p[1]))[:6]:
        print(f"    row {r.row_id} {r.model} {r.gpu} {r.metric} {100 * e:+.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=sorted(PLAN), action="append")
    for engine_id in ap.parse_args().engine or sorted(PLAN):
        fit(engine_id)


if __name__ == "__main__":
    main()
