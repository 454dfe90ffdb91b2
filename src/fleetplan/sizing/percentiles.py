"""The TTFT and TPOT distributions at a replica's operating point (`sizing.operating_point`),
over the quantile grid of the request lengths. fleetplan/docs/sizing.md derives each term."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from fleetplan.queueing import normal_cdf, round_robin_share
from fleetplan.sizing.operating_point import F64, LoadPoint, _mean

# the prompts' quantile levels gathered into four groups for the rest of the prefill in flight
# (`in_flight_groups`), the tail in groups of its own, where a p95 reads it: of every three edges
# among the midpoints of `workload.QUANTILE_LEVELS`, these keep the rest's p80-p99 closest to the
# whole mixture's over six length distributions (chat, 6 K and 4 K prompts, 300 with a p95 of
# 1,000, 2,000 with a p95 of 8,000, 1,000 with a p95 of 1,500): within 10 %, 5 % on chat lengths
_IN_FLIGHT_EDGES = (0.875, 0.9625, 0.9945)


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
    """P(TTFT ≤ x): own prefill (+ the rest of the step in flight, when busy), after the wait
    for a slot or behind earlier prefills where an arrival has one (an exponential tail)."""
    return ttft_distribution(lp, levels, weights)(x)


def ttft_distribution(
    lp: LoadPoint, levels: F64, weights: F64, level: float | None = None
) -> Callable[[ArrayLike], F64]:
    """`ttft_cdf` at `lp` as a function of x, with what does not depend on x worked out once
    (a percentile evaluates the CDF a dozen times at the same operating point). Given a
    `level` the CDF is only compared against (an SLO's check, a percentile's bisection), an
    entry whose no-wait CDF F0 is below it, or whose (1 − p)·F0 is not (the wait can only lower
    it, by at most p·F0), reads F0: on the same side of the level as the CDF.

    Without a wait the TTFT is a mixture of uniform spells (the rest of a decode step or of a
    prefill in flight) after a prompt's own prefill: its CDF sums ramps, clip((x − a)/b, 0, 1),
    and steps. An arrival waits with probability `slot_p` (for a slot, behind earlier prompts'
    prefills), an exponential time of rate `slot_theta`: after it, the same ramps and steps
    convolved with the exponential in closed form (`_wait_gain`, `_waited_linear_gain`), exactly
    and at under three no-wait evaluations' cost (16 points of the wait cost 17)."""
    shape = lp.n.shape
    groups = _with_rates(in_flight_groups(lp.prefill_k, levels, weights))
    own = _LinearCdf(lp.prefill_jk[..., 0, :], levels)
    # where an arrival waits with probability above 1e-4 (elsewhere none)
    rows = np.flatnonzero(lp.slot_p.reshape(-1) > 1e-4)
    if rows.size:
        sub = _take_rows(lp, rows)  # shape (rows, 1, ...)
        sub_groups = tuple(a.reshape(-1, a.shape[-1])[rows][:, None] for a in groups)
        # a rate of 0 is a wait without end: nothing after it (any rate stands in for it)
        endless = sub.slot_theta[:, 0] <= 0
        p = sub.slot_p[:, 0]
        theta = np.where(endless, 1.0, sub.slot_theta[:, 0])[:, None, None, None]

    def cdf(x: ArrayLike) -> F64:
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), shape)
        out = _no_wait(x, lp, own(x), groups, weights)
        if rows.size:
            flat = out.reshape(-1).copy()
            plain = flat[rows]
            if level is None:
                on = np.arange(rows.size)
            else:  # only where the wait can take the CDF across the level
                on = np.flatnonzero((plain >= level) & ((1 - p) * plain < level))
            if on.size:
                y = x.reshape(-1)[rows[on]][:, None]
                at = sub if on.size == rows.size else _take_rows(sub, on)
                th = theta[on]
                own_gain = _waited_linear_gain(y, at.prefill_jk[..., 0, :], levels, th)
                at_groups = tuple(a[on] for a in sub_groups)
                gain = _wait_gain(y, at, own_gain, at_groups, weights, th)
                after = np.where(endless[on], 0.0, plain[on] + gain[:, 0])
                flat[rows[on]] = (1 - p[on]) * plain[on] + p[on] * after
            out = flat.reshape(shape)
        return np.where(lp.stable, out, 0.0)

    return cdf


def _no_wait(y: F64, lp: LoadPoint, idle: F64, groups: tuple[F64, ...], weights: F64) -> F64:
    """P(TTFT ≤ y) from the arrival on (`idle`: its own prefill's CDF at y, when the replica
    is idle; `groups`: the prefill in flight's, `_with_rates`)."""
    rest = _rest(y, lp)
    share, _, rate = groups
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.divide(rest, lp.t_dec[..., None, None])
        np.clip(a, 0.0, 1.0, out=a)
        in_dec = np.einsum("...jk,k->...j", a, weights)
        # the rest of the prefill in flight is uniform over one of the groups' lengths:
        # P(rest ≤ r) = Σ_g u_g · min(r / L_g, 1), summed as min(r⁺ · u_g / L_g, u_g)
        np.maximum(rest, 0.0, out=rest)
        done = np.zeros(rest.shape)
        for i in range(share.shape[-1]):
            np.multiply(rest, rate[..., i, None, None], out=a)
            np.minimum(a, share[..., i, None, None], out=a)
            done += a
    in_mix = np.einsum("...jk,k->...j", done, weights)
    return _mixed(lp, idle, in_dec, np.where(lp.mixed_len[..., None] > 0, in_mix, 1.0))


def _wait_gain(
    y: F64, lp: LoadPoint, idle_gain: F64, groups: tuple[F64, ...], weights: F64, theta: F64
) -> F64:
    """What an exponential wait of rate `theta` before the arrival changes in `_no_wait` at y
    (`idle_gain`: in its own prefill's CDF). Each ramp clip(u / b, 0, 1) becomes its mean after
    the wait, E clip((u − W) / b, 0, 1) = (h(u) − h(u − b)) / b with h(u) = E (u − W)⁺ =
    u⁺ − (1 − g(u))/θ, g(u) = e^(−θu⁺): the plain ramp plus (g(u) − g(u − b))/(θb), where
    g(u − b) = min(g(u) e^(θb), 1) (θb capped at 700, past which the wait is under 1/700 of the
    ramp and the term under 0.0015)."""
    rest = _rest(y, lp)
    _, length, rate = groups
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.maximum(rest, 0.0, out=rest)
        g = np.exp(np.multiply(rest, -theta, out=rest))
        t_dec = lp.t_dec[..., None, None]
        dec = _waited_ramp_gain(g, theta, t_dec)
        dec /= theta * t_dec
        in_dec = np.einsum("...jk,k->...j", dec, weights)
        done = np.zeros(g.shape)
        for i in range(rate.shape[-1]):
            gain = _waited_ramp_gain(g, theta, length[..., i, None, None])
            gain *= rate[..., i, None, None] / theta
            done += gain
    in_mix = np.einsum("...jk,k->...j", done, weights)
    return _mixed(lp, idle_gain, in_dec, np.where(lp.mixed_len[..., None] > 0, in_mix, 0.0))


def _rest(y: F64, lp: LoadPoint) -> F64:
    """y less each own prefill with the prompts ahead (and a burst's behind it), (..., j, k)."""
    rest = y[..., None, None] - lp.prefill_jk
    if lp.behind_s is not None:  # a burst's prompts behind it in its last step
        rest -= lp.behind_s
    return rest


def _mixed(lp: LoadPoint, idle: F64, in_dec: F64, in_mix: F64) -> F64:
    """Idle, in a decode step or in a mixed one, over the co-arrivals' counts."""
    fm = lp.f_mixed
    busy = (1 - fm) * (in_dec * lp.co_dec).sum(-1) + fm * (in_mix * lp.co_mix).sum(-1)
    return (1 - lp.p_busy) * idle + lp.p_busy * busy


def _waited_ramp_gain(g: F64, theta: F64, b: F64) -> F64:
    """g(u) − g(u − b) for `_no_wait`'s ramps, from g(u) = e^(−θu⁺)."""
    later = g * np.exp(np.minimum(theta * b, 700.0))
    np.minimum(later, 1.0, out=later)
    return np.subtract(g, later, out=later)


def _waited_linear_gain(x: F64, points: F64, levels: F64, theta: F64) -> F64:
    """What an exponential wait of rate `theta` ((rows, 1, 1, 1)) changes in `_linear_cdf` at x
    ((rows, 1)): its first level a step at the first point, ramps between the points, the rest
    up to 1 a step at the last. With g(u) = e^(−θu⁺) at each point's u = x − p_i, a ramp gains
    (g_i − g_(i+1))/(θ · its width) (`_wait_gain`'s, the next point's u being u − width), a
    step (a ramp of no width too) falls from 1 to 1 − g(u) where u ≥ 0."""
    n = points.shape[0]
    p = np.maximum.accumulate(points.reshape(n, -1), axis=1)  # (rows, k)
    th = theta.reshape(n, 1)
    u = x.reshape(n, 1) - p
    g = np.exp(-th * np.maximum(u, 0.0))
    step = np.where(u >= 0, -g, 0.0)
    width = np.diff(p, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ramps = np.where(width > 0, (g[:, :-1] - g[:, 1:]) / (th * width), step[:, :-1])
    out = levels[0] * step[:, 0] + ramps @ np.diff(levels) + (1 - levels[-1]) * step[:, -1]
    return out.reshape(x.shape)


def _with_rates(groups: tuple[F64, F64]) -> tuple[F64, F64, F64]:
    """(shares, lengths, shares / lengths): what `_no_wait` and `_wait_gain` read of the
    groups, the rates worked out once for all of a distribution's evaluations."""
    share, length = groups
    return share, length, share / length


def in_flight_groups(prefill_k: F64, levels: F64, weights: F64) -> tuple[F64, F64]:
    """The prefill an arrival finds in flight in a mixed step, as a few (share, length) pairs:
    a length-biased pick among the prompts' prefills (quantile m of time T_m weighs w_m·T_m),
    the arrival anywhere in it. Its rest is then uniform over the picked length, and over the
    pick a mixture: P(rest > r) = Σ_m v_m (1 − r/T_m)⁺, whose tail the long prompts set — a
    single length-biased mean E[T²]/E[T] cuts it off there (chat lengths of mean 900 tokens
    and p99 5,000: a plan's TTFT p95 13 % under the simulator's; fleetplan/docs/sizing.md). The
    quantile levels go in groups (`_IN_FLIGHT_EDGES`), each at its own length-biased mean
    length, so that the mean rest, E[T²]/(2E[T]), stays exact. Returns (shares, lengths),
    each (..., groups)."""
    group = np.searchsorted(np.asarray(_IN_FLIGHT_EDGES), levels, side="right")
    member = (group[:, None] == np.arange(len(_IN_FLIGHT_EDGES) + 1)[None, :]).astype(float)
    v = prefill_k * weights  # (..., m)
    per_group = v @ member
    with np.errstate(divide="ignore", invalid="ignore"):
        length = np.where(per_group > 0, ((v * prefill_k) @ member) / per_group, 1.0)
        share = per_group / v.sum(axis=-1, keepdims=True)
    return np.nan_to_num(share), length


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
    """P(TPOT ≤ x) over requests of two or more tokens. A request's O − 1 decode steps take
    (O − 1)·t_dec plus the extra time A of the prefills mixed into them, and A grows no faster
    than time (t − A(t) never decreases), so TPOT ≤ x exactly when the prefills' extra time
    over a life of (O − 1)·x stays within (O − 1)·(x − t_dec): the mixed steps are counted
    over the life the percentile itself implies (a Poisson count of clusters, exact for none
    and one, normal beyond), and the decode step at x is that of a congested spell, where the
    sequences decoding beside the request grow with x; mixed over the output grid."""
    return tpot_distribution(lp, levels, weights, outputs, out_weights, replica_rate)(x)


def tpot_distribution(
    lp: LoadPoint,
    levels: F64,
    weights: F64,
    outputs: F64,
    out_weights: F64,
    replica_rate: F64,
) -> Callable[[ArrayLike], F64]:
    """`tpot_cdf` at `lp` as a function of x, with what does not depend on x (the clusters'
    size and rate, the prefills' spread) worked out once."""
    o1 = np.maximum(outputs - 1.0, 1.0)
    # the count over a life has index of dispersion `life_cv2`: mixed steps come in
    # clusters of m (those sharing a step are in `share` already); below 1 (Poisson
    # arrivals over several replicas, which the balancer evens out) the count is steadier
    # than Poisson, clusters of m < 1 of a step's extra
    disp = lp.life_cv2
    m = np.maximum(disp / lp.share, np.minimum(disp, 1.0))[..., None]
    per_cluster = m * lp.share[..., None]  # prompts a cluster
    per_s = replica_rate[..., None] / per_cluster  # clusters a second, (..., j)
    co = _own_burst_rest(lp)[..., None] / per_cluster  # in clusters
    d1 = _mean(lp.delta_k, weights)[..., None]
    d_mean = m * d1
    d_var = m * np.maximum(_mean(lp.delta_k**2, weights)[..., None] - d1**2, 0.0)
    cluster_k = lp.delta_k[..., None, :] + (m - 1)[..., None] * d1[..., None]
    # how many clusters a life holds: none, one (its own spread) or more (normal), weighted
    # at the mean life, (O − 1)·t̄ (counted at the percentile's own life too, the weights
    # would move from none to more as x grows: not a CDF)
    mu_bar = per_s * o1 * lp.t_bar[..., None] + co
    p0, p1, p2 = _poisson_split(mu_bar)
    # exactly one: only at the (entry, output length) pairs where it has weight (short
    # outputs), each on its entry's prefill spread
    weighty = np.flatnonzero(p1 > 1e-7)
    if weighty.size:
        spread_k = cluster_k.reshape(-1, lp.delta_k.shape[-1])  # one row per entry
        one_step = _LinearCdf(spread_k[weighty // mu_bar.shape[-1]], levels)
    # a congested spell: a request at TPOT x decodes beside n·x / t̄ sequences (Little's law
    # with its neighbours as slow), each adding the decode step's slope (its secant from one
    # sequence). Least outstanding evens the replicas' outstanding requests, so a replica's
    # count rises with the fleet's congestion: 1/R of a replica's own under Poisson arrivals,
    # and as much more as a burst lands on every replica at once, the few steps' index of
    # dispersion (`count_cv2`) over R, at most all of it (at one replica the decoding count of
    # the simulator's slowest 5 % was 1.54x its mean, 1.04-1.12x at 12-24; 1/R alone put
    # chat 8B at CV 3 over three replicas 15 % under the simulator's TPOT p95, this 0 %)
    shared = np.minimum(lp.count_cv2 / lp.replicas, 1.0)
    rise = np.where(lp.n > 0, lp.t_dec - lp.t_idle, 0.0) * shared  # slope x n sequences
    shape = lp.n.shape

    def cdf(x: ArrayLike) -> F64:
        x = np.broadcast_to(np.asarray(x, dtype=np.float64), shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_dec = np.maximum(lp.t_dec + rise * (x / lp.t_bar - 1), lp.t_idle)
        y = (x - t_dec)[..., None] * o1  # the extra time a life of (O − 1)·x can absorb
        # two or more: their count and extra time over that life
        mu = np.maximum(per_s * o1 * x[..., None] + co, 1e-12)
        _, q1, q2 = _poisson_split(mu)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            n2 = np.where(q2 > 1e-12, (mu - q1) / q2, 2.0)
            n2sq = np.where(q2 > 1e-12, (mu + mu * mu - q1) / q2, 4.0)
            s2 = np.sqrt(n2 * d_var + np.maximum(n2sq - n2 * n2, 0.0) * d_mean**2)
            tail = normal_cdf((y - n2 * d_mean) / np.maximum(s2, 1e-12))
        one = np.zeros(y.shape)
        if weighty.size:
            one.reshape(-1)[weighty] = one_step(y.reshape(-1)[weighty][:, None])[:, 0]
        out = ((p0 * (y >= 0) + p1 * one + p2 * tail) * out_weights).sum(axis=-1)
        return np.where(lp.stable, out, 0.0)

    return cdf


def _own_burst_rest(lp: LoadPoint) -> F64:
    """The requests of a request's own burst that come after it to its replica, on average:
    arrivals of index of dispersion c² come as geometric batches (`operating_point.load_point`),
    each arrival followed by B = (c² − 1)/2 others of its batch on average (a renewal
    process's excess over its rate, c² − 1 over 2: Cox, Renewal Theory, 1962), whose prompts
    the replica prefills in the request's first decode steps beside it. Least outstanding
    deals a burst out as a round robin does (`life_cv2`), every R-th to this replica
    (`queueing.round_robin_share`). The fleet's c² − 1 is R times a replica's few-step
    `count_cv2` − 1 (load_point's random split)."""
    r = np.maximum(lp.replicas, 1.0)
    return round_robin_share(0.5 * np.maximum(lp.count_cv2 - 1.0, 0.0) * r, r)


def _poisson_split(mu: F64) -> tuple[F64, F64, F64]:
    """P(N = 0), P(N = 1) and P(N ≥ 2) for a Poisson count of mean `mu`."""
    p0 = np.exp(-mu)
    p1 = mu * p0
    return p0, p1, np.maximum(1 - p0 - p1, 0.0)
