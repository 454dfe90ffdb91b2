"""What a leave-one-source-out fold starts from and what it takes from elsewhere: the packaged
profile without the scales its own rows do not fit again (`fold_prior`), the GPU-generation
ratios it borrows from the reference family's fold (`borrow_generations`), and the references
that stand in where its rows hold nothing of a GPU vendor or of the family (`vendor_neutral`).
`crossval.leave_one_source_out` uses them; they read crossval's references when called."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fleetplan.accuracy.calibrate import CEILING
from fleetplan.accuracy.predict import fittable
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog import Catalog
from fleetplan.catalog.engine_profile import EngineProfile


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
        arch[gen] = {
            name: min(scales[name], CEILING[name] / getattr(engine, name))
            for name in ("mbu", "mfu_prefill")
            if name in scales
        }
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
    centres; the host's step work of its era, `LEGACY_STEP_OVERHEAD_MS` before PRIOR_SINCE),
    its all-reduce at PRIOR's and no GPU-generation scales: what a fold knows of a GPU vendor's
    build of the engine when its training rows hold no dense-model row on that vendor's GPUs.
    The all-reduce goes too: the builds for two vendors run different collectives (vLLM's
    custom all-reduce over NVLink; RCCL on ROCm before 0.7), and a fit on one vendor's dense
    rows sets it jointly with the kernels' factors."""
    from fleetplan.accuracy.crossval import DENSE_KERNEL_FACTORS, PRIOR, is_current

    values = {f: PRIOR[f][0] for f in (*DENSE_KERNEL_FACTORS, "allreduce_latency_us")}
    if not is_current(engine):
        values["step_overhead_ms"] = LEGACY_STEP_OVERHEAD_MS
    return dataclasses.replace(engine, **values, architecture_scale={})


def dense_vendors(rows: Sequence[ValidationRow], catalog: Catalog) -> set[str]:
    return {
        catalog.gpu(r.gpu).vendor for r in rows if fittable(r) and not catalog.model(r.model).is_moe
    }
