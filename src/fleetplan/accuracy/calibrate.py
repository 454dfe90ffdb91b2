"""Least-squares calibration of an engine profile's efficiency factors from measured rows.

The fit multiplies each chosen factor of the profile by a correction k (so that per-GPU
generation `architecture_scale` ratios are kept) and minimizes the log errors of the rows'
predictions: residual = ln(predicted / measured), which treats over- and under-prediction of
throughput and latency alike. Solved with `scipy.optimize.least_squares` (trust-region
reflective, bounded so that fractions stay in (0, 1]).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from fleetplan.accuracy.fit_stages import BASE_FACTORS
from fleetplan.accuracy.fit_view import fit_value
from fleetplan.accuracy.predict import fittable, row_engine, row_setup, server_fittable
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog import Catalog
from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.generations import BANDWIDTH_CEILING, FACTOR_CEILINGS, MFU_CEILING
from fleetplan.errors import InputError

# physical ceilings: streaming kernels reach ~92 % of the spec bandwidth (STREAM-like copies on
# A100/H100), large GEMMs ~85 % of the spec dense peak (catalog.generations)
MAX_BW, MAX_MFU = BANDWIDTH_CEILING, MFU_CEILING
# a grouped MoE GEMM pads each touched expert's rows to its tile height, at most 128 rows:
# vLLM's tuned fused-MoE configs use BLOCK_SIZE_M 16 up to 128-token batches and 128 from
# 1,024 (https://github.com/vllm-project/vllm/blob/2a4fe63c4facbbc202129fc654dcbdd652476b93/vllm/model_executor/layers/fused_moe/configs/E=128,N=384,device_name=NVIDIA_H200.json).
# Padded to an M-row tile, t tokens run at t / M of the GEMM's rate, half of it at t = M / 2:
# the tokens per expert at which the GEMM reaches half its efficiency stay within 64
MAX_MOE_HALF_TOKENS = 64.0
# a fixed cost per routed expert a GPU runs in a MoE layer: at most a few kernel launches' worth
# (a CUDA-graph kernel node starts in ~2 us; a per-expert quantize, GEMM and activation chain
# that did not fuse would cost several), not a physical constant: fitted per family within it
MAX_MOE_EXPERT_OVERHEAD_US = 10.0
# factor -> (lower bound, upper bound) of its absolute value
FITTABLE: dict[str, tuple[float, float]] = {
    "mbu": (0.05, MAX_BW),
    "attention_mbu": (0.02, MAX_BW),
    "mfu_prefill": (0.02, MAX_MFU),
    "step_overhead_ms": (0.0, 100.0),
    "gemm_half_tokens": (0.0, 512.0),
    "moe_gemm_half_tokens": (0.0, MAX_MOE_HALF_TOKENS),
    "attention_mfu_scale": (0.25, 4.0),
    "moe_stream_scale": (0.1, 1.0),
    "moe_expert_overhead_us": (0.0, MAX_MOE_EXPERT_OVERHEAD_US),
    "per_layer_overhead_us": (0.0, 1000.0),
    "allreduce_latency_us": (0.0, 200.0),
    # at most an A100's L2 read bandwidth over its HBM's (~3.5x): kernels.prefill_kv_reread
    "prefill_kv_reread_bandwidth_scale": (1.0, 4.0),
    "api_server_ms_per_request": (0.0, 100.0),
    "api_server_latency_ms": (0.0, 500.0),
    "chat_template_latency_ms": (0.0, 500.0),
    "chat_template_ms_per_request": (0.0, 100.0),
    "api_server_us_per_output_token": (0.0, 2000.0),
}
CEILING = {**FACTOR_CEILINGS, "moe_stream_scale": 1.0}
DEFAULT_FACTORS = BASE_FACTORS  # what `fleetplan calibrate` fits unless told otherwise


@dataclass(frozen=True)
class FitResult:
    engine: EngineProfile  # the fitted profile
    factors: dict[str, float]  # fitted base values
    before: dict[str, float]  # base values before the fit
    errors_before: np.ndarray  # signed relative errors per row
    errors_after: np.ndarray
    rows: tuple[ValidationRow, ...]


SCALE_BOUNDS = (0.25, 4.0)  # an architecture_scale / format_scale multiplier


def _split(target: str) -> tuple[str, str, str]:
    """'mbu' -> ('base', '', 'mbu'); 'arch:blackwell:mfu_prefill' / 'format:fp4:mbu' -> parts."""
    parts = target.split(":")
    if len(parts) == 1:
        return "base", "", parts[0]
    if len(parts) == 3 and parts[0] in ("arch", "format"):
        return parts[0], parts[1], parts[2]
    raise InputError(
        f"factor {target!r}: expected NAME, arch:ARCHITECTURE:NAME or format:PRECISION:NAME"
    )


def factor_value(engine: EngineProfile, target: str) -> float:
    kind, key, name = _split(target)
    if kind == "base":
        return float(getattr(engine, name))
    table = engine.architecture_scale if kind == "arch" else engine.format_scale
    return float(table.get(key, {}).get(name, 1.0))


def with_factors(engine: EngineProfile, values: dict[str, float]) -> EngineProfile:
    """`engine` with base factors and architecture/format scales replaced; scales that would
    lift a fraction above its physical ceiling are cut back to it."""
    base: dict[str, float] = {}
    arch = {k: dict(v) for k, v in engine.architecture_scale.items()}
    fmt = {k: dict(v) for k, v in engine.format_scale.items()}
    for target, v in values.items():
        kind, key, name = _split(target)
        if kind == "base":
            base[name] = float(v)
        else:
            (arch if kind == "arch" else fmt).setdefault(key, {})[name] = float(v)
    out = dataclasses.replace(engine, **base)
    for name, cap in CEILING.items():
        b = float(getattr(out, name))
        for scales in arch.values():
            if name in scales:
                scales[name] = min(scales[name], cap / b)
        for scales in fmt.values():
            if name in scales:
                worst = max((sc.get(name, 1.0) for sc in arch.values()), default=1.0)
                scales[name] = min(scales[name], cap / (b * max(worst, 1.0)))
    return dataclasses.replace(out, architecture_scale=arch, format_scale=fmt)


def _bounds(target: str) -> tuple[float, float]:
    kind, _key, name = _split(target)
    if kind != "base":
        return SCALE_BOUNDS
    if name not in FITTABLE:
        raise InputError(f"cannot fit {name!r}; fittable factors: {', '.join(FITTABLE)}")
    return FITTABLE[name]


def relative_errors(
    rows: Sequence[ValidationRow], catalog: Catalog, engine: EngineProfile
) -> np.ndarray:
    """Signed relative errors (predicted − measured) / measured of `rows` under `engine`, as
    the fit sees them (`fit_view.fit_value`)."""
    out = np.empty(len(rows))
    for n, row in enumerate(rows):
        pred = fit_value(row, row_setup(row, catalog, engine), catalog)
        out[n] = (pred - row.value) / row.value
    return out


def fit_engine(
    rows: Sequence[ValidationRow],
    catalog: Catalog,
    engine: str | EngineProfile,
    factors: Sequence[str] = DEFAULT_FACTORS,
    bounds: dict[str, tuple[float, float]] | None = None,
    prior: dict[str, tuple[float, float]] | None = None,
    keep_if_worse: bool = True,
) -> FitResult:
    """Fit `factors` of `engine` to `rows` (all rows must be of that engine). A factor is a
    base factor ('mbu') or a scale ('arch:blackwell:mfu_prefill', 'format:fp4:mbu');
    `bounds` narrows a factor's range; `prior` maps a factor to (reference value, spread in ln
    units): one more residual ln(value / reference) / spread per factor, so that a factor the
    rows hardly constrain stays near what kernels reach instead of running to a bound.
    `keep_if_worse`: hand back the given profile when the fit's median error on the rows is
    worse (calibration); cross-validation passes False, since the given (packaged) profile was
    fitted on every source, the held-out one included."""
    from fleetplan.errors import require_extra

    least_squares = require_extra(
        "scipy.optimize", "solver", "calibration's least-squares fit"
    ).least_squares

    eng = catalog.engine(engine) if isinstance(engine, str) else engine
    rows = tuple(rows)
    if not rows:
        raise InputError("no measurements to calibrate on")
    for r in rows:
        if row_engine(r, catalog).engine != eng.engine:
            raise InputError(f"row {r.row_id} is for engine {r.engine!r}, not {eng.id!r}")
    bounds = {t: (bounds or {}).get(t) or _bounds(t) for t in factors}
    names = list(factors)
    if len(rows) < len(names):
        # fewer rows than factors: fit the most influential ones only
        names = names[: len(rows)]
    base = {n: factor_value(eng, n) for n in names}
    # fit in log space around the current value; additive factors at 0 start from a floor
    start = {n: max(float(np.clip(v, *bounds[n])), 1e-3) for n, v in base.items()}
    lo = np.array([np.log(max(bounds[n][0], 1e-4) / start[n]) for n in names])
    hi = np.array([np.log(bounds[n][1] / start[n]) for n in names])
    # start strictly inside the box: the trust region collapses at a bound
    margin = np.minimum(1e-2, (hi - lo) / 4)
    x0 = np.clip(np.zeros(len(names)), lo + margin, hi - margin)
    # rate rows and burst latencies: judged (a burst's TTFT through the API server is seen by a
    # fit of the server's factors, `server_view.burst_ttft_s`)
    server = any(n.startswith("api_server_") for n in names)
    fitted_rows = tuple(
        r for r in rows if fittable(r) or (server and server_fittable(r, catalog, eng))
    )
    if not fitted_rows:
        raise InputError("no concurrency, offline or static-batch rows to calibrate on")

    def profile(x: np.ndarray) -> EngineProfile:
        vals = {n: start[n] * float(np.exp(v)) for n, v in zip(names, x, strict=True)}
        return with_factors(eng, vals)

    anchors = [(k, np.log(ref / start[n]), sd) for k, n in enumerate(names)
               for ref, sd in [(prior or {}).get(n, (0.0, 0.0))] if ref > 0 and sd > 0]  # fmt: skip

    def residuals(x: np.ndarray) -> np.ndarray:
        errs = np.log1p(relative_errors(fitted_rows, catalog, profile(x)))
        if not anchors:
            return errs
        return np.concatenate([errs, [(x[k] - ln_ref) / sd for k, ln_ref, sd in anchors]])

    before = relative_errors(fitted_rows, catalog, eng)
    sol = least_squares(
        residuals,
        x0,
        bounds=(lo - 1e-12, hi + 1e-12),
        x_scale=1.0,
        diff_step=1e-3,
        ftol=1e-6,
        loss="soft_l1",  # robust: a source off by 10x does not steer the fit
        f_scale=0.2,
    )
    fitted = profile(sol.x)
    after = relative_errors(fitted_rows, catalog, fitted)
    if keep_if_worse and np.median(np.abs(after)) > np.median(np.abs(before)):
        fitted, after = eng, before  # never hand back a worse profile than the one given
    return FitResult(
        engine=fitted,
        factors={n: factor_value(fitted, n) for n in names},
        before=base,
        errors_before=before,
        errors_after=after,
        rows=fitted_rows,
    )


def summarize(errors: np.ndarray) -> dict[str, float]:
    """Median, 90th percentile and worst absolute relative error, in percent."""
    a = np.abs(np.asarray(errors, dtype=np.float64)) * 100.0
    if a.size == 0:
        raise InputError("no rows to summarize")
    return {
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
        "worst": float(a.max()),
    }


def _toml_value(v: object) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(round(float(v), 6)) if isinstance(v, float) else str(v)
    return json.dumps(str(v), ensure_ascii=False)  # a JSON string is a TOML basic string


def ceiling_bounds(
    engine: EngineProfile, factors: Sequence[str], generations: Collection[str]
) -> dict[str, tuple[float, float]]:
    """Bounds on base factors that keep them, times the profile's scale on each GPU generation
    the rows run on, under the factor's ceiling (`CEILING`): fitted on A100 rows, vLLM's weight
    stream share may not pass 0.92 / 1.189 of spec at its base."""
    out = {}
    for name in factors:
        if name not in CEILING or name not in FITTABLE:
            continue
        lo, hi = FITTABLE[name]
        for gen in generations:
            scale = engine.architecture_scale.get(gen, {}).get(name, 1.0)
            hi = min(hi, CEILING[name] / scale)
        out[name] = (min(lo, hi), hi)
    return out


def generation_scales(
    fit: FitResult, prior: EngineProfile, covered: Collection[str]
) -> dict[str, dict[str, float]]:
    """The generation scales a calibration profile writes for its fitted base factors that have
    a ceiling, against `prior`'s (the profile the fit started from): on the GPU generations the
    rows cover, the fit's own, cut back under the ceilings as it ran them; on the others, the
    scale that keeps the factor where `prior` had it (a calibration on H100 runs says nothing of
    an A100), under the ceilings too. {generation: {factor: scale}} where one differs from
    `prior`'s."""
    from fleetplan.catalog.specs import ARCHITECTURE_ORDER

    out: dict[str, dict[str, float]] = {}
    for name, new in fit.factors.items():
        if name not in CEILING or new <= 0:
            continue
        old = fit.before[name]
        for gen in ARCHITECTURE_ORDER:
            was = prior.architecture_scale.get(gen, {}).get(name, 1.0)
            ran = fit.engine.architecture_scale.get(gen, {}).get(name, 1.0)
            kept = min(ran if gen in covered else old * was / new, CEILING[name] / new)
            if abs(kept - was) > 1e-9:
                out.setdefault(gen, {})[name] = kept
    return out


def profile_toml(
    fit: FitResult,
    basis: str,
    date: str,
    prior: EngineProfile | None = None,
    covered: Collection[str] = (),
) -> str:
    """A calibration profile: a catalog override file with `[engines.<id>]` holding the fitted
    factors and the full `sources` table (fitted entries rewritten), so that
    `fleetplan perf --catalog profile.toml` applies it. With `prior` (the profile the fit
    started from) and `covered` (the GPU generations of the rows), it writes the generation
    scales too (`generation_scales`), so that the file runs what the fit ran on the rows'
    generations and leaves the others' factors as they were."""
    eng = fit.engine
    rescaled = generation_scales(fit, prior, covered) if prior is not None else {}
    s = summarize(fit.errors_before)
    a = summarize(fit.errors_after)
    lines = [
        f"# fleetplan calibration profile for engine {eng.id}, written {date}",
        f"# basis: {basis}",
        f"# |error| before: median {s['median']:.1f} %, p90 {s['p90']:.1f} %; "
        f"after: median {a['median']:.1f} %, p90 {a['p90']:.1f} % ({len(fit.rows)} rows)",
        "# use: fleetplan perf MODEL --gpu GPU --engine "
        f"{eng.id} --catalog THIS_FILE (a catalog override file)",
        "",
        f'[engines."{eng.id}"]',
    ]
    for name, value in fit.factors.items():
        lines.append(f"{name} = {_toml_value(value)}")
    for gen, scales in rescaled.items():
        lines += ["", f'[engines."{eng.id}".architecture_scale.{gen}]']
        lines += [f"{name} = {_toml_value(v)}" for name, v in scales.items()]
    lines += ["", f'[engines."{eng.id}".sources]']
    sources = dict(eng.sources)
    for name, value in fit.factors.items():
        sources[name] = (
            f"calibrated {date} by fleetplan calibrate on {basis}: {fit.before[name]:.4g} -> "
            f"{value:.4g}"
        )
    if rescaled:
        said = "; ".join(
            f"{gen} {name} x{v:.4g}" for gen, sc in rescaled.items() for name, v in sc.items()
        )
        sources["architecture_scale"] = (
            f"rewritten {date} by fleetplan calibrate on {basis} (rows on "
            f"{', '.join(sorted(covered)) or 'no known GPU'}): the other GPU generations keep "
            f"their factors as before, every one under its ceiling ({said}). Before: "
            + eng.sources.get("architecture_scale", "none")
        )
    for key, text in sources.items():
        lines.append(f"{_toml_value(key)} = {_toml_value(text)}")
    return "\n".join(lines) + "\n"
