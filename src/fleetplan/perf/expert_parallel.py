"""Expert parallelism (EP) of a MoE model's routed experts, across a replica's tp GPUs.

With `ep` > 1 the tp GPUs form `ep` expert groups: each holds `num_experts / ep` whole routed
experts, split tensor-parallel over its tp / ep GPUs (TensorRT-LLM's moe_ep_size x
moe_tp_size = tp; vLLM's --enable-expert-parallel: ep = tp). The weights per GPU are those of
tensor parallelism; what changes is which experts a GPU reads and runs in a step:

- a step's tokens touch experts unevenly across the groups, and the busiest group sets the
  step: `busiest_group_experts` (expert weights read) and `busiest_group_load` (routed
  token-slots multiplied);
- communication: with attention tensor-parallel every GPU holds every token after the
  attention's all-reduce, each runs its own experts on the tokens routed to them and one
  all-reduce sums the partial outputs (TensorRT-LLM and vLLM without attention DP): the same
  two all-reduces a layer as tensor parallelism. With data-parallel attention each GPU holds its
  own group's tokens only, and the MoE layer dispatches and combines them by two all-to-alls
  instead of the all-reduce (`alltoall_s`).

The spread of the busiest group over the mean is the normal approximation of the largest of
`ep` binomial counts: mean + sd * sqrt(2 ln ep) (tokens route uniformly at random).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fleetplan.catalog.specs import ModelSpec
from fleetplan.errors import InputError
from fleetplan.perf.parallel import allreduce_s

if TYPE_CHECKING:
    from fleetplan.perf.roofline import Setup

F64 = NDArray[np.float64]


def check_ep(model: ModelSpec, tp: int, ep: int) -> None:
    """`ep` must divide tp (expert groups of tp / ep GPUs) and the model's routed experts."""
    if ep == 1:
        return
    experts = model.moe_experts if model.is_moe else 0
    if ep < 1 or tp % ep or not experts or experts % ep:
        routed = f"the {experts} routed experts of {model.id}" if experts else "a MoE model"
        raise InputError(
            f"ep = {ep}; expected a divisor of tp = {tp} and of {routed} (1 = experts "
            "tensor-parallel)"
        )


def experts_per_gpu(model: ModelSpec, ep: int) -> int:
    """Whole routed experts each GPU holds (each split over tp / ep GPUs)."""
    return model.moe_experts // ep


def expected_experts(experts: int, per_token: int, tokens: ArrayLike) -> F64:
    """Expected distinct experts that `tokens` tokens route to, each picking `per_token` of
    `experts` uniformly: E·(1 − (1 − k/E)^n)."""
    n = np.asarray(tokens, dtype=np.float64)
    return experts * (1.0 - (1.0 - per_token / experts) ** n)


def _spread(ep: ArrayLike) -> F64:
    """sqrt(2 ln ep): the largest of `ep` normal draws, in standard deviations (0 at ep 1)."""
    return np.sqrt(2.0 * np.log(np.maximum(np.asarray(ep, dtype=np.float64), 1.0)))


def busiest_group_experts(experts: int, per_token: int, tokens: ArrayLike, ep: ArrayLike) -> F64:
    """Expected distinct experts that the busiest of `ep` expert groups runs in a step of
    `tokens` tokens (each picking `per_token` of `experts` uniformly): each of a group's
    experts / ep experts is touched with p = 1 − (1 − k/E)^n, so the group count has mean
    μ = (E/ep)·p and sd σ = sqrt((E/ep)·p·(1 − p)); the busiest is μ + σ·sqrt(2 ln ep), at most
    E/ep. At ep = 1: the expected experts touched, E·p."""
    n = np.asarray(tokens, dtype=np.float64)
    g = np.asarray(ep, dtype=np.float64)
    held = experts / g
    p = 1.0 - (1.0 - per_token / experts) ** n
    busiest = held * p + np.sqrt(held * p * (1.0 - p)) * _spread(g)
    return np.minimum(busiest, held)


def busiest_group_load(per_token: int, tokens: ArrayLike, ep: ArrayLike) -> F64:
    """The busiest expert group's routed token-slots over the mean group's (≥ 1; 1 at ep 1):
    a group receives Binomial(n·k, 1/ep) of the step's n·k slots, mean m = n·k/ep; its busiest
    is m + sqrt(m·(1 − 1/ep))·sqrt(2 ln ep), at most n (a token routes to an expert at most
    once, so to a group at most k times — n·k slots — and k ≤ E/ep rarely binds)."""
    n = np.asarray(tokens, dtype=np.float64)
    g = np.asarray(ep, dtype=np.float64)
    mean = n * per_token / g
    with np.errstate(divide="ignore", invalid="ignore"):
        busiest = mean + np.sqrt(mean * (1.0 - 1.0 / g)) * _spread(g)
        ratio = np.minimum(busiest, n * per_token) / mean
    return np.where(mean > 0, ratio, 1.0)


def alltoall_bytes(
    tokens: ArrayLike, hidden_size: int, per_token: int, ep: ArrayLike, act_bytes: float = 2.0
) -> F64:
    """Bytes one GPU sends in one all-to-all of its `tokens` tokens to their `per_token`
    experts: tokens x hidden x k x bytes, less the share whose expert is on the GPU itself,
    (ep − 1)/ep. A MoE layer runs two (dispatch, then combine)."""
    t = np.asarray(tokens, dtype=np.float64)
    g = np.asarray(ep, dtype=np.float64)
    return t * hidden_size * per_token * act_bytes * (g - 1.0) / g


def alltoall_s(
    tokens: ArrayLike,
    hidden_size: int,
    per_token: int,
    ep: ArrayLike,
    link_gb_s: ArrayLike,
    latency_s: ArrayLike,
) -> F64:
    """Time of one all-to-all (`alltoall_bytes` over the GPU's link plus the collective's
    fixed latency, the all-reduce's); 0 at ep 1."""
    g = np.asarray(ep, dtype=np.float64)
    volume = alltoall_bytes(tokens, hidden_size, per_token, g)
    return np.where(g > 1, latency_s + volume / (np.asarray(link_gb_s) * 1e9), 0.0)


# the per-GPU share of the model's width (hidden_size / tp) at which a tensor-parallel MoE
# layer's expert GEMMs reach half their rate (`sharded_moe_gemm_scale`): one tile of the
# fused-MoE kernel's output columns, BLOCK_SIZE_N 128 in vLLM's tuned config for 128 experts on
# an H200 up to 512-token batches (256 from 1,024; the file accuracy.calibrate's
# MAX_MOE_HALF_TOKENS cites). A modelling choice, not a measurement: 256 did worse
# leave-one-source-out (benchmarks/accuracy/README.md)
MOE_HALF_WIDTH_PER_GPU = 128.0


def sharded_moe_gemm_scale(hidden_size: int, tp: ArrayLike) -> F64:
    """The share of its rate a MoE layer's expert GEMMs keep when the layer is split over `tp`
    GPUs: w / (w + MOE_HALF_WIDTH_PER_GPU) with w = hidden_size / tp, the per-GPU share of the
    model's width. A tensor-parallel MoE layer runs a grouped GEMM over narrow per-GPU slices of
    every expert, and around it work that tensor parallelism does not split (each GPU routes,
    gathers and sums every token's k expert rows at the full hidden size): the narrower the
    slice, the more of the layer is that fixed share. With expert parallelism the experts are
    whole but every GPU still routes and sums every token (attention tensor-parallel), and the
    same share applies. Modelled, not measured per kernel: the per-GPU share of the model's
    width stands for the slices' widths (the slice of an expert's own width,
    moe_intermediate_size · ep / tp, did worse leave-one-source-out: output tok/s p90 39.1 %
    against 37.2 %; benchmarks/accuracy/README.md), and it is a ceiling on the GEMMs' rate
    although the unsplit work is memory traffic. What it answers: without it the model put
    TensorRT-LLM 0.17's Mixtral 8x7B throughput 10-20 % low at TP1 and 14-19 % high at TP8,
    each predicted without its source, a trend one rate for every TP cannot follow. ~1 for a
    wide model on few GPUs (Llama 4 Scout at TP1: 0.98), 0.8 for Mixtral or Qwen3-235B-A22B at
    TP8."""
    w = hidden_size / np.asarray(tp, dtype=np.float64)
    return w / (w + MOE_HALF_WIDTH_PER_GPU)


def expert_gemm_s(s: Setup, tokens: F64, expert_flops: F64) -> F64:
    """Routed-expert GEMM time: a grouped GEMM runs each touched expert on the tokens routed
    to it, n·k / E_touched on average; with few tokens per expert its tiles are mostly padding,
    so its efficiency falls as mfu · t / (t + moe_gemm_half_tokens), under a ceiling of mfu
    times the format's kernel scale and the layer's tensor-parallel split
    (`Setup.sharded_moe_scale`, from `sharded_moe_gemm_scale`)."""
    m = s.model
    touched = np.maximum(expected_experts(m.moe_experts, m.moe_experts_per_token, tokens), 1e-9)
    per_expert = tokens * m.moe_experts_per_token / touched
    eff = s.mfu * per_expert / (per_expert + s.moe_gemm_half_tokens)
    # block-scaled FP8 in Triton kernels: a ceiling on the rate (perf.kernels), below which the
    # padded small-batch tiles already run; a tensor-parallel split lowers it further
    eff = np.minimum(eff, s.mfu * s.gemm_scale * s.sharded_moe_scale)
    return np.where(tokens > 0, expert_flops / (s.peak_flops * np.maximum(eff, 1e-9)), 0.0)


# The fixed cost of a routed expert a GPU runs (`moe_expert_overhead_us`) is GPU-side work, not
# host time (the experts of a layer run in one fused kernel); which work is not measured in
# isolation (an expert's tile setup, scales and padded rows are candidates), and it is taken to
# move with the memory system. The factor is its time on a GPU of an H100 SXM's bandwidth
# (gpus.toml h100-sxm), where most of the rows that fit it ran, and it scales with 1 / memory
# bandwidth elsewhere. Held as a fixed time on every GPU, the per-expert cost TensorRT-LLM's
# Hopper rows fit put the 1.0 table's Qwen3-30B-A3B on one B200 or GB200 42-52 % low, each
# source predicted without its own rows (3 of its 20 output rows within 30 %); scaled by
# bandwidth, 15 of 20, and the whole set's output tok/s p90 went 37.2 -> 34.1 % (scaled by the
# bf16 peak instead: TTFT median 14.4 -> 15.3 %; benchmarks/accuracy/HISTORY.md, 2026-12-04 13:29-)
EXPERT_OVERHEAD_REFERENCE_BANDWIDTH_BYTES_S = 3.35e12


def expert_overhead_s(overhead_us: float, bandwidth_bytes_s: float) -> float:
    """Seconds a routed expert run adds per MoE layer and step on a GPU of this memory
    bandwidth, from the engine's `moe_expert_overhead_us` (its time at the reference's)."""
    return overhead_us * 1e-6 * (EXPERT_OVERHEAD_REFERENCE_BANDWIDTH_BYTES_S / bandwidth_bytes_s)


def expert_overhead_reference_us(overhead_s: float, bandwidth_bytes_s: float) -> float:
    """The engine factor behind `expert_overhead_s`: microseconds at the reference bandwidth."""
    return overhead_s * 1e6 * bandwidth_bytes_s / EXPERT_OVERHEAD_REFERENCE_BANDWIDTH_BYTES_S


def moe_terms(s: Setup, tokens: F64) -> tuple[F64, F64, F64, F64]:
    """The routed experts' weight bytes per GPU, their stream time, GEMM time and the change in
    communication time of a step of `tokens` tokens, on the busiest expert group
    (perf.expert_parallel; at ep 1 every GPU holds a 1/tp slice of every expert)."""
    m = s.model
    k = m.moe_experts_per_token
    runs = busiest_group_experts(m.moe_experts, k, tokens, s.ep)  # experts a GPU runs
    w_bytes = s.expert_bytes_gpu * m.moe_layers * s.ep * runs  # each a 1/(tp/ep) slice
    memory = w_bytes / (s.bandwidth * s.mbu * s.moe_stream_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        flops = s.expert_flops_per_token_gpu * tokens
        load = busiest_group_load(k, tokens, s.ep)
        compute = expert_gemm_s(s, tokens, flops) * load
        # a fused-MoE kernel that caps the rate (perf.kernels.block_fp8_moe_scale) multiplies
        # each expert's tiles as it streams them: the layer takes the longer of the stream and
        # the MACs at the capped rate (vLLM's Triton kernel at TP 8 on an H100: 1.73 ms for 128
        # tokens, 1.99 ms for 1,536 with 12x the FLOPs, 2.82 ms for 2,048,
        # https://github.com/vllm-project/vllm/pull/13932)
        fused = flops * load / (s.peak_flops * s.mfu * s.moe_gemm_scale)
        compute = np.maximum(compute, fused - memory)
    # a fixed cost per expert run, whatever its size: it weighs on many small experts (or
    # small tensor-parallel slices of large ones), not on a few large ones
    compute = compute + runs * m.moe_layers * s.moe_expert_overhead_s
    # data-parallel attention: each GPU's own tokens go to their experts and back by two
    # all-to-alls instead of the MoE layer's all-reduce
    link = s.link_gb_s
    local = tokens / s.attention_dp
    a2a = 2 * alltoall_s(local, m.hidden_size, k, s.ep, link, s.allreduce_latency_s)
    swap = a2a - allreduce_s(tokens, m.hidden_size, s.tp, link, s.allreduce_latency_s)
    comm = m.moe_layers * np.where(
        (np.asarray(s.ep) > 1) & (np.asarray(s.attention_dp) > 1), swap, 0.0
    )
    return w_bytes, memory, compute, comm


def ep_note(model: ModelSpec, tp: int, ep: int) -> str:
    """What expert parallelism and a tensor-parallel split change, for a setup's notes ('' for
    neither)."""
    split = ""
    if model.is_moe and tp > 1:
        scale = float(sharded_moe_gemm_scale(model.hidden_size, tp))
        split = (
            f"MoE layers split over {tp} GPUs ({model.hidden_size // tp} of the "
            f"{model.hidden_size}-wide hidden size each): expert GEMMs at most {scale:.2f}x "
            "their full rate (modelled)"
        )
    if ep <= 1:
        return split
    return (
        f"expert-parallel over {ep} groups of {tp // ep} GPU(s): each holds "
        f"{experts_per_gpu(model, ep)} of the {model.moe_experts} routed experts; the busiest "
        "group's experts and tokens set the step (modelled)"
    ) + (f"; {split}" if split else "")
