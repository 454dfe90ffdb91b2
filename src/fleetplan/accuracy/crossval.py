"""Leave-one-source-out error: each source's rows predicted by factors fitted without it.

A source (one benchmark page, one paper table) is the unit that shares a method, a harness and
its mistakes, so holding out single rows would let a source's other rows vouch for it. For each
engine release family, the factors of `factors_for(family)` are fitted (`fit_engine`, least
squares on ln(predicted / measured), within the physical ceilings) on the family's rows from all
OTHER sources, then the held-out source's rows are predicted; a family with a single source is
predicted by the references (`folds.vendor_neutral`: nothing of its own is left to fit, and its
packaged profile was fitted on that source). The in-sample figure (fitted on every row of the
family) is kept as a secondary column.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fleetplan.accuracy.calibrate import (
    MAX_MOE_EXPERT_OVERHEAD_US,
    MAX_MOE_HALF_TOKENS,
    fit_engine,
)
from fleetplan.accuracy.fit_stages import (
    BASE_FACTORS,
    REREAD_FACTOR,
    REREAD_START,
    SERVER_FACTORS,
    SERVER_START,
    dense_factors,
    models_server,
    moe_factors,
    native_moe_rows,
    reread_factor,
    server_factors,
    server_stage_row,
    weight_only_moe_formats,
)
from fleetplan.accuracy.folds import (
    allreduce_from_peer,
    base_generation,
    borrow_generations,
    dense_vendors,
    fold_prior,
    moe_from_peer,
    physical_generations,
    vendor_neutral,
)
from fleetplan.accuracy.predict import fittable, needs_simulator, predict_row, row_engine
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog import Catalog, reference_chain
from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.generations import HBM_PEAK_SHARE
from fleetplan.errors import FleetplanError

# plausible ranges of what current kernels reach: a fit may not wander outside them to absorb
# what a source's harness did (the ceilings are those of calibrate.FITTABLE)
BOUNDS: dict[str, tuple[float, float]] = {
    "mbu": (0.6, 0.92),
    "attention_mbu": (0.4, 0.92),
    "mfu_prefill": (0.3, 0.85),
    "step_overhead_ms": (0.1, 10.0),
    "per_layer_overhead_us": (0.0, 50.0),
    "allreduce_latency_us": (2.0, 50.0),
    "moe_gemm_half_tokens": (0.0, MAX_MOE_HALF_TOKENS),
    # attention kernels at half to three times the GEMMs' share: a family's whole-model share
    # sits at 0.3-0.85 of the peak, FlashAttention-2/3 kernels at ~0.6-0.75 (PRIOR below)
    "attention_mfu_scale": (0.5, 3.0),
    "moe_stream_scale": (0.2, 1.0),
    "moe_expert_overhead_us": (0.0, MAX_MOE_EXPERT_OVERHEAD_US),
    "api_server_ms_per_request": (0.05, 50.0),
    "api_server_us_per_output_token": (1.0, 1000.0),
    "api_server_latency_ms": (0.05, 100.0),
    "chat_template_latency_ms": (0.05, 100.0),
    "chat_template_ms_per_request": (0.01, 50.0),
}
# where current kernels sit, independent of the validation rows (reference, spread in ln units).
# A fit's residual per factor: factors the rows hardly constrain (a family with few dense rows,
# a held-out source that was the only one at low batch) stay near these instead of at a bound.
# Families released from PRIOR_SINCE on (vLLM V1, SGLang 0.4+, TensorRT-LLM 0.8+, TGI v2+); the
# 2023 families (Python schedulers, NCCL all-reduce, no CUDA graphs in TensorRT-LLM 0.5-0.7 or
# llama.cpp) are fitted without it. Where each reference comes from:
# - mbu 0.85: coalesced weight loads on an H100 SXM reach 2.8 of its 3.35 TB/s (84 %, Nsight
#   Compute on a BF16 70B serving workload, https://mikamirai.com/blog/gpu-memory-bandwidth/);
# - attention_mbu 0.8: an estimate a little under the streaming share (paged KV blocks are read
#   in scattered 16-32-token pieces); the same post measured 42-57 % on its workload's K/V
#   reads; no public figure for current decode kernels was found;
# - mfu_prefill 0.6: cuBLAS BF16 GEMMs on a B200 reach 1,006 TFLOPS at 2048^3 and 1,610-1,652 at
#   4096-8192 (0.45-0.73 of the 2,250 dense peak, https://pyptx.dev/performance/); a prefill
#   chunk of a few thousand tokens sits between;
# - step_overhead_ms 0.5: a tenth of the ~5 ms a Llama-8B decode step takes on an H100, the
#   step the vLLM V1 blog names as where CPU work (scheduling, input preparation, sampling
#   bookkeeping) shows and which V1 overlaps by moving the API server and detokenizing out of
#   the loop (https://blog.vllm.ai/2025/01/27/v1-alpha-release.html); an estimate, spread 1.5;
# - allreduce_latency_us 10: a small all-reduce on an HGX H100 with CUDA graphs takes ~6 us at
#   2 GPUs and grows with the GPU count (nccl-tests, https://github.com/NVIDIA/nccl/issues/1259);
#   vLLM's one-shot custom all-reduce for small messages targets the same range
#   (https://github.com/vllm-project/vllm/pull/2192);
# - per_layer_overhead_us 30: a decode step runs ~6 kernels a layer (norm, QKV, rotary,
#   attention, MLP, ...) and each boundary stalls the weight stream (launch ~1.3 us a kernel even
#   under CUDA graphs on an H100, setup and teardown, stragglers): SGLang's batch-1 Llama-3.2-1B
#   step took 1.5x the 0.96 ms of a megakernel streaming the same weights, ~0.48 ms over 16
#   layers (https://hazyresearch.stanford.edu/blog/2025-05-27-no-bubbles); spread 1.0
PRIOR: dict[str, tuple[float, float]] = {
    "mbu": (0.85, 0.5),
    "attention_mbu": (0.8, 0.5),
    "mfu_prefill": (0.6, 0.5),
    "step_overhead_ms": (0.5, 1.5),
    # the attention kernels' share over the GEMMs': FlashAttention-3 reaches 75 % of an H100's
    # BF16 peak (https://arxiv.org/abs/2407.08608), about the share large GEMMs reach: 1,
    # spread 1 (a factor of e either way: an engine's own attention kernels differ)
    "attention_mfu_scale": (1.0, 1.0),
    "allreduce_latency_us": (10.0, 1.5),
    "per_layer_overhead_us": (30.0, 1.0),
    # the API server's (sim/frontend.py): 65 us a token from vLLM PR 17546 (SERVER_START);
    # a request's intake and hop an estimate of a few ms (spread 2: a factor of ~7)
    "api_server_us_per_output_token": (65.0, 0.5),
    "api_server_ms_per_request": (2.0, 2.0),
    "api_server_latency_ms": (10.0, 2.0),
    "chat_template_latency_ms": (10.0, 2.0),
}
# What share of spec the best kernels reach on the GPU each kernel reference above was measured
# on, measured as `catalog.generations.PEAK_SHARE` measures every generation: mbu's on an H100
# (STREAM triad 88.7 %), mfu_prefill's on a B200 (its largest cuBLAS BF16 GEMM reached 1,652 of
# 2,250 TFLOPS, 73.4 %, https://pyptx.dev/performance/). A fold with nothing of a GPU vendor or of
# its family carries each reference to a generation by the ratio of that generation's measured
# share to this one (`folds.vendor_neutral`): large GEMMs reach 86 % of an A100's spec, 60 % of an
# MI300X's, so one share of spec on every generation would misplace both.
PRIOR_MEASURED_SHARE = {"mbu": HBM_PEAK_SHARE["hopper"], "mfu_prefill": 1652 / 2250}
PRIOR_SINCE = "2024"
# the engine whose API server PRIOR's per-token cost was measured on (vLLM PR 17546); another
# engine's server (trtllm-serve's OpenAI server, SGLang's tokenizer and detokenizer processes)
# is another program: its fit starts from the same 65 us but is held to it only as loosely as
# the estimates are (spread 2, a factor of ~7 either way)
SERVER_REFERENCE_ENGINE = "vllm"
ESTIMATE_SPREAD = 2.0
DENSE_KERNEL_FACTORS = BASE_FACTORS
MAX_FIT_ROWS = 120  # rows per fit stage (evenly spread): the fit stays a few seconds


@dataclass(frozen=True)
class Judged:
    """One row's prediction out of sample (its source held out) and in sample."""

    row: ValidationRow
    family: str
    out_of_sample: float
    in_sample: float

    @property
    def error(self) -> float:
        return self.out_of_sample / self.row.value - 1.0

    @property
    def in_sample_error(self) -> float:
        return self.in_sample / self.row.value - 1.0


def is_current(engine: EngineProfile) -> bool:
    """A family released from PRIOR_SINCE on (fitted with `PRIOR`'s anchors)."""
    return engine.released >= PRIOR_SINCE


def anchors(engine: EngineProfile) -> dict[str, tuple[float, float]] | None:
    """The references a family's fit is held to: `PRIOR` for a current family (None for a 2023
    one), with the API server's per-token cost a measurement only for the engine it was
    measured on (`SERVER_REFERENCE_ENGINE`) and an estimate for any other."""
    if not is_current(engine):
        return None
    if engine.engine == SERVER_REFERENCE_ENGINE:
        return PRIOR
    centre, _ = PRIOR["api_server_us_per_output_token"]
    return {**PRIOR, "api_server_us_per_output_token": (centre, ESTIMATE_SPREAD)}


def _stages(
    rows: Sequence[ValidationRow],
    catalog: Catalog,
    current: bool = False,
    per_expert_cost: bool = False,
    server: bool = False,
    server_names: Sequence[str] = SERVER_FACTORS,
    stream_share: bool = True,
) -> list[tuple[list[ValidationRow], list[str]]]:
    """`fit_family`'s stages: (rows, factors) for the dense kernels on dense-model rows, then
    the MoE factors on MoE rows; where the family models its API server (`server`), then the
    server's factors on the rows measured through it, the kernels' factors held."""
    # a TTFT measured through a server the family models is mostly the server's (GPUStack's
    # Qwen3-8B: 59 ms at one user for a prompt the engine prefills in ~17 ms): the server's
    # stage fits it; the kernels' stages, which see no server, would slow prefill to explain it
    fit_rows = [
        r for r in rows if fittable(r) and not (server and r.api_server and r.group == "TTFT")
    ]
    dense = [r for r in fit_rows if not catalog.model(r.model).is_moe]
    moe = native_moe_rows([r for r in fit_rows if catalog.model(r.model).is_moe], catalog)
    stages = []
    if dense:
        stages.append(
            (dense, dense_factors(dense, catalog, current) + reread_factor(dense, catalog))
        )
    if moe:
        formats = weight_only_moe_formats(moe, catalog)
        names = moe_factors(bool(dense), per_expert_cost, formats, stream_share)
        stages.append((moe, names + reread_factor(moe, catalog)))
    # TTFT at a fixed concurrency only where the server is idle when a request comes (a few
    # users): there its excess over the engine's is the server's; at high concurrency it is
    # mostly queueing for prefill. Bursts' TTFT as `burst_ttft_s` sees them. No burst that
    # preempts: a fit sees its throughput as waves, faster than the simulator's replay
    # (preempts_in_burst), a gap the server's factors would otherwise take up
    served = [r for r in rows if server_stage_row(r, catalog)]
    # the server's work per request and per token does not depend on the model's layers, and
    # a MoE row's throughput carries the MoE factors' error, which the server's costs would
    # take up (a fold without GPUStack's Qwen3-14B rows fitted trtllm-serve at 549 us a token
    # to slow the MoE bursts it over-predicts): its throughput and TPOT are left to the dense
    # rows where a family has them; its TTFT stays (the chat template's latency is told apart
    # on the models rendered natively, gpt-oss's MoE)
    if any(not catalog.model(r.model).is_moe for r in served):
        served = [r for r in served if r.group == "TTFT" or not catalog.model(r.model).is_moe]
    if server and served:
        stages.append((served, list(server_names)))
    return stages


def default_factors(
    rows: Sequence[ValidationRow], catalog: Catalog, per_expert_cost: bool = False
) -> list[str]:
    """Every factor `fit_family` fits on these rows, of one family (`per_expert_cost`:
    `moe_factors`; the API server's where the family's profile models it)."""
    eng = catalog.engines[row_engine(rows[0], catalog).id] if rows else None
    current = eng is not None and is_current(eng)
    server = eng is not None and models_server(eng)
    names = server_factors(eng) if eng is not None else SERVER_FACTORS
    stream = eng is None or not eng.experts_stream_at_mbu
    stages = _stages(rows, catalog, current, per_expert_cost, server, names, stream)
    return [n for _rows, names in stages for n in names]


def _spread(rows: Sequence[ValidationRow], most: int) -> list[ValidationRow]:
    """At most `most` rows, evenly spread over the list (keeps fits fast on large sources)."""
    if len(rows) <= most:
        return list(rows)
    step = len(rows) / most
    return [rows[int(k * step)] for k in range(most)]


def fit_family(
    rows: Sequence[ValidationRow], catalog: Catalog, prior: EngineProfile
) -> EngineProfile:
    """Fit a family in stages: the dense kernels' factors on dense-model rows, the MoE factors
    on MoE rows, the API server's on the rows measured through it, then the MoE and server
    stages again with the server's work in view (a family without rows keeps `prior`)."""
    server = models_server(prior)
    # the kernels' factors are fitted with the server's work left out (as before the server
    # was modelled), then the server's from their start on top of them
    own = server_factors(prior)
    eng = dataclasses.replace(prior, **dict.fromkeys(own, 0.0)) if server else prior
    anchor = anchors(prior)
    per_expert = prior.moe_expert_overhead_us > 0
    stream = not prior.experts_stream_at_mbu
    stages = _stages(rows, catalog, is_current(prior), per_expert, server, own, stream)
    if any(REREAD_FACTOR in names for _rows, names in stages):
        eng = dataclasses.replace(eng, **{REREAD_FACTOR: REREAD_START})
    for stage_rows, names in stages:
        if names == list(own):
            eng = dataclasses.replace(eng, **{n: SERVER_START[n] for n in own})
        eng = _fit_stage(stage_rows, catalog, eng, names, anchor)
    # MoE and server stages again, the server's work in view: the MoE stage read its bursts as
    # the engine alone (the intake, ~7 ms a request, went into the expert stream); the server's
    # stage reads dense rows' throughput and TPOT, so the dense stage needs no second round
    moe = [i for i, (r, _n) in enumerate(stages[:-1]) if catalog.model(r[0].model).is_moe]
    if moe and stages[-1][1] == list(own):  # a server stage comes last where there is one
        for stage_rows, names in stages[moe[0] :]:
            eng = _fit_stage(stage_rows, catalog, eng, names, anchor)
    return eng


def _fit_stage(
    rows: Sequence[ValidationRow],
    catalog: Catalog,
    eng: EngineProfile,
    names: Sequence[str],
    anchor: dict[str, tuple[float, float]] | None,
) -> EngineProfile:
    """One stage of `fit_family`: `names` fitted on (a spread of) `rows`, the rest held."""
    return fit_engine(
        _spread(rows, MAX_FIT_ROWS), catalog, eng, list(names), BOUNDS, anchor, keep_if_worse=False
    ).engine


def predictable(
    rows: Sequence[ValidationRow], catalog: Catalog
) -> tuple[list[ValidationRow], list[tuple[ValidationRow, str]]]:
    """Rows the packaged profiles can predict, and the others with the reason."""
    ok, dropped = [], []
    for r in rows:
        try:
            if not needs_simulator(r):
                predict_row(r, catalog)
            else:
                row_engine(r, catalog)
            ok.append(r)
        except FleetplanError as exc:
            dropped.append((r, str(exc)))
    return ok, dropped


def leave_one_source_out(
    rows: Sequence[ValidationRow],
    catalog: Catalog,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Judged], dict[str, EngineProfile]]:
    """Out-of-sample and in-sample predictions of every row, and the in-sample profiles.

    A current family's fold (or full fit) without a scale for a generation takes it from its
    references' fits without the same source (`borrow_generations`), nearest first: its
    `generation_scales_from` chain (SGLang: vLLM V1, then TensorRT-LLM), else the family with
    scales for the most generations (TensorRT-LLM). A generation none of them covers
    (TensorRT-LLM's fold without its 0.17 tables holds no A100 row but four) takes the measured
    ratio of the GPU's GEMM and HBM shares of spec to the base generation's
    (`physical_generations`)."""
    by_family: dict[str, list[ValidationRow]] = {}
    for r in rows:
        by_family.setdefault(row_engine(r, catalog).id, []).append(r)
    # every family's fits first: (full, base generation), and per held-out source (fold, base)
    fulls: dict[str, tuple[EngineProfile, str]] = {}
    folds: dict[str, dict[str, tuple[EngineProfile, str]]] = {}
    for fam, fam_rows in by_family.items():
        # the packaged profile's borrowed generation scales were fitted on every source: a
        # fold takes them from the reference's fold instead (`borrowed` below)
        prior = catalog.engines[fam].without_borrowed()
        fulls[fam] = (fit_family(fam_rows, catalog, prior), base_generation(fam_rows, catalog))
        sources = sorted({r.source_id for r in fam_rows})
        folds[fam] = {}
        for src in sources:
            if progress:
                progress(f"{fam}: holding out {src}")
            train = [r for r in fam_rows if r.source_id != src]
            if len(sources) > 1:
                prof = fit_family(train, catalog, fold_prior(prior, train, catalog))
            else:  # nothing of the family's is left to fit on: the references (and no
                # small-batch GEMM penalty, which its packaged profile took from these rows)
                prof = dataclasses.replace(vendor_neutral(prior), gemm_half_tokens=0.0)
            folds[fam][src] = (prof, base_generation(train or fam_rows, catalog))
    current = [f for f in fulls if is_current(catalog.engines[f])]
    ref = max(current, key=lambda f: len(fulls[f][0].architecture_scale), default="")

    def borrowed(fam: str, fit: tuple[EngineProfile, str], src: str | None) -> EngineProfile:
        if not ref or fam not in current:
            return physical_generations(fit[0], fit[1])
        chain = [f for f in reference_chain(catalog.engines, fam) if f in fulls] or [ref]
        for lender in chain:  # nearest first, each fitted without the same source
            lent = fulls[lender] if src is None else folds[lender].get(src, fulls[lender])
            fit = (borrow_generations(fit[0], fit[1], *lent), fit[1])
        return physical_generations(*fit)

    def dense_tp(r: ValidationRow) -> bool:  # a row that fits the all-reduce latency
        return r.tp > 1 and fittable(r) and not catalog.model(r.model).is_moe

    judged: list[Judged] = []
    for fam, fam_rows in by_family.items():
        full = borrowed(fam, fulls[fam], None)
        sources = sorted(folds[fam])
        for src in sources:
            held = [r for r in fam_rows if r.source_id == src]
            train = [r for r in fam_rows if r.source_id != src]
            prof = borrowed(fam, folds[fam][src], src)
            # factors the fold cannot fit again keep no value fitted on the held-out source
            fitted = [r for r in train if fittable(r)]
            no_moe = not any(catalog.model(r.model).is_moe for r in fitted)
            no_tp = any(dense_tp(r) for r in fam_rows) and not any(dense_tp(r) for r in fitted)
            if no_moe or no_tp:
                peers = {f: folds[f].get(src, fulls[f])[0] for f in current}
                if no_moe:
                    prof = moe_from_peer(prof, catalog, peers)
                if no_tp:
                    prof = allreduce_from_peer(prof, catalog, peers)
            # an engine's builds for two GPU vendors run different kernels (vLLM on ROCm: its
            # own paged-attention and Triton/CK flash-attention kernels, hipBLASLt GEMMs, no
            # custom all-reduce before 0.7): dense-kernel factors fitted on one vendor's rows
            # are not carried to a dense-model row on the other's GPUs
            vendors = dense_vendors(train, catalog) if len(sources) > 1 else set()
            neutral = vendor_neutral(prof) if vendors else prof
            for r in held:
                use = prof
                if (
                    vendors
                    and not catalog.model(r.model).is_moe
                    and catalog.gpu(r.gpu).vendor not in vendors
                ):
                    use = neutral
                judged.append(
                    Judged(
                        row=r,
                        family=fam,
                        out_of_sample=predict_row(r, catalog, use).predicted,
                        in_sample=predict_row(r, catalog, full).predicted,
                    )
                )
    return judged, {fam: fulls[fam][0] for fam in by_family}
