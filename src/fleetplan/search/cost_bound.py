"""The cheapest deployment of a set of setups without evaluating every setup: each setup's
least possible cost bounds what its candidates can cost, so only the setups whose bound
reaches the best candidate found can tie or beat it (the capacity horizons use this)."""

from __future__ import annotations

import numpy as np

from fleetplan.catalog.specs import Offer
from fleetplan.perf.memory import Fit
from fleetplan.perf.roofline import Setup
from fleetplan.search.candidates import (
    Candidate,
    Workload,
    cost_candidates,
    evaluate_many,
    throughput_replicas,
)
from fleetplan.search.packing import OfferPacking
from fleetplan.search.stack import stack
from fleetplan.units import HOURS_PER_MONTH

Job = tuple[list[tuple[Setup, Fit]], Workload]


def least_usd_per_month(jobs: list[Job], offers: dict[str, list[Offer]]) -> list[np.ndarray]:
    """Per job, per setup: the least $/month any candidate of the setup can cost — the
    replicas for throughput at the job's peak (the latency search starts there and only
    grows), in whole instances of each offer, at the batch sizes whose KV fits; the formula
    `cost_candidates` prices with, so a candidate never costs less (inf: no offer)."""
    pairs = [p for ps, _ in jobs for p in ps]
    if not pairs:
        return [np.zeros(0) for _ in jobs]
    peak = np.array([w.traffic.peak_qps for ps, w in jobs for _ in ps], float)[:, None]
    fits = [f for _, f in pairs]
    _, kv_ok, _, replicas = throughput_replicas(
        stack([s for s, _ in pairs]), fits, jobs[0][1], peak
    )
    packing = OfferPacking(offers)
    least = np.full(len(pairs), np.inf)
    groups: dict[tuple[str, int], list[int]] = {}  # the setups of each (GPU, tp): one offer list
    for i, (s, _) in enumerate(pairs):
        groups.setdefault((s.gpu.id, s.tp), []).append(i)
    for (gpu, tp), rows in groups.items():
        usable, _, per, usd_hour = packing(gpu, tp)
        if usable:
            inst = np.ceil(replicas[None, rows] / per[:, None, None] - 1e-9)
            monthly = inst * usd_hour[:, None, None] * HOURS_PER_MONTH
            least[rows] = np.where(kv_ok[None, rows], monthly, np.inf).min(axis=(0, 2))
    cut = np.cumsum([len(ps) for ps, _ in jobs])[:-1]
    return np.split(least, cut)


def cheapest_candidates(
    jobs: list[Job],
    offers: dict[str, list[Offer]],
    max_usd_per_month: float | None,
    bound_usd: list[float],
) -> list[list[Candidate]]:
    """Per job, the candidates meeting every SLO and the budget of the setups that can cost
    no more than the cheapest of them and than `bound_usd` (a best found before), in the
    order `cost_candidates` gives for all the job's setups: ranked, they give the same first
    candidate as every setup evaluated (the others cost more than it).

    The setups at the least bound go first (each is needed whatever the best turns out to
    be); then those whose bound reaches the best found."""
    least = least_usd_per_month(jobs, offers)
    bound = list(bound_usd)
    got: list[dict[int, list[Candidate]]] = [{} for _ in jobs]

    def run(rows: list[list[int]]) -> None:
        sub = [([ps[i] for i in r], w) for r, (ps, w) in zip(rows, jobs, strict=True)]
        for j, (r, (_, w), evals) in enumerate(
            zip(rows, sub, evaluate_many(sub, offers), strict=True)
        ):
            for i, ev in zip(r, evals, strict=True):
                cands, _ = cost_candidates([ev], offers, w, max_usd_per_month)
                got[j][i] = [x for x in cands if x.ok]
                bound[j] = min([bound[j]] + [x.usd_per_month for x in got[j][i]])

    low = [lb.min(initial=np.inf) for lb in least]
    run(
        [
            np.flatnonzero((lb <= b) & (lb == m)).tolist()
            for lb, b, m in zip(least, bound, low, strict=True)
        ]
    )
    rest = [
        [i for i in np.flatnonzero(lb <= b).tolist() if i not in g]
        for lb, b, g in zip(least, bound, got, strict=True)
    ]
    if any(rest):
        run(rest)
    return [[x for i in sorted(g) for x in g[i]] for g in got]
