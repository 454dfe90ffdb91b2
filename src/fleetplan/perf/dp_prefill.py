"""Step time under data-parallel attention ranks that schedule on their own (SGLang).

SGLang's `--enable-dp-attention` deals each request to one attention rank, round robin
(`round_robin_scheduler`, python/sglang/srt/managers/data_parallel_controller.py), and every
rank runs a scheduler of its own with a prefill budget of its own: `chunked_prefill_size // 2`
in the 0.4.0-0.4.3 releases ("DP attention is enabled. The chunked prefill size is adjusted to
...", ServerArgs.__post_init__), `chunked_prefill_size // dp_size` from
https://github.com/sgl-project/sglang/pull/4390 (0.4.4). A rank runs the attention of its own
requests only (their projections and the attention itself, every head); the MoE and dense
layers run tensor-parallel over all ranks' tokens, gathered before and scattered after, so the
ranks step in lockstep (`Scheduler.prepare_dp_attn_batch` all-gathers the ranks' token counts
each step; a rank with nothing runs an idle batch). A prefill step therefore lasts as long as
its busiest rank's prompts: a rank that holds one 3,200-token prompt runs all of that prompt's
attention while the others wait at the MoE's all-gather. `perf.roofline.step_s` spreads
attention evenly over the ranks; `dp_prefill_extra_s` is the time the busiest rank adds to it.
The simulator deals requests to ranks itself (sim/dp_ranks.py); `wave_prefill` is a wave of
equal prompts dealt so (`perf.schedule.static`, the fits' view of a closed loop). Decode steps
of releases before https://github.com/sgl-project/sglang/pull/4390 ran every rank's CUDA graph
at the largest rank's batch: `padded_decodes`.
"""

from __future__ import annotations

import numpy as np

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.params import count_params
from fleetplan.perf.roofline import F64, Setup, step_s


def rank_prefill_tokens(engine: EngineProfile, max_tokens: int, attention_dp: int) -> int:
    """Prompt tokens one rank's step may carry (0: the replica schedules as one)."""
    if attention_dp <= 1 or not engine.attention_dp_rank_schedulers:
        return 0
    if engine.release_before(engine.attention_dp_half_chunk_before):
        return max(max_tokens // 2, 1)
    return max(max_tokens // attention_dp, 1)


def attention_linear_s_per_token(s: Setup) -> float:
    """Seconds of a prompt token's attention projections per GPU when spread over the tp GPUs
    (the share `step_s` gives every GPU); its rank runs `attention_dp` times that."""
    m = s.model
    counts = count_params(m)
    params = counts.attention * m.params_total_b * 1e9 / counts.total
    return 2.0 * params / s.tp / (s.peak_flops * s.mfu * s.gemm_scale)


def dp_prefill_extra_s(s: Setup, pr: F64, pcr: F64, p: F64, pc: F64) -> F64:
    """Seconds a prefill step of `p` prompt tokens at mean context `pc` takes beyond `step_s`
    when the busiest rank carries `pr` of them at mean context `pcr`: it runs `attention_dp *
    pr` tokens' worth of the spread attention work, the step's `p` tokens' worth is in
    `step_s` already."""
    dp = s.attention_dp
    pr, pcr, p, pc = (np.asarray(x, dtype=np.float64) for x in (pr, pcr, p, pc))
    per_tok = step_s(s, 0.0, 0.0, 1.0, np.stack([pcr, pc])).attention_compute_s
    lin = attention_linear_s_per_token(s)
    extra = dp * pr * (lin + per_tok[0]) - p * (lin + per_tok[1])
    return np.where(pr > 0, np.maximum(extra, 0.0), 0.0)


def decode_pad(s: Setup) -> int:
    """Ranks over which a decode step's sequences are padded to the largest rank's batch
    (`EngineProfile.attention_dp_pads_decode_before`; 1: no padding). Dealt round robin, the
    largest rank holds ceil(b / dp) of b sequences: the MoE and dense layers run dp x that."""
    e = s.engine
    if s.attention_dp <= 1 or not e.attention_dp_rank_schedulers:
        return 1
    return s.attention_dp if e.release_before(e.attention_dp_pads_decode_before) else 1


def padded_decodes(s: Setup, b: F64) -> F64:
    """The tokens a decode step of `b` sequences runs its MoE and dense layers on."""
    pad = decode_pad(s)
    return np.ceil(np.asarray(b, dtype=np.float64) / pad) * pad


def ranked(s: Setup) -> int:
    """Prompt tokens a rank's step carries when `s` runs such ranks (0: it does not)."""
    return rank_prefill_tokens(s.engine, s.engine.max_num_batched_tokens, s.attention_dp)


def wave_prefill(s: Setup, batch: F64, input_tokens: float) -> tuple[F64, F64]:
    """A wave of `batch` equal prompts dealt round robin to the ranks, each rank prefilling
    its own in steps of `ranked(s)` tokens: (seconds of each step, rows = batch entries,
    steps along axis 1; the number of steps each batch entry takes)."""
    dp, r_tok, i = s.attention_dp, float(ranked(s)), float(input_tokens)
    b = np.atleast_1d(np.asarray(batch, dtype=np.float64))
    q, extra_ranks = np.floor(b / dp), np.mod(b, dp)
    hi = (q + (extra_ranks > 0)) * i  # tokens of the busiest rank(s)
    lo = q * i
    n = np.maximum(np.ceil(hi / r_tok), 1.0)
    k = np.arange(int(n.max()), dtype=np.float64)[None, :]
    step_hi = np.clip(hi[:, None] - k * r_tok, 0.0, r_tok)
    step_lo = np.clip(lo[:, None] - k * r_tok, 0.0, r_tok)
    p = extra_ranks[:, None] * step_hi + (dp - extra_ranks[:, None]) * step_lo
    with np.errstate(divide="ignore", invalid="ignore"):
        t = step_s(s, 0.0, 0.0, p, i / 2).total_s
    t = t + dp_prefill_extra_s(s, step_hi, np.full_like(p, i / 2), p, np.full_like(p, i / 2))
    return np.where(p > 0, t, 0.0), n


def first_token_steps(s: Setup, batch: int, input_tokens: float) -> F64:
    """The wave step (1-based) that completes each of `batch` prompts dealt round robin: the
    m-th prompt of a rank completes once its rank has prefilled m x input tokens."""
    m = np.arange(batch, dtype=np.float64) // s.attention_dp + 1.0
    return np.ceil(m * float(input_tokens) / float(ranked(s)))
