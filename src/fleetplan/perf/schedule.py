"""Throughput and latency of a replica under the two schedulers published numbers come from.

- continuous: `batch` sequences in flight in a closed loop; each finished sequence is replaced
  at once and its prompt is prefilled in chunks mixed into the decode steps (vLLM, TGI,
  TensorRT-LLM in-flight batching). Steady state: every `output` decode steps the replica
  also prefills `batch` prompts, each in its own chunks (`cycle_step`).
- static: `batch` requests start together, are prefilled together, and the batch ends when the
  last finishes (TensorRT-LLM gptSessionBenchmark, `benchmark_latency`, LMDeploy static runs).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike

from fleetplan.errors import InputError
from fleetplan.perf.dp_prefill import decode_pad, padded_decodes, ranked, wave_prefill
from fleetplan.perf.roofline import F64, Setup, StepTime, step_s
from fleetplan.perf.step_total import StepFactors, step_total_s

SCHEDULES = ("continuous", "static")


@dataclass(frozen=True)
class PerfResult:
    """Per-batch arrays (one entry per batch size asked for). Times in seconds."""

    batch: F64
    prefill_s: F64  # one prompt alone, batch 1
    ttft_s: F64  # without queueing
    tpot_s: F64
    output_tok_per_s: F64  # whole replica
    total_tok_per_s: F64  # prompt + output tokens through the replica
    step_s: F64  # a representative decode step (continuous: the mixed steady-state step)
    binding: list[str]


def _check(input_tokens: int, output_tokens: int, batch: F64) -> None:
    if input_tokens < 1:
        raise InputError(f"--input-tokens = {input_tokens}; expected a positive integer")
    if output_tokens < 1:
        raise InputError(f"--output-tokens = {output_tokens}; expected a positive integer")
    if np.any(batch < 1):
        raise InputError(f"--batch = {batch.min():g}; expected positive integers")


def prefill_time_s(s: Setup, tokens: ArrayLike, chunk: float) -> F64:
    """Time to prefill `tokens` prompt tokens alone, in chunks of at most `chunk` tokens."""
    t = np.asarray(tokens, dtype=np.float64)
    n = np.maximum(np.ceil(t / chunk), 1.0)
    size = t / n
    # chunk i attends to the i earlier chunks and half of itself: mean context t/2 overall
    return n * step_s(s, 0.0, 0.0, size, t / 2).total_s


def mixed_step(
    s: Setup,
    decodes: ArrayLike,
    decode_context: ArrayLike,
    prefill_tokens: ArrayLike = 0.0,
    prefill_context: ArrayLike = 0.0,
) -> StepTime:
    """One continuous-batching iteration: `decodes` sequences each generate a token at mean
    context `decode_context` while `prefill_tokens` prompt tokens (chunks of one or more
    prompts, mean attended context `prefill_context`) are prefilled in the same step.

    The one formula of a mixed step: the analytic sizing (`steady_mixed_step`,
    `chunked_prefill_s`, `fleetplan.sizing`) and the simulator's step table
    (`fleetplan.sim.steptime.StepTable`) both call it."""
    return step_s(s, decodes, decode_context, prefill_tokens, prefill_context)


def mixed_step_s(
    s: Setup,
    decodes: ArrayLike,
    decode_context: ArrayLike,
    prefill_tokens: ArrayLike = 0.0,
    prefill_context: ArrayLike = 0.0,
    factors: StepFactors | None = None,
) -> F64:
    """`mixed_step(...).total_s` alone (`step_total.step_total_s`: the same step, fewer array
    operations; `factors`: `step_total.step_factors(s)`, folded once), for the sizing's load
    point."""
    return step_total_s(s, decodes, decode_context, prefill_tokens, prefill_context, factors)


def steady_mixed_step(
    s: Setup,
    batch: ArrayLike,
    input_tokens: ArrayLike,
    output_tokens: ArrayLike,
    context: ArrayLike | None = None,
) -> StepTime:
    """The mean step of `batch` sequences in a closed loop: each finished sequence is
    replaced at once, so every O decode steps the replica also prefills `batch` prompts of I
    tokens (`cycle_step`). `context` (default I + O/2) is the decoding sequences' mean
    context."""
    b = np.asarray(batch, dtype=np.float64)
    i = np.asarray(input_tokens, dtype=np.float64)
    o = np.asarray(output_tokens, dtype=np.float64)
    ctx = i + o / 2 if context is None else context
    return cycle_step(s, b, ctx, b, i, o)


def cycle_step(
    s: Setup, decodes: ArrayLike, context: ArrayLike, prompts: ArrayLike, i: ArrayLike, o: ArrayLike
) -> StepTime:
    """The mean step over `o` decode steps of `decodes` sequences (mean context `context`)
    during which `prompts` prompts of `i` tokens are prefilled: each in its own chunks of what
    the decodes leave of the token budget, the other steps decoding only; where the chunks
    outnumber the steps, every step carries prompt tokens (prompts × i / o of them).

    Spreading the prompts evenly over every step instead (prompts × i / o tokens a step)
    gives the same mean for a dense model, whose step time grows about linearly with its
    tokens, but not for a MoE: a step's tokens touch the experts a few at a time, so one step
    of 228 prompt tokens reads nearly every expert of DeepSeek-R1 once, where 4.3 prompt
    tokens in each of 213 steps would read ~2x the experts of 4 decodes in every step
    (GPUStack's DeepSeek-R1 on 8 H200 at 4 users: 19.4 ms measured TPOT, 26 ms spread,
    19.8 ms from the simulator, which schedules each chunk)."""
    d = np.asarray(decodes, dtype=np.float64)
    n = np.asarray(prompts, dtype=np.float64)
    i = np.asarray(i, dtype=np.float64)
    o = np.asarray(o, dtype=np.float64)
    room = np.maximum(float(s.engine.max_num_batched_tokens) - d, 1.0)
    mixed = np.minimum(n * np.maximum(np.ceil(i / room), 1.0), o)  # steps carrying prompts
    share = mixed / o
    with_prompts = mixed_step(s, d, context, n * i / np.maximum(mixed, 1.0), i / 2)
    alone = mixed_step(s, d, context)
    return StepTime(
        *(
            share * np.asarray(getattr(with_prompts, f.name))
            + (1 - share) * np.asarray(getattr(alone, f.name))
            for f in fields(StepTime)
        )
    )


def chunked_prefill_s(
    s: Setup, prompt: ArrayLike, decodes: ArrayLike, context: ArrayLike, chunk: float
) -> F64:
    """Time to prefill a `prompt` in chunks alongside `decodes` decoding sequences at mean
    context `context`: each step has `chunk` tokens of budget, one per decode, the rest for
    the prompt."""
    p = np.asarray(prompt, dtype=np.float64)
    d = np.asarray(decodes, dtype=np.float64)
    room = np.maximum(chunk - d, 1.0)
    n = np.maximum(np.ceil(p / room), 1.0)
    return n * mixed_step(s, d, context, p / n, p / 2).total_s


def _binding(parts: StepTime) -> list[str]:
    """Which part sets each step: compute, memory bandwidth, communication or overhead."""
    compute = parts.linear_compute_s + parts.attention_compute_s
    memory = parts.linear_memory_s + parts.attention_memory_s
    labels = []
    for co, me, cm, ov in zip(
        np.atleast_1d(compute),
        np.atleast_1d(memory),
        np.atleast_1d(parts.comm_s),
        np.atleast_1d(parts.overhead_s),
        strict=True,
    ):
        biggest = max(
            (co, "compute"), (me, "memory bandwidth"), (cm, "communication"), (ov, "overhead")
        )
        labels.append(biggest[1])
    return labels


def continuous(s: Setup, batch: ArrayLike, input_tokens: int, output_tokens: int) -> PerfResult:
    """Closed loop of `batch` sequences with chunked prefill mixed into decode steps."""
    b = np.atleast_1d(np.asarray(batch, dtype=np.float64))
    _check(input_tokens, output_tokens, b)
    i, o = float(input_tokens), float(output_tokens)
    chunk = float(s.engine.max_num_batched_tokens)
    ctx = i + o / 2
    mixed = steady_mixed_step(s, b, i, o, ctx)
    t = mixed.total_s
    # a sequence's own prompt is prefilled before its first token (TTFT), not while it
    # decodes: its decode steps carry only the other b − 1 sequences' prompts
    tpot = cycle_step(s, b, ctx, b - 1, i, o).total_s
    # a new prompt is prefilled in chunks alongside the other batch-1 sequences' decodes
    ttft = chunked_prefill_s(s, i, b - 1, ctx, chunk)
    return PerfResult(
        batch=b,
        prefill_s=prefill_time_s(s, i, chunk) + np.zeros_like(b),
        ttft_s=ttft,
        tpot_s=tpot,
        output_tok_per_s=b / t,
        total_tok_per_s=b * (1 + i / o) / t,
        step_s=t,
        binding=_binding(mixed),
    )


def static(s: Setup, batch: ArrayLike, input_tokens: int, output_tokens: int) -> PerfResult:
    """`batch` requests prefilled together, then decoded together until the last one ends."""
    b = np.atleast_1d(np.asarray(batch, dtype=np.float64))
    _check(input_tokens, output_tokens, b)
    i, o = float(input_tokens), int(output_tokens)
    chunk = float(s.engine.max_num_batched_tokens)
    # the batch's prompts are prefilled together, in steps of at most `chunk` tokens; each
    # prompt attends only to itself (mean context i/2), not to the other prompts of the step
    total_prompt = b * i
    if ranked(s):  # dealt to data-parallel attention ranks that each prefill their own
        prefill = wave_prefill(s, b, i)[0].sum(axis=1)
    else:
        n_steps = np.maximum(np.ceil(total_prompt / chunk), 1.0)
        prefill = n_steps * step_s(s, 0.0, 0.0, total_prompt / n_steps, i / 2).total_s
    # decode steps j = 1..o-1 (the prefill produced the first token), context grows by one each
    j = np.arange(1, o, dtype=np.float64)
    if o <= 1:
        decode = np.zeros_like(b)
    elif decode_pad(s) > 1:  # ranks padded to the largest rank's batch (dp_prefill)
        bp = padded_decodes(s, b)
        pad = step_s(s, bp[:, None], i + j[None, :])
        att = np.maximum(pad.attention_compute_s, pad.attention_memory_s) * (1 - b / bp)[:, None]
        decode = (pad.total_s - att).sum(axis=1)
    else:
        decode = step_s(s, b[:, None], i + j[None, :]).total_s.sum(axis=1)
    total = prefill + decode
    tpot = decode / (o - 1) if o > 1 else np.zeros_like(b)
    mid = step_s(s, b, i + o / 2)
    return PerfResult(
        batch=b,
        prefill_s=prefill_time_s(s, i, chunk) + np.zeros_like(b),
        ttft_s=prefill,
        tpot_s=tpot,
        output_tok_per_s=b * o / total,
        total_tok_per_s=b * (i + o) / total,
        step_s=mid.total_s,
        binding=_binding(mid),
    )


def run(
    s: Setup, batch: ArrayLike, input_tokens: int, output_tokens: int, schedule: str = "continuous"
) -> PerfResult:
    if schedule not in SCHEDULES:
        raise InputError(f"--schedule = {schedule!r}; accepted: {', '.join(SCHEDULES)}")
    fn = continuous if schedule == "continuous" else static
    return fn(s, batch, input_tokens, output_tokens)
