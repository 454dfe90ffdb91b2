"""Sizing: the analytic latency percentiles of a replica set under load, and the seed's method.

A replica runs iteration-level continuous batching (`perf.schedule.mixed_step` is the step).
At a per-replica arrival rate λ it settles at an operating point (`load_point`):

- `n` sequences decoding on average (Little: n = λ · (O − 1) · t̄), `t_dec` the pure decode
  step of a batch of n + 1 (a sequence sees itself and the others in flight);
- each arrival's prompt of I tokens is prefilled in ⌈I / (chunk − n)⌉ mixed steps taking
  `tp(I)` in all, beside the prompts that arrived with it (groups of mean size g);
- the mean step t̄ = 1 / (λ · E[chunks] / g + (1 − f) / t_dec), f the share of time in
  mixed steps; n solved by regula falsi (then capped at B − 1).

TTFT = wait for a batch slot (a G/G/c queue of all replicas' slots, Allen–Cunneen) + the rest
of the step in flight when the request arrives (uniform over a decode step, or over a mixed
step, chosen by the share of time in each) + its own prefill, after the prompts that arrived
before it in that step (first come, first served). TPOT of a request with O
tokens = t_dec + the extra time of the prefills that share its O − 1 steps (a compound
Poisson sum of the prompts arriving during its life) / (O − 1). Percentiles come from these
distributions over a quantile grid of the request lengths (`workload.QUANTILE_LEVELS`), not
from a worst case; docs/model/sizing.md derives each term and checks it against the
simulator. All functions take numpy arrays and broadcast; only numpy is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fleetplan.queueing import (
    normal_cdf,
    poisson_weights,
    renewals,
    slot_wait,
)

F64 = NDArray[np.float64]
# (decoding sequences, their mean context, prefill tokens, their mean context) -> step seconds
StepFn = Callable[[F64, F64, F64, F64], F64]

_SLOT_WAIT_POINTS = (np.arange(16) + 0.5) / 16  # quantiles of the exponential wait tail
CO_ARRIVALS = (0, 1, 2, 3, 5)  # other prompts sharing a first step (the last: 4 or more)
N_MAX = 1024.0  # the top of the operating point's bracket: above any batch limit's sequences
BURST_REPLICAS = 4.0  # a fleet's burst lands whole on a replica up to this many replicas


@dataclass(frozen=True)
class LoadPoint:
    """A replica's operating point, arrays of shape (setups, batches); `_k` ones add a last
    axis over the prompt-length grid. Seconds."""

    n: F64  # sequences decoding, on average
    t_dec: F64  # a pure decode step
    t_bar: F64  # the mean step (decode and mixed)
    f_mixed: F64  # share of time in mixed steps
    p_busy: F64  # share of arrivals finding the replica busy
    mixed_len: F64  # length-biased mean prefill (the one an arrival finds in progress)
    prefill_k: F64  # a prompt's own prefill at grid point k, with the prompts sharing it
    prefill_jk: F64  # ... with CO_ARRIVALS[j] mean prompts sharing its step, (..., j, k)
    co_dec: F64  # weights of those counts when arriving in a decode step, (..., j)
    co_mix: F64  # ... in a mixed step
    delta_k: F64  # a mixed step's time beyond the decode steps it replaces
    share: F64  # prompts per mixed step
    slot_p: F64  # probability of waiting for a slot
    slot_theta: F64  # rate of the slot wait's exponential tail
    stable: NDArray[np.bool_]
    replicas: F64
    rate: F64  # arrivals per second at one replica
    count_cv2: F64  # CV² of the arrivals' count at one replica over a request's life (≥ 1)


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
    # a renewal process of inter-arrival CV² c² brings (c² − 1)/2 more arrivals right after
    # each one than Poisson does (its Palm excess), as many before: bursts of prompts, of
    # which those within the same step share it. The balancer spreads a fleet's burst over
    # its replicas: all of it up to 4 replicas, falling as 1/R beyond (the level is the one
    # fitted on gamma arrivals at 6 replicas, a third of c² − 1; a fixed third made 12
    # replicas' TTFT p95 47 % pessimistic and 3 replicas' 18 % optimistic, docs/model/sizing.md)
    cluster = 0.5 * max(arrival_cv2 - 1.0, 0.0) * np.minimum(1.0, BURST_REPLICAS / r)
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
    # token budget goes out in admission order), plus a burst's; Poisson counts, each a
    # mean prompt (their prefills in the same call of the step as the last mean step's)
    more = [p_k] + [p_k + c * i_mean for c in CO_ARRIVALS[1:]]
    t_dec, own, nch_e, share, f, fm, t_bar, mixed_len, _, more_t = mean_step(n, extra, more)
    tp = more_t[0][0]  # a prompt's prefill alone
    own_j = np.stack([t for t, _ in more_t], axis=-2)
    # how many arrive in the elapsed part of a step (half of it on average) depends on the
    # balancer: a random split (Poisson at λ/R) or every R-th request (round robin, an
    # Erlang-R renewal process) bound it; least outstanding lies between, taken as their
    # mean (checked against the simulator)
    rr = np.broadcast_to(r, lam.shape)

    def sharing(window: F64) -> F64:
        return 0.5 * (lam * window / 2 + renewals(rr, lam_total, window / 2)) + cluster

    nu_dec, nu_mix = sharing(t_dec), sharing(mixed_len)
    # the arrivals' count over a request's life at ONE replica, for the TPOT term: the
    # balancer splits the fleet's bursts — a random split leaves c² = 1 + (c_a² − 1)/R, every
    # R-th request c_a²/R; least outstanding lies between, taken as their mean (the fleet's
    # c_a² made a bursty plan's TPOT p95 19 % pessimistic)
    service = o1 * t_bar + _mean(tp, weights)
    slot_p, theta = slot_wait(r * b, lam_total, service, output_cv2, arrival_cv2)
    stable = (f < 1) & (lam * o1 * t_bar < b) & (theta > 0)
    return LoadPoint(
        n=n,
        t_dec=t_dec,
        t_bar=t_bar,
        f_mixed=fm,
        p_busy=1 - np.exp(-(n + f)),
        mixed_len=mixed_len,
        prefill_k=own,
        prefill_jk=own_j,
        co_dec=poisson_weights(nu_dec),
        co_mix=poisson_weights(nu_mix),
        delta_k=np.maximum(own - nch_e * t_dec[..., None], 0.0),
        share=share,
        slot_p=slot_p,
        slot_theta=theta,
        stable=stable,
        replicas=np.broadcast_to(r, lam.shape),
        rate=lam,
        count_cv2=np.maximum(0.5 * (1 + (arrival_cv2 - 1) / rr) + 0.5 * arrival_cv2 / rr, 1.0),
    )


def _linear_cdf(x: F64, points: F64, levels: F64) -> F64:
    """CDF at x of the distribution whose quantile function is linear between
    (levels[i], points[..., i]); 0 below the first point, 1 from the last on. `points` has
    shape S + (k,) and x shape S or S + (j,) (several x per row)."""
    return _LinearCdf(points, levels)(x)


class _LinearCdf:
    """`_linear_cdf` with its points fixed (evaluated at many x). Each row is interpolated on
    its own points (the segment found by counting the points at or below x, the value as
    `np.interp` forms it), so a row's result never depends on the rows evaluated with it."""

    def __init__(self, points: F64, levels: F64) -> None:
        k = points.shape[-1]
        self.rows = int(np.prod(points.shape[:-1])) if points.shape[:-1] else 1
        self.p = np.maximum.accumulate(points.reshape(self.rows, k), axis=1)
        self.p0, self.p1 = self.p[:, :1], self.p[:, -1:]
        self.at = (np.arange(self.rows) * k)[:, None]
        self.levels = levels

    def __call__(self, x: ArrayLike) -> F64:
        x = np.asarray(x, dtype=np.float64)
        xr = x.reshape(self.rows, -1)
        p, levels, k = self.p, self.levels, self.p.shape[1]
        if k > 1:
            # the segment [p[j], p[j + 1]) holding x (inside the points: p[j + 1] > x >= p[j]):
            # j counts the inner points at or below x (one comparison of (rows, x) per point)
            j = np.zeros(xr.shape, dtype=np.intp)
            for i in range(1, k - 1):
                j += p[:, i : i + 1] <= xr
            at = j + self.at
            lo, hi = p.reshape(-1)[at], p.reshape(-1)[at + 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = (levels[j + 1] - levels[j]) / (hi - lo)
                inside = slope * (xr - lo) + levels[j]
        else:
            inside = np.zeros(xr.shape)
        out = np.where(xr >= self.p1, 1.0, np.where(xr < self.p0, 0.0, inside))
        return out.reshape(x.shape)


def ttft_cdf(lp: LoadPoint, x: ArrayLike, levels: F64, weights: F64) -> F64:
    """P(TTFT ≤ x): own prefill (+ the rest of the step in flight, when busy), then the slot
    wait folded in at a few quantiles of its exponential tail."""
    return ttft_distribution(lp, levels, weights)(x)


def ttft_distribution(lp: LoadPoint, levels: F64, weights: F64) -> Callable[[ArrayLike], F64]:
    """`ttft_cdf` at `lp` as a function of x, with what does not depend on x worked out once
    (a percentile evaluates the CDF a dozen times at the same operating point)."""

    def no_wait(y: F64, lp: LoadPoint, own_prefill: _LinearCdf) -> F64:
        idle = own_prefill(y)
        rest = y[..., None, None] - lp.prefill_jk  # (..., j, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.divide(rest, lp.t_dec[..., None, None])
            np.clip(a, 0.0, 1.0, out=a)
            in_dec = np.einsum("...jk,k->...j", a, weights)
            np.divide(rest, lp.mixed_len[..., None, None], out=a)
            np.clip(a, 0.0, 1.0, out=a)
            in_mix = np.einsum("...jk,k->...j", a, weights)
        in_mix = np.where(lp.mixed_len[..., None] > 0, in_mix, 1.0)
        fm = lp.f_mixed
        busy = (1 - fm) * (in_dec * lp.co_dec).sum(-1) + fm * (in_mix * lp.co_mix).sum(-1)
        return (1 - lp.p_busy) * idle + lp.p_busy * busy

    # the slot wait, where an arrival waits with probability above 1e-4 (elsewhere none)
    shape = lp.n.shape
    own = _LinearCdf(lp.prefill_jk[..., 0, :], levels)
    rows = np.flatnonzero(lp.slot_p.reshape(-1) > 1e-4)
    if rows.size:
        sub = _take_rows(lp, rows)  # shape (rows, 1, ...): the wait's quantiles on axis 1
        own_sub = _LinearCdf(sub.prefill_jk[..., 0, :], levels)
        with np.errstate(divide="ignore"):
            waits = -np.log(1 - _SLOT_WAIT_POINTS) / sub.slot_theta
        p = sub.slot_p[:, 0]

    def cdf(x: ArrayLike) -> F64:
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), shape)
        out = no_wait(x, lp, own)
        if rows.size:
            flat = out.reshape(-1).copy()
            folded = no_wait(x.reshape(-1)[rows][:, None] - waits, sub, own_sub).mean(axis=1)
            flat[rows] = (1 - p) * flat[rows] + p * folded
            out = flat.reshape(shape)
        return np.where(lp.stable, out, 0.0)

    return cdf


def _take_rows(lp: LoadPoint, rows: np.ndarray) -> LoadPoint:
    """`lp` at the flat indices `rows` of its leading shape, as shape (rows, 1, ...)."""
    lead = lp.n.ndim
    out = {}
    for name, v in vars(lp).items():
        if isinstance(v, np.ndarray):
            v = v.reshape(-1, *v.shape[lead:])[rows][:, None]
        out[name] = v
    return LoadPoint(**out)


def tpot_cdf(
    lp: LoadPoint,
    x: ArrayLike,
    levels: F64,
    weights: F64,
    outputs: F64,
    out_weights: F64,
    replica_rate: F64,
) -> F64:
    """P(TPOT ≤ x) over requests of two or more tokens: t_dec plus the extra time of the
    prefills during the request's O − 1 steps divided by O − 1; their count is Poisson
    (λ·(O − 1)·t̄), exact for none and one, normal beyond; mixed over the output grid."""
    return tpot_distribution(lp, levels, weights, outputs, out_weights, replica_rate)(x)


def tpot_distribution(
    lp: LoadPoint,
    levels: F64,
    weights: F64,
    outputs: F64,
    out_weights: F64,
    replica_rate: F64,
) -> Callable[[ArrayLike], F64]:
    """`tpot_cdf` at `lp` as a function of x, with what does not depend on x (the counts'
    weights and moments, the prefills' spread) worked out once."""
    o1 = np.maximum(outputs - 1.0, 1.0)
    # bursty arrivals come in clusters; those sharing a step are in `share` already, the
    # rest spread the count further (Var N(t) ≈ c² E N(t), `count_cv2`)
    m = np.maximum(lp.count_cv2 / lp.share, 1.0)[..., None]
    # mixed steps (clusters of `share` prompts) during its life, (..., j)
    mu = replica_rate[..., None] * o1 * lp.t_bar[..., None] / (m * lp.share[..., None])
    d1 = _mean(lp.delta_k, weights)[..., None]
    d_mean = m * d1
    d_var = m * np.maximum(_mean(lp.delta_k**2, weights)[..., None] - d1**2, 0.0)
    p0 = np.exp(-mu)
    p1 = mu * p0
    p2 = np.maximum(1 - p0 - p1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        n2 = np.where(p2 > 1e-12, (mu - p1) / p2, 2.0)
        n2sq = np.where(p2 > 1e-12, (mu + mu * mu - p1) / p2, 4.0)
        s2 = np.sqrt(n2 * d_var + np.maximum(n2sq - n2 * n2, 0.0) * d_mean**2)
        centre, spread = n2 * d_mean, np.maximum(s2, 1e-12)
    cluster_k = lp.delta_k[..., None, :] + (m - 1)[..., None] * d1[..., None]
    # exactly one mixed step: only at the (entry, output length) pairs where it has weight
    # (short outputs), each on its entry's prefill spread
    weighty = np.flatnonzero(p1 > 1e-7)
    if weighty.size:
        spread_k = cluster_k.reshape(-1, lp.delta_k.shape[-1])  # one row per entry
        one_step = _LinearCdf(spread_k[weighty // mu.shape[-1]], levels)
    shape = lp.n.shape

    def cdf(x: ArrayLike) -> F64:
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), shape)
        y = (x - lp.t_dec)[..., None] * o1  # the extra time a request can absorb
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            tail = normal_cdf((y - centre) / spread)
        one = np.zeros(y.shape)
        if weighty.size:
            one.reshape(-1)[weighty] = one_step(y.reshape(-1)[weighty][:, None])[:, 0]
        out = ((p0 * (y >= 0) + p1 * one + p2 * tail) * out_weights).sum(axis=-1)
        return np.where(lp.stable, out, 0.0)

    return cdf


def replicas_for_throughput(
    peak_req_s: ArrayLike, per_replica_req_s: ArrayLike, utilization: float, min_replicas: int = 1
) -> NDArray[np.int64]:
    """Replicas so that each runs at most `utilization` of its capacity at peak."""
    cap = np.asarray(per_replica_req_s, dtype=np.float64) * utilization
    with np.errstate(divide="ignore"):
        n = np.ceil(peak_req_s / cap - 1e-12)
    n = np.where(cap > 0, n, np.iinfo(np.int64).max // 2)
    return np.maximum(n, min_replicas).astype(np.int64)


def seed_method_gpus(
    qps: float, batch: int, output_tokens: float, t_step_s: float, utilization: float
) -> tuple[float, float, int]:
    """The hand method: λ_gpu = B / (G·t_step); N = ⌈QPS / (u·λ_gpu)⌉.

    Returns (λ_gpu in req/s, usable req/s per GPU, GPUs). Ignores prefill and queueing.
    """
    lam = batch / (output_tokens * t_step_s)
    usable = utilization * lam
    return lam, usable, math.ceil(qps / usable - 1e-12)
