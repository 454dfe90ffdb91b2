"""Heterogeneous fleets: the cheapest mix of GPU types for a mix of request classes (MILP).

Variables: z_g, integer instances of deployment type g (bought whole); x_gc, integer replicas
of g serving class c alone, sum_c x_gc at most `replicas_per_instance_g` x z_g; y_gc in [0, 1],
the share of class c's traffic that type g serves. Minimize sum_g instance_cost_g * z_g
subject to sum_g y_gc = 1 for every class, Q_c * y_gc / cap_gc <= x_gc (cap_gc: the request
rate one replica of g sustains for class c alone at the utilization target: a class is sized
on replicas of its own, routed to them) and sum x_gc >= min_replicas (the availability floor
is a constraint of the program, not added afterwards). Solved with scipy.optimize.milp (HiGHS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fleetplan.errors import UnsupportedError


@dataclass(frozen=True)
class MixResult:
    replicas: dict[str, int]  # type label -> replicas
    shares: dict[str, dict[str, float]]  # class -> type label -> share of its traffic
    usd_per_month: float
    best_single_label: str
    best_single_replicas: int
    best_single_usd_per_month: float
    instances: dict[str, int] | None = None  # type label -> whole instances bought
    # the baseline the saving is measured against (the cheaper of the best single type and
    # the plan's own recommendation, so a report never claims savings against a worse one)
    baseline_label: str = ""
    baseline_usd_per_month: float | None = None
    # the cheapest mix the program found, when the single-type recommendation beat it and was
    # kept (then `replicas`, `shares` and `usd_per_month` are the recommendation's)
    best_mix_usd_per_month: float | None = None
    # class -> type label -> replicas of that type serving the class alone (what a router
    # sends each class to); empty where the recommendation, one pool, was kept
    class_replicas: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def recommendation_kept(self) -> bool:
        return self.best_mix_usd_per_month is not None

    @property
    def baseline_usd(self) -> float:
        if self.baseline_usd_per_month is None:
            return self.best_single_usd_per_month
        return self.baseline_usd_per_month

    @property
    def saving_usd_per_month(self) -> float:
        return self.baseline_usd - self.usd_per_month

    @property
    def saving_fraction(self) -> float:
        if self.baseline_usd <= 0:
            return 0.0
        return self.saving_usd_per_month / self.baseline_usd


def cheapest_mix(
    labels: list[str],
    instance_usd_per_month: list[float],
    classes: list[str],
    class_req_s: list[float],
    capacity_req_s: np.ndarray,  # (types, classes) usable req/s per replica; 0 = cannot serve
    min_replicas: int = 0,
    replicas_per_instance: list[int] | None = None,
) -> MixResult:
    from fleetplan.errors import require_extra

    opt = require_extra("scipy.optimize", "solver", "the fleet-mix integer program (classes)")
    Bounds, LinearConstraint, milp = opt.Bounds, opt.LinearConstraint, opt.milp

    cap = np.asarray(capacity_req_s, dtype=float)
    n_t, n_c = cap.shape
    q = np.asarray(class_req_s, dtype=float)
    cost = np.asarray(instance_usd_per_month, dtype=float)
    per = np.asarray(replicas_per_instance or [1] * n_t, dtype=float)
    # variables: [z_0..z_{T-1}, x_00..x_{T-1,C-1}, y_00..y_{T-1,C-1}] (x, y row-major by type)
    # x_gc: replicas of type g serving class c alone. Each class's capacity cap_gc was sized
    # with that class alone on the replicas (its own latency); replicas shared by classes run
    # their prompts together, which that sizing does not hold for (long prompts delay short
    # ones: the whole-mix search sizes that), so each class gets replicas of its own.
    n_tc = n_t * n_c
    n_var = n_t + 2 * n_tc
    x0, y0 = n_t, n_t + n_tc
    c = np.concatenate([cost, np.zeros(2 * n_tc)])
    rows, lo, hi = [], [], []
    for j in range(n_c):  # every class fully served
        row = np.zeros(n_var)
        row[y0 + np.arange(n_t) * n_c + j] = 1.0
        rows.append(row)
        lo.append(1.0)
        hi.append(1.0)
    for i in range(n_t):
        for j in range(n_c):  # a class's load within the replicas of its own on a type
            if cap[i, j] > 0:
                row = np.zeros(n_var)
                row[y0 + i * n_c + j] = q[j] / cap[i, j]
                row[x0 + i * n_c + j] = -1.0
                rows.append(row)
                lo.append(-np.inf)
                hi.append(0.0)
        row = np.zeros(n_var)  # replicas within the instances bought
        row[x0 + i * n_c : x0 + (i + 1) * n_c] = 1.0
        row[i] = -per[i]
        rows.append(row)
        lo.append(-np.inf)
        hi.append(0.0)
    row = np.zeros(n_var)  # availability floor
    row[x0:y0] = 1.0
    rows.append(row)
    lo.append(float(min_replicas))
    hi.append(np.inf)
    ub = np.concatenate([np.full(n_t + n_tc, np.inf), np.ones(n_tc)])
    for i in range(n_t):  # a type that cannot serve a class gets no share of it
        for j in range(n_c):
            if cap[i, j] <= 0:
                ub[x0 + i * n_c + j] = ub[y0 + i * n_c + j] = 0.0
    integrality = np.concatenate([np.ones(n_t + n_tc), np.zeros(n_tc)])
    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=integrality,
        bounds=Bounds(np.zeros(n_var), ub),
    )
    if not res.success:
        raise UnsupportedError(f"no GPU mix serves every request class ({res.message})")
    z = np.round(res.x[:n_t]).astype(int)
    xc = np.round(res.x[x0:y0]).reshape(n_t, n_c).astype(int)
    x = xc.sum(axis=1)
    y = res.x[y0:].reshape(n_t, n_c)
    # best single type: all classes on one type, each on replicas of its own, whole instances
    singles = []
    for i in range(n_t):
        if np.all(cap[i] > 0):
            own = sum(math.ceil(float(q[j] / cap[i, j]) - 1e-9) for j in range(n_c))
            need = max(own, min_replicas, 1)
            inst = math.ceil(need / per[i] - 1e-9)
            singles.append((inst * cost[i], i, need))
    if not singles:
        raise UnsupportedError("no single GPU type serves every request class")
    single_usd, si, sn = min(singles)
    return MixResult(
        replicas={labels[i]: int(x[i]) for i in range(n_t) if x[i] > 0},
        shares={
            classes[j]: {labels[i]: float(y[i, j]) for i in range(n_t) if y[i, j] > 1e-6}
            for j in range(n_c)
        },
        usd_per_month=float(np.dot(z, cost)),
        best_single_label=labels[si],
        class_replicas={
            classes[j]: {labels[i]: int(xc[i, j]) for i in range(n_t) if xc[i, j] > 0}
            for j in range(n_c)
        },
        best_single_replicas=int(sn),
        best_single_usd_per_month=float(single_usd),
        instances={labels[i]: int(z[i]) for i in range(n_t) if z[i] > 0},
        baseline_label=labels[si],
        baseline_usd_per_month=float(single_usd),
    )
