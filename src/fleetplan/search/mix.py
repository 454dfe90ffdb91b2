"""Heterogeneous fleets: the cheapest mix of GPU types for a mix of request classes (MILP).

Variables: x_g, integer replicas of deployment type g; y_gc ∈ [0, 1], the share of class c's
traffic that type g serves. Minimize Σ_g cost_g · x_g subject to Σ_g y_gc = 1 for every class
and Σ_c (Q_c · y_gc / cap_gc) ≤ x_g for every type, where cap_gc is the request rate one
replica of g sustains for class c at the utilization target. Solved with scipy.optimize.milp
(HiGHS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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

    @property
    def saving_usd_per_month(self) -> float:
        return self.best_single_usd_per_month - self.usd_per_month

    @property
    def saving_fraction(self) -> float:
        if self.best_single_usd_per_month <= 0:
            return 0.0
        return self.saving_usd_per_month / self.best_single_usd_per_month


def cheapest_mix(
    labels: list[str],
    replica_usd_per_month: list[float],
    classes: list[str],
    class_req_s: list[float],
    capacity_req_s: np.ndarray,  # (types, classes) usable req/s per replica; 0 = cannot serve
    min_replicas: int = 0,
) -> MixResult:
    from scipy.optimize import Bounds, LinearConstraint, milp

    cap = np.asarray(capacity_req_s, dtype=float)
    n_t, n_c = cap.shape
    q = np.asarray(class_req_s, dtype=float)
    cost = np.asarray(replica_usd_per_month, dtype=float)
    # variable vector: [x_0..x_{T-1}, y_00..y_{T-1,C-1}] (y row-major by type)
    n_var = n_t + n_t * n_c
    c = np.concatenate([cost, np.zeros(n_t * n_c)])
    rows, lo, hi = [], [], []
    for j in range(n_c):  # every class fully served
        row = np.zeros(n_var)
        row[n_t + np.arange(n_t) * n_c + j] = 1.0
        rows.append(row)
        lo.append(1.0)
        hi.append(1.0)
    for i in range(n_t):  # load on a type within its replicas
        row = np.zeros(n_var)
        row[i] = -1.0
        for j in range(n_c):
            row[n_t + i * n_c + j] = q[j] / cap[i, j] if cap[i, j] > 0 else 0.0
        rows.append(row)
        lo.append(-np.inf)
        hi.append(0.0)
    ub = np.concatenate([np.full(n_t, np.inf), np.ones(n_t * n_c)])
    # a type that cannot serve a class gets no share of it
    for i in range(n_t):
        for j in range(n_c):
            if cap[i, j] <= 0:
                ub[n_t + i * n_c + j] = 0.0
    integrality = np.concatenate([np.ones(n_t), np.zeros(n_t * n_c)])
    res = milp(
        c,
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=integrality,
        bounds=Bounds(np.zeros(n_var), ub),
    )
    if not res.success:
        raise UnsupportedError(f"no GPU mix serves every request class ({res.message})")
    x = np.round(res.x[:n_t]).astype(int)
    total_replicas = int(x.sum())
    if total_replicas < min_replicas:  # availability floor: add to the cheapest used type
        used = [i for i in range(n_t) if x[i] > 0] or list(range(n_t))
        k = min(used, key=lambda i: cost[i])
        x[k] += min_replicas - total_replicas
    y = res.x[n_t:].reshape(n_t, n_c)
    # best single type: all classes on one type
    singles = []
    for i in range(n_t):
        if np.all(cap[i] > 0):
            need = max(math.ceil(float(np.sum(q / cap[i])) - 1e-9), min_replicas, 1)
            singles.append((need * cost[i], i, need))
    if not singles:
        raise UnsupportedError("no single GPU type serves every request class")
    single_usd, si, sn = min(singles)
    return MixResult(
        replicas={labels[i]: int(x[i]) for i in range(n_t) if x[i] > 0},
        shares={
            classes[j]: {labels[i]: float(y[i, j]) for i in range(n_t) if y[i, j] > 1e-6}
            for j in range(n_c)
        },
        usd_per_month=float(np.dot(x, cost)),
        best_single_label=labels[si],
        best_single_replicas=int(sn),
        best_single_usd_per_month=float(single_usd),
    )
