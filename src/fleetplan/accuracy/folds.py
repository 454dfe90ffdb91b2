"""What a leave-one-source-out fold starts from and what it takes from elsewhere: the packaged
profile without the scales its own rows do not fit again (`fold_prior`), the GPU-generation
ratios it borrows from the reference family's fold (`borrow_generations`), the measured ratios
of what kernels reach on a generation nothing fits or lends (`physical_generations`), and the
references that stand in where its rows hold nothing of a GPU vendor or of the family
(`vendor_neutral`). `crossval.leave_one_source_out` uses them; they read crossval's references
when called."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fleetplan.accuracy.calibrate import CEILING
from fleetplan.accuracy.predict import fittable
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog import Catalog
from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.generations import PEAK_SHARE, ratio_scales, under_ceilings


def fold_prior(
    prior: EngineProfile, train: Sequence[ValidationRow], catalog: Catalog
) -> EngineProfile:
    """A fold's start: `prior` without the GPU-generation and weight-format scales that the
    fold's own rows do not fit again. The packaged scales were fitted on every source, the
    held-out one too: a generation whose rows all come from the held-out source (Blackwell in
    TensorRT-LLM's 1.0 tables) would otherwise be predicted with a scale fitted on them."""
    from fleetplan.accuracy.crossval import default_factors  # crossval imports this module

    refit = set(default_factors(train, catalog, prior.moe_expert_overhead_us > 0))
    arch = {
        gen: {n: v for n, v in scales.items() if f"arch:{gen}:{n}" in refit}
        for gen, scales in prior.architecture_scale.items()
    }
    fmt = {
        f: {n: v for n, v in scales.items() if f"format:{f}:{n}" in refit}
        for f, scales in prior.format_scale.items()
    }
    return dataclasses.replace(
        prior,
        architecture_scale={g: v for g, v in arch.items() if v},
        format_scale={f: v for f, v in fmt.items() if v},
    )


def base_generation(rows: Sequence[ValidationRow], catalog: Catalog) -> str:
    """The GPU generation a family's base factors describe: the most common one among its
    fitted dense-model rows (other generations get `architecture_scale` ratios to it)."""
    archs = [
        catalog.gpu(r.gpu).architecture
        for r in rows
        if fittable(r) and not catalog.model(r.model).is_moe
    ]
    return max(sorted(set(archs)), key=archs.count) if archs else ""


def borrow_generations(
    engine: EngineProfile, base: str, reference: EngineProfile, ref_base: str
) -> EngineProfile:
    """`engine` with the GPU-generation scales of `reference` (bandwidth and GEMM shares on a
    generation relative to the base one) for the generations `engine` has none of: what share
    of a generation's spec peak the kernels reach moves with the GPU more than with the engine
    (Hopper's dense peak needs its warp-group MMA kernels: FlashAttention-2 reaches ~35 % of an
    H100's peak against 50-73 % of an A100's, https://arxiv.org/abs/2407.08608), so a family
    fitted on one generation takes another's ratio from the family of its era whose rows cover
    it. Ratios are taken between the two families' base generations; shares stay under the
    ceilings."""
    if not base or base != ref_base or engine.id == reference.id:
        return engine
    arch = {k: dict(v) for k, v in engine.architecture_scale.items()}
    for gen, scales in reference.architecture_scale.items():
        if gen == base or gen in arch:
            continue
        kept = {name: scales[name] for name in ("mbu", "mfu_prefill") if name in scales}
        arch[gen] = under_ceilings(kept, lambda name: getattr(engine, name))
    return dataclasses.replace(engine, architecture_scale=arch)


def physical_generations(engine: EngineProfile, base: str) -> EngineProfile:
    """`engine` with a prior for the GPU generations it has no scale for, fitted or borrowed:
    the ratio of the generation's measured shares of its spec peaks to the base generation's
    (`catalog.generations.PEAK_SHARE`: best GEMM and STREAM triad, measured the same way on each
    generation), under the ceilings. A fold whose rows hold none of a generation
    (TensorRT-LLM without its 0.17 perf-overview tables holds no A100 row but four) would
    otherwise run it at the base generation's shares of spec."""
    arch = {k: dict(v) for k, v in engine.architecture_scale.items()}
    values = {name: getattr(engine, name) for name in CEILING}
    arch |= ratio_scales(values, base, PEAK_SHARE, CEILING, skip=arch)
    return dataclasses.replace(engine, architecture_scale=arch)


# A step's host work in the engines of before PRIOR_SINCE, whose Python loop scheduled, prepared
# inputs and processed outputs between GPU steps without overlapping them: ~4 ms of GPU bubble
# on every decode step in vLLM V0 before multi-step scheduling (vLLM RFC 6854, 2024-07-26, its
# profile of the baseline: "each highlighted redbox is about 4ms of GPU bubble ... incurred on
# every decode", https://github.com/vllm-project/vllm/issues/6854). PRIOR's 0.5 ms is the
# overlapped loop of the current engines.
LEGACY_STEP_OVERHEAD_MS = 4.0


def vendor_neutral(engine: EngineProfile) -> EngineProfile:
    """`engine` with its dense-kernel factors at the reference of what kernels reach (`PRIOR`'s
    centres), carried to each GPU generation by its measured shares of spec against those of the
    GPU each reference was measured on (`PEAK_SHARE`, `crossval.PRIOR_MEASURED_SHARE`) in place
    of any fitted generation scale, and its all-reduce at PRIOR's: what a fold knows of a
    GPU vendor's build of the engine when its training rows hold no dense-model row on that
    vendor's GPUs (or of a family whose only source is held out). The all-reduce goes too: the
    builds for two vendors run different collectives (vLLM's custom all-reduce over NVLink;
    RCCL on ROCm before 0.7), and a fit on one vendor's dense rows sets it jointly with the
    kernels' factors. The host's step work is that of the family's era and loop: a Python step
    loop of before PRIOR_SINCE costs `LEGACY_STEP_OVERHEAD_MS` a step, the whole step's host
    cost as measured (a 2023 family's fit has no per-layer term either: it lands in the step
    time); a C++ loop (`host_loop = "native"`: TurboMind, TensorRT-LLM's batch manager) has no
    Python bubble between steps and takes the current engines' split, as a current family
    does: PRIOR's step time plus its kernel boundaries every layer."""
    from fleetplan.accuracy.crossval import (
        DENSE_KERNEL_FACTORS,
        PRIOR,
        PRIOR_MEASURED_SHARE,
        is_current,
    )

    values = {f: PRIOR[f][0] for f in (*DENSE_KERNEL_FACTORS, "allreduce_latency_us")}
    if not is_current(engine) and engine.host_loop == "python":
        values["step_overhead_ms"] = LEGACY_STEP_OVERHEAD_MS
    else:
        values["per_layer_overhead_us"] = PRIOR["per_layer_overhead_us"][0]
    # the GPU each reference was measured on stands as the base generation of the ratios
    shares = {**PEAK_SHARE, "reference": PRIOR_MEASURED_SHARE}
    arch = ratio_scales(values, "reference", shares, CEILING)
    return dataclasses.replace(engine, **values, architecture_scale=arch)


def _peer(
    engine: EngineProfile, catalog: Catalog, current_fits: dict[str, EngineProfile]
) -> EngineProfile | None:
    """The same engine's current family's fit without the held-out source (None: none)."""
    return next(
        (
            fit
            for fam, fit in current_fits.items()
            if fam != engine.id and catalog.engines[fam].engine == engine.engine
        ),
        None,
    )


def moe_from_peer(
    engine: EngineProfile, catalog: Catalog, current_fits: dict[str, EngineProfile]
) -> EngineProfile:
    """`engine` (a fold whose training rows hold no MoE row) with the MoE kernels' factors of
    the same engine's current family fitted without the same source (`current_fits`: the
    current families' folds), for the factors `engine`'s own profile models: its packaged
    values were fitted on the held-out source's MoE rows, the only ones it has (vLLM V0's are
    dstack's DeepSeek-R1 runs). vLLM 0.7 and vLLM V1 run routed experts through the same
    Triton fused-MoE kernel and its tuned configs. A family models a fixed cost per expert run
    only where its profile has one (`moe_expert_overhead_us`); without a peer the factors go to
    their references (every expert streamed at the dense share, no small-batch GEMM
    penalty)."""
    peer = _peer(engine, catalog, current_fits)
    values = {"moe_stream_scale": 1.0, "moe_gemm_half_tokens": 0.0}
    if peer is not None:
        values = {n: getattr(peer, n) for n in values}
        if engine.moe_expert_overhead_us > 0:
            values["moe_expert_overhead_us"] = peer.moe_expert_overhead_us
    return dataclasses.replace(engine, **values)


def allreduce_from_peer(
    engine: EngineProfile, catalog: Catalog, current_fits: dict[str, EngineProfile]
) -> EngineProfile:
    """`engine` (a fold whose dense training rows hold no tensor-parallel row) with the same
    engine's current family's all-reduce latency fitted without the same source, or the
    reference (`crossval.PRIOR`): a family that fits it on one source's TP rows (TensorRT-LLM
    0.5-0.7 on its performance page's TP2/TP4 rows) would otherwise keep that fit when the
    source is held out."""
    from fleetplan.accuracy.crossval import PRIOR  # crossval imports this module

    peer = _peer(engine, catalog, current_fits)
    value = peer.allreduce_latency_us if peer is not None else PRIOR["allreduce_latency_us"][0]
    return dataclasses.replace(engine, allreduce_latency_us=value)


def dense_vendors(rows: Sequence[ValidationRow], catalog: Catalog) -> set[str]:
    return {
        catalog.gpu(r.gpu).vendor for r in rows if fittable(r) and not catalog.model(r.model).is_moe
    }
