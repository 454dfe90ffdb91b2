"""A replica's operating point under load (`load_point`): sequences decoding, the decode and
mixed steps, the prompts sharing a first step (and, under bursts, the burst's prompts behind a
request in its last step), the waits' parameters — what the TTFT and TPOT distributions
(`sizing.percentiles`) read. fleetplan/docs/sizing.md derives each term."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fleetplan.queueing import burst_count_weights, erlang_c, renewals, slot_wait

F64 = NDArray[np.float64]
# (decoding sequences, their mean context, prefill tokens, their mean context) -> step seconds
StepFn = Callable[[F64, F64, F64, F64], F64]

CO_ARRIVALS = (0, 1, 2, 3, 5)  # other prompts sharing a first step (the last: 4 or more)
_EDGES = (0, 1, 2, 3, 4)  # the counts each stands for: 0, 1, 2, 3, 4 or more
# ... under bursty arrivals, whose counts run longer: a point in each of 0, 1, 2, 3, 4-6,
# 7-10, 11-16 and 17 or more
CO_ARRIVALS_BURSTY = (0, 1, 2, 3, 5, 8, 13, 21)
_BURSTY_EDGES = (0, 1, 2, 3, 4, 7, 11, 17)
N_MAX = 1024.0  # the top of the operating point's bracket: above any batch limit's sequences


@dataclass(frozen=True)
class LoadPoint:
    """A replica's operating point, arrays of shape (setups, batches); `_k` ones add a last
    axis over the prompt-length grid. Seconds."""

    n: F64  # sequences decoding, on average
    t_dec: F64  # a pure decode step
    t_bar: F64  # the mean step (decode and mixed)
    f_mixed: F64  # share of time in mixed steps
    p_busy: F64  # share of arrivals finding the replica busy
    # length-biased mean prefill: the mean of the one an arrival finds in flight (the TTFT
    # term spreads it over the prompts' prefills: percentiles.in_flight_groups)
    mixed_len: F64
    prefill_k: F64  # a prompt's own prefill at grid point k, with the prompts sharing it
    prefill_jk: F64  # ... with CO_ARRIVALS[j] (bursty: _BURSTY) mean prompts ahead, (..., j, k)
    co_dec: F64  # weights of those counts when arriving in a decode step, (..., j)
    co_mix: F64  # ... in a mixed step
    delta_k: F64  # a mixed step's time beyond the decode steps it replaces
    share: F64  # prompts per mixed step
    slot_p: F64  # probability of waiting: for a slot, or behind an earlier burst's prefills
    slot_theta: F64  # rate of that wait's exponential tail
    stable: NDArray[np.bool_]
    replicas: F64
    rate: F64  # arrivals per second at one replica
    count_cv2: F64  # CV² of the arrivals' count at one replica over a few steps (≥ 1)
    life_cv2: F64  # ... over a request's whole life (TPOT's), < 1 where the balancer evens it
    t_idle: F64  # a decode step of one sequence
    # bursty arrivals: the extra time of the burst's prompts behind a request that fit in its
    # last step, (..., j, k) with j of the burst ahead of it (and as many behind)
    behind_s: F64 | None = None


def _call(step: StepFn, *arrays: F64 | float) -> F64:
    """`step` on arrays of shape (n, m[, k]) broadcast together, as (n, m·k) and back; plain
    numbers stay numbers (the step broadcasts them itself)."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    flat = [
        a
        if np.ndim(a) == 0
        else (a if a.shape == shape else np.broadcast_to(a, shape)).reshape(shape[0], -1)
        for a in arrays
    ]
    return np.asarray(step(*flat)).reshape(shape)


def _mean(x: F64, w: F64) -> F64:
    return (x * w).sum(axis=-1)


def load_point(
    step: StepFn,
    arrival_rate: ArrayLike,
    replicas: ArrayLike,
    batch: F64,
    chunk: ArrayLike,
    context: float,
    prompts: F64,
    weights: F64,
    output_mean: float,
    output_cv2: float,
    arrival_cv2: float = 1.0,
    iterations: int = 6,
) -> LoadPoint:
    """The operating point of `replicas` replicas of at most `batch` sequences (arrays of
    shape (setups, batches)) sharing `arrival_rate` requests/s, for prompts at the grid
    `prompts` (weights `weights`)."""
    r = np.asarray(replicas, dtype=np.float64)
    b = np.asarray(batch, dtype=np.float64)
    lam_total = np.asarray(arrival_rate, dtype=np.float64)
    lam = np.broadcast_to(lam_total / r, np.broadcast_shapes(r.shape, b.shape))
    b = np.broadcast_to(b, lam.shape)
    ctx = float(context)
    o1 = max(output_mean - 1.0, 0.0)
    # the arrivals' count at ONE replica: the balancer splits the fleet's bursts — a random
    # split leaves c² = 1 + (c_a² − 1)/R, every R-th request (round robin) c_a²/R. Over the
    # few steps a first token waits, least outstanding has no time to even a burst out: a
    # random split's (their mean put a bursty plan's TTFT p95 14-18 % under the simulator's
    # at 6 and 12 replicas of a CV-3 fleet, this 3 % either side)
    rr = np.broadcast_to(r, lam.shape)
    count_cv2 = np.maximum(1 + (arrival_cv2 - 1) / rr, 1.0)
    # ... over a whole life (seconds, many arrivals) it has: least outstanding keeps the
    # replicas' counts level as a round robin does, c_a²/R, below 1 for Poisson arrivals
    # (their mean put the TPOT p95 of a RAG plan 10-24 % over the simulator's at 2-9
    # replicas, this 1-7 %)
    life_cv2 = arrival_cv2 / rr
    # ... which arrive as geometric batches (an M^X process of that index of dispersion,
    # 2m − 1): each brings m − 1 = (c² − 1)/2 others on average, heavy-tailed (a Poisson count
    # of the same mean made one bursty replica's TTFT p95 45 % optimistic)
    cluster = 0.5 * (count_cv2 - 1.0)
    p_k = prompts[None, None, :]
    k = prompts.size

    chunk = np.asarray(chunk, dtype=np.float64)

    def steps(n: F64, prompts: list[F64]) -> tuple[F64, list[tuple[F64, F64]]]:
        """The decode step at `n` decoding and, per grid in `prompts` (a request's own prompt,
        `p_k`, plus the tokens of other mean prompts prefilled with it), the time and steps to
        prefill them in chunks of the budget beside the decodes: one call of the step over a
        last axis of 1 + k + k + ... (the step is elementwise: the same numbers as a call per
        grid, in fewer array operations). Each prompt attends to its own context: the tokens'
        mean attended context is the token-weighted mean of p_k / 2 and i_mean / 2, not half
        their sum (attention work grows with the square of a prompt, not of a step)."""
        room = np.maximum(chunk - n, 1.0)[..., None]
        # (decoding sequences, prompt tokens in the step, their mean attended context)
        seqs, tokens, attended = np.empty((3, *n.shape, 1 + k * len(prompts)))
        seqs[..., 0] = np.minimum(n + 1, b)
        seqs[..., 1:] = n[..., None]
        tokens[..., 0] = attended[..., 0] = 0.0
        nchs = []
        for i, p in enumerate(prompts):
            nchs.append(np.maximum(np.ceil(p / room), 1.0))
            np.divide(p, nchs[-1], out=tokens[..., 1 + i * k : 1 + (i + 1) * k])
            others = p - p_k  # tokens of the mean prompts sharing the steps
            attended[..., 1 + i * k : 1 + (i + 1) * k] = (p_k * p_k + others * i_mean) / (2 * p)
        t = _call(step, seqs, ctx, tokens, attended)
        out = [(c * t[..., 1 + i * k : 1 + (i + 1) * k], c) for i, c in enumerate(nchs)]
        return t[..., 0], out

    i_mean = float((prompts * weights).sum())

    def mean_step(n: F64, extra: F64, more: list[F64] | None = None) -> tuple:
        """Steps at `n` decoding, a mixed step carrying `extra` prompt tokens of the other
        arrivals beside its own (and the prefills of the prompt grids `more`, last)."""
        t_dec, pre = steps(n, [p_k + extra[..., None], *(more or [])])
        tp, nch_e = pre[0]
        share = 1 + extra / i_mean  # prompts per mixed step, as one of them sees it
        # groups of prompts prefilled together come at λ / g, g their mean size: `share` is
        # the size a member sees (length-biased), g = a / (1 − e^−a) that of a count of mean
        # a = share − 1 given at least one. The share of time in mixed steps: every prompt
        # token once, each group's decode part once
        a = share - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(a > 1e-9, a / -np.expm1(-a), 1.0)
        chunks = lam * _mean(nch_e, weights)
        steps_s = chunks / g  # mixed steps a second
        f = lam * _mean(tp, weights) / share + (steps_s - chunks / share) * t_dec
        with np.errstate(divide="ignore", invalid="ignore"):
            t_bar = 1.0 / (steps_s + np.maximum(1 - f, 0) / t_dec)
            mixed_len = np.nan_to_num(_mean(tp * tp, weights) / _mean(tp, weights))
        fm = np.minimum(f, 1.0)
        # the step a request arrives in is length-biased: a decode step (share 1 − f of the
        # time) or a mixed step; every arrival during it joins the next step with it
        extra = lam * i_mean * ((1 - fm) * t_dec + fm * mixed_len) + cluster * i_mean
        return t_dec, tp, nch_e, share, f, fm, t_bar, mixed_len, extra, pre[1:]

    t_idle = _call(step, np.minimum(1.0, b), ctx, 0.0, 0.0)  # a decode step of one sequence
    extra = lam * i_mean * t_idle

    def gap(n: F64, extra: F64) -> tuple[F64, F64]:
        """Little's law's excess at `n` decoding, and the co-arrivals' tokens there."""
        *_, t_bar, _, extra_new, _ = mean_step(n, extra)
        return lam * o1 * t_bar - n, extra_new

    # n = min(λ·(O − 1)·t̄(n), B − 1): the gap λ·(O − 1)·t̄(n) − n is ≥ 0 at n = 0 and, for
    # a replica that keeps up, ≤ 0 at the top of any batch limit, so the root is bracketed;
    # regula falsi with the Illinois halving converges in a few steps even where the step
    # grows steeply with n (many-expert MoE: each sequence reads more experts), which damped
    # substitution did not (Qwen3-30B-A3B: n 8.3 after four steps against 15.5). The bracket
    # does not depend on the batch limit (only the cap at B − 1 does): batch limits above the
    # load settle at the same point, which the TPOT percentiles' dedupe relies on
    lo, hi = np.zeros(lam.shape), np.maximum(b - 1, N_MAX)
    g_lo, extra = gap(lo, extra)
    g_hi, _ = gap(hi, extra)
    side = np.zeros(lam.shape)
    n = lo
    # an entry stops where Little's law holds to 0.2 %: what it settles at does not depend on
    # the entries evaluated beside it, and the loop ends once every entry has stopped
    done = np.zeros(lam.shape, dtype=bool)
    for _ in range(iterations):
        with np.errstate(divide="ignore", invalid="ignore"):
            step_to = np.where(g_lo - g_hi > 0, lo + g_lo * (hi - lo) / (g_lo - g_hi), lo)
        n = np.where(done, n, np.clip(step_to, lo, hi))
        g_n, extra_n = gap(n, extra)
        extra = np.where(done, extra, extra_n)
        done |= (np.abs(g_n) <= 0.002 * n + 0.01) | (n >= b - 1) & (g_n >= 0)
        if done.all():
            break
        up = g_n >= 0
        lo, g_lo = np.where(up, n, lo), np.where(up, g_n, g_lo)
        hi, g_hi = np.where(up, hi, n), np.where(up, g_hi, g_n)
        # Illinois: an end kept twice in a row has its gap halved
        g_hi = np.where(up & (side > 0), 0.5 * g_hi, g_hi)
        g_lo = np.where(~up & (side < 0), 0.5 * g_lo, g_lo)
        side = np.where(up, 1.0, -1.0)
    n = np.minimum(n, b - 1)
    # the prompts prefilled ahead of a request in its first step: those that arrived before
    # it in the step it arrived in (decode or mixed; first come first served, the step's
    # token budget goes out in admission order), plus a burst's; a Poisson count and a
    # geometric one, each a mean prompt (their prefills in the same call of the step as the
    # last mean step's)
    grid, edges = (CO_ARRIVALS_BURSTY, _BURSTY_EDGES) if arrival_cv2 > 1 else (CO_ARRIVALS, _EDGES)
    more = [p_k] + [p_k + c * i_mean for c in grid[1:]]
    t_dec, own, nch_e, share, f, fm, t_bar, mixed_len, _, more_t = mean_step(n, extra, more)
    alone = more_t[0][0]  # a prompt's own prefill, alone
    own_j = np.stack([t for t, _ in more_t], axis=-2)
    # how many arrive in the elapsed part of a step (half of it on average) depends on the
    # balancer: a random split (Poisson at λ/R) or every R-th request (round robin, an
    # Erlang-R renewal process) bound it; least outstanding lies between, taken as their
    # mean (checked against the simulator)

    def sharing(window: F64) -> F64:
        """Weights of the counts ahead for an arrival `window` s into a step: those at the
        rate, plus a burst's."""
        at_rate = 0.5 * (lam * window / 2 + renewals(rr, lam_total, window / 2))
        return burst_count_weights(at_rate, cluster, edges)

    co_dec, co_mix = sharing(t_dec), sharing(mixed_len)
    service = o1 * t_bar + _mean(alone, weights)
    slot_p, theta = slot_wait(r * b, lam_total, service, output_cv2, arrival_cv2)
    stable = (f < 1) & (lam * o1 * t_bar < b) & (theta > 0)
    behind_s = None
    if arrival_cv2 > 1:
        behind_s = _burst_behind(step, n, t_dec, ctx, chunk, p_k, i_mean, grid)
    slot_p, theta = _prefill_backlog(lam, alone, t_dec, weights, cluster, rr, slot_p, theta)
    return LoadPoint(
        n=n,
        t_dec=t_dec,
        t_bar=t_bar,
        f_mixed=fm,
        p_busy=1 - np.exp(-(n + f)),
        mixed_len=mixed_len,
        prefill_k=own,
        prefill_jk=own_j,
        co_dec=co_dec,
        co_mix=co_mix,
        delta_k=np.maximum(own - nch_e * t_dec[..., None], 0.0),
        share=share,
        slot_p=slot_p,
        slot_theta=theta,
        stable=stable,
        replicas=np.broadcast_to(r, lam.shape),
        rate=lam,
        count_cv2=count_cv2,
        life_cv2=life_cv2,
        t_idle=np.broadcast_to(t_idle, lam.shape),
        behind_s=behind_s,
    )


def _burst_behind(
    step: StepFn,
    n: F64,
    t_dec: F64,
    ctx: float,
    chunk: F64,
    p_k: F64,
    i_mean: float,
    grid: tuple[int, ...],
) -> F64:
    """The burst's prompts behind a request that share its last step: the step prefills every
    prompt it holds before any gets its first token, so those behind the request that fit in
    the budget its own (and those ahead of it) leave lengthen its wait — at the prefill's
    marginal time a token, up to the step's free budget. A burst arrives at once, so the
    prompts on either side of a request come from the same burst: as many behind as ahead
    (the grid's count j, Poisson and burst alike), drawn together (with an independent
    geometric count behind, the bursty plan's TTFT p95 came 17 % under the simulator's, with
    this one 8 %). Only bursty arrivals get it: under Poisson ones counting the arrivals after a
    request made the plans 13-20 % pessimistic, the rest of the model having been set against
    the simulator without them. Returns
    (..., j, k) seconds for j ahead (`grid`) and prompt grid point k."""
    g = np.asarray(grid, dtype=np.float64)[:, None]
    room = np.maximum(chunk - n, 1.0)
    full = _call(step, n, ctx, room, np.full(room.shape, i_mean / 2))
    per_token = np.maximum(full - t_dec, 0.0) / room
    room = room[..., None, None]
    tokens = p_k[..., None, :] + g * i_mean  # (..., j, k): the request's and those ahead
    last = tokens - room * (np.maximum(np.ceil(tokens / room), 1.0) - 1)  # in its last step
    behind = np.minimum(g * i_mean, np.maximum(room - last, 0.0))
    return per_token[..., None, None] * behind


def _prefill_backlog(
    lam: F64,
    alone: F64,
    t_dec: F64,
    weights: F64,
    cluster: F64,
    replicas: F64,
    slot_p: F64,
    theta: F64,
) -> tuple[F64, F64]:
    """The wait behind earlier prompts' prefills beyond the step in flight, folded into the
    slot wait's exponential tail.

    The replica as an M^X/G/1 queue of prefill work (a prompt's prefill beyond the decode step
    it replaces): batches of m prompts, m − 1 = `cluster` on average, wait
    ρ s ((1 + c_s²)/2 + m − 1)/(1 − ρ) in all (Pollaczek–Khinchine over the batches' work).
    The batches' part, ρ s (m − 1)/(1 − ρ), comes whole. The Poisson part,
    ρ s (1 + c_s²)/(2(1 − ρ)), is in the step-in-flight and co-arrival terms while the backlog
    stays within a step; beyond, least outstanding pools the replicas' prefill queues: an
    M/G/R queue's wait, (1 + c_s²)/2 · C(R, Rρ) s/(R(1 − ρ)) (Lee and Longton's scaling of
    Erlang C; one replica: Pollaczek–Khinchine's). Without it, one replica near its capacity
    read a chat plan's TTFT p95 33 % under the simulator's and a RAG plan's 28 % (R independent
    replicas, all behind ρ^R of the time: the autoscaler's two replicas at 70 % +31 %; 1/R of
    one replica's wait: six replicas +11 %). It comes as a tail at the whole
    wait's conditional mean (all of it over ρ: the tail a long backlog has), with the
    probability that gives it its mean; the Poisson part's share of that mean at the M/G/1
    wait's two-moment tail, E W²/(2 E W) with Takács' E W² = 2 (E W)² + λ E S³/(3(1 − ρ)),
    where it is longer than E W/ρ: long prompts make fewer wait, for longer (one replica's
    chat plan: TTFT p50 / p95 / p99 +39 / −6 / −18 % → +30 / +2 / −13 % against the
    simulator's). With the slot wait: one exponential of their summed means."""
    work = np.maximum(alone - t_dec[..., None], 0.0)
    s = _mean(work, weights)
    cs2 = np.maximum(_mean(work * work, weights) / np.maximum(s, 1e-12) ** 2 - 1.0, 0.0)
    rho = np.minimum(lam * s, 0.99)  # a guard only: a replica past its prefill rate is unstable
    pooled = erlang_c(replicas, replicas * rho) / replicas  # one replica: ρ
    batches = s * cluster / (1 - rho)  # the batches' wait over ρ
    cond = s * (1 + cs2) / (2 * (1 - rho))  # the Poisson wait over ρ: E W / ρ at one replica
    excess = rho * batches + pooled * cond
    with np.errstate(divide="ignore", invalid="ignore"):
        # its two-moment tail, E W² / (2 E W) = E W + λ E S³ / (6 (1 − ρ) E W), at least cond
        ew = rho * cond
        tail = np.where(ew > 0, ew + lam * _mean(work**3, weights) / (6 * (1 - rho) * ew), 0.0)
        scale = np.maximum(tail, cond) + batches
        p_b = np.where(scale > 0, np.minimum(excess / scale, 1.0), 0.0)
        mean = np.where(slot_p > 0, slot_p / theta, 0.0) + excess
        p = 1 - (1 - slot_p) * (1 - p_b)
        theta = np.where(mean > 0, p / mean, theta)
    return p, theta
