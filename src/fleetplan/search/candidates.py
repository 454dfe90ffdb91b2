"""Enumerate and evaluate candidate deployments as arrays.

A candidate is (GPU, precision, tensor parallel degree, engine, max batch, offer). For each
(GPU, precision, tp, engine) setup the step model is evaluated at every batch size of a grid in
one array call per group of stackable setups; sizing (replicas at peak with headroom and
queueing) and cost then broadcast over batch sizes and offers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from fleetplan.catalog.specs import Offer
from fleetplan.perf.memory import Fit, kv_pool_tokens, kv_window_pool_tokens, swa_pool_ratio
from fleetplan.perf.roofline import Setup
from fleetplan.perf.schedule import chunked_prefill_s, steady_mixed_step
from fleetplan.search.instance_ties import fewest_instances, tie_reach
from fleetplan.search.latency import LatencyModel
from fleetplan.search.packing import OfferPacking
from fleetplan.search.stack import distinct_rows, stack, take
from fleetplan.sizing import replicas_for_throughput
from fleetplan.units import HOURS_PER_MONTH, SECONDS_PER_HOUR
from fleetplan.workload import Z95, Arrivals, Lengths, Slo, SloTarget, Traffic

BATCH_GRID = np.array([1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512], float)


# shares of an SLO limit (`slo_share`) this close (relative) are alike: the lowest TTFT p95
# breaks the tie between equal-cost batch sizes
SHARE_BAND = 0.01


@dataclass(frozen=True)
class Rejection:
    gpu: str
    precision: str
    tp: int
    engine: str
    reason: str


@dataclass(frozen=True)
class Workload:
    input: Lengths
    output: Lengths
    traffic: Traffic
    slo: Slo
    headroom: float
    arrivals: Arrivals = field(default_factory=Arrivals)  # around the peak (Poisson)

    @property
    def ctx_mean(self) -> float:
        """Mean context of the sequences decoding at a random moment: each is at I + O/2 on
        average over its life and is there for O steps, so longer outputs weigh more —
        E[I] + E[O²] / (2 E[O])."""
        o = self.output
        return self.input.mean + (o.mean**2 + o.std**2) / (2 * o.mean)

    @property
    def ctx_std(self) -> float:
        return math.hypot(self.input.std, self.output.std / 2)

    @property
    def max_len(self) -> float:
        return self.input.p99 + self.output.p99


@dataclass(frozen=True)
class SetupEval:
    """Per-setup arrays over BATCH_GRID (after sizing), with the setup and its fit."""

    setup: Setup
    fit: Fit
    batch: np.ndarray
    kv_ok: np.ndarray
    tpot_p95_s: np.ndarray
    ttft_p95_s: np.ndarray
    prefill_p95_s: np.ndarray
    replica_req_s: np.ndarray
    replicas: np.ndarray
    utilization: np.ndarray  # at peak
    # KV and every latency SLO met (False too where more instances of every offer than the
    # setup's best: not evaluated, never chosen)
    meets: np.ndarray
    # the tightest SLO target's predicted share of its limit (`slo_share`): equal-cost batch
    # sizes go to the lowest
    slo_share: np.ndarray
    slo_s: dict[str, np.ndarray]  # predicted value of each SLO target (by field name), s


def evaluate(
    pairs: list[tuple[Setup, Fit]], work: Workload, offers: dict[str, list[Offer]]
) -> list[SetupEval]:
    """Evaluate all setups at every grid batch size, stacked into one set of arrays; the
    percentiles are computed where `cost_candidates` reads them for `offers`."""
    return evaluate_many([(pairs, work)], offers)[0]


def evaluate_many(
    jobs: list[tuple[list[tuple[Setup, Fit]], Workload]], offers: dict[str, list[Offer]]
) -> list[list[SetupEval]]:
    """`evaluate` for several (setups, workload) jobs whose workloads differ only in their
    traffic (the horizons), stacked into one set of arrays."""
    pairs = [p for ps, _ in jobs for p in ps]
    if not pairs:
        return [[] for _ in jobs]
    peak = np.array([w.traffic.peak_qps for ps, w in jobs for _ in ps], float)[:, None]
    chunk = np.array([s.engine.max_num_batched_tokens for s, _ in pairs], float)[:, None]
    stacked = stack([s for s, _ in pairs])
    packing = OfferPacking(offers)
    sizes = [packing.sizes(s.gpu.id, s.tp) for s, _ in pairs]
    fits = [f for _, f in pairs]
    # each kind of row evaluated once (an entry's figures depend on its own row alone):
    # what the formulas read of the setup, the token budget, KV capacity, offers and peak
    kinds = {z: i for i, z in enumerate({frozenset(z) for z in sizes})}
    kv = np.array([f.kv_capacity_tokens for f in fits], float)[:, None]
    offer_kind = np.array([kinds[frozenset(z)] for z in sizes], float)[:, None]
    first, kind = distinct_rows(stacked, chunk, kv, offer_kind, peak)
    *evals, slo_s = _evaluate_all(
        take(stacked, first),
        chunk[first],
        [fits[i] for i in first],
        [sizes[i] for i in first],
        jobs[0][1],
        peak[first],
    )
    evals = [a[kind] for a in evals]
    slo_s = {k: v[kind] for k, v in slo_s.items()}
    out: list[list[SetupEval]] = []
    j = 0
    for ps, _ in jobs:
        out.append([])
        for s, f in ps:
            row = {k: v[j] for k, v in slo_s.items()}
            out[-1].append(SetupEval(s, f, *(a[j] for a in evals), slo_s=row))
            j += 1
    return out


def throughput_replicas(
    s: Setup, fits: list[Fit], w: Workload, peak: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per stacked setup row (at its `peak`, (n, 1)) and grid batch size: the batch, whether
    the batch's KV fits, requests/s per replica at the full-batch step and the replicas for
    that throughput at the headroom — the least the latency SLOs can need."""
    b = np.broadcast_to(BATCH_GRID[None, :], (len(fits), BATCH_GRID.size))
    ctx, ctx_sd = w.ctx_mean, w.ctx_std
    # KV in the pool's tokens (perf.memory): sliding-window layers hold at most the window
    ratio = swa_pool_ratio(s.model, s.engine)
    cap = np.array([kv_pool_tokens(s.model, f, ratio) for f in fits], float)[:, None]
    seq = ctx + float(kv_window_pool_tokens(s.model, ctx, ratio))
    kv_ok = b * seq + Z95 * np.sqrt(b) * ctx_sd <= cap
    # capacity: the steady full-batch step; headroom is measured against it
    t_full = steady_mixed_step(s, b, w.input.mean, w.output.mean, ctx).total_s
    per_replica = b / (w.output.mean * t_full)
    replicas = replicas_for_throughput(peak, per_replica, w.headroom, w.slo.min_replicas)
    return b, kv_ok, per_replica, replicas


def _evaluate_all(
    s: Setup,
    chunk: np.ndarray,
    fits: list[Fit],
    sizes: list[set[int]],
    w: Workload,
    peak: np.ndarray,
) -> tuple:
    """The arrays of `SetupEval` for stacked setups, each row at its own `peak` (n, 1)."""
    ctx = w.ctx_mean
    b, kv_ok, per_replica, replicas = throughput_replicas(s, fits, w, peak)
    model = LatencyModel(s, w, b, chunk, peak)
    replicas, found = model.fewest_replicas(replicas, kv_ok, tie_reach(sizes))
    # percentiles where they are read: at the entries with the fewest whole instances of some
    # offer (the tie-break between them reads every SLO target) and, in setups meeting the
    # SLOs nowhere, at every entry that fits (the why-not)
    names = {t.name: (t.metric, t.percentile) for t in w.slo.targets}
    names.setdefault("ttft_p95_ms", ("ttft", 95.0))
    names.setdefault("tpot_p95_ms", ("tpot", 95.0))
    tied = fewest_instances(replicas, found, sizes)
    why_not = kv_ok & ~found.any(axis=1, keepdims=True)
    values = model.values(replicas, tied.any(axis=0) | why_not, names)
    tpot, ttft = values["tpot_p95_ms"], values["ttft_p95_ms"]
    slo_s = {t.name: values[t.name] for t in w.slo.targets}
    share = slo_share(slo_s, w.slo.targets, tpot)
    util = peak / (replicas * per_replica)
    prefill_s = chunked_prefill_s(s, w.input.p95, 0.0, ctx, chunk) + np.zeros_like(b)
    return (b, kv_ok, tpot, ttft, prefill_s, per_replica, replicas, util, found, share, slo_s)


def slo_share(
    slo_s: dict[str, np.ndarray], targets: list[SloTarget], tpot_s: np.ndarray
) -> np.ndarray:
    """Per entry, the tightest SLO target's predicted share of its limit (the largest of
    value / limit): where several batch sizes need the same instances, the lowest share is
    the one with the most room on every target. A smaller batch limit often shaves a little
    off TPOT while requests queue for its slots: an 8B model at 0.5 req/s on one A100, limited
    to 4 sequences, decodes 1 % faster than at 8 and waits 3.3x longer for its first token at
    p95 (the simulator: 1.14 s against 0.34 s). Without targets, TPOT p95 itself."""
    if not targets:
        return tpot_s
    return np.max([slo_s[t.name] / (t.ms * 1e-3) for t in targets], axis=0)


@dataclass(frozen=True)
class Candidate:
    """One costed deployment: a setup at a batch size, bought as whole instances of one offer.

    `gpus_total` is the GPUs the replicas use (replicas x tp); `instances` x the offer's
    instance size is what is billed (`gpus_billed`)."""

    gpu: str
    precision: str
    tp: int
    engine: str
    max_batch: int
    replicas: int
    gpus_total: int
    offer: Offer
    usd_per_month: float
    usd_per_million_tokens: float
    ttft_p95_ms: float
    tpot_p95_ms: float
    prefill_p95_ms: float
    utilization_at_peak: float
    replica_req_per_s: float
    kv_capacity_tokens: int
    meets_slo: bool
    within_budget: bool
    notes: tuple[str, ...]
    instances: int = 0
    instance_gpus: int = 1  # GPUs in each instance bought
    usd_per_instance_hour: float = 0.0
    slo_ms: tuple[tuple[str, float], ...] = ()  # predicted value of each SLO target

    @property
    def ok(self) -> bool:
        return self.meets_slo and self.within_budget

    @property
    def gpus_billed(self) -> int:
        return self.instances * self.instance_gpus

    @property
    def replicas_per_instance(self) -> int:
        return max(self.instance_gpus // self.tp, 1)


def cost_candidates(
    evals: list[SetupEval],
    offers: dict[str, list[Offer]],
    work: Workload,
    max_usd_per_month: float | None,
) -> tuple[list[Candidate], int]:
    """Per setup and offer: the batch size needing the fewest whole instances (ties: the most
    room on every SLO target, `slo_share`), costed as instances x instance price. Returns the
    candidates (setup by setup, each setup's offers in order) and how many (setup, batch,
    offer) triples were evaluated.

    As arrays: the setups on one GPU and tp share their offers and are costed as one
    (setup, offer, batch) array; every figure of the candidates is then gathered at once."""
    packing = OfferPacking(offers)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, ev in enumerate(evals):
        groups.setdefault((ev.setup.gpu.id, ev.setup.tp), []).append(i)
    evaluated = 0
    # per (setup, offer): setup, offer position, batch column, $/month, instances, GPUs per
    # instance, $/instance-hour, the offer
    picked: list[tuple[np.ndarray, ...]] = []
    for (gpu, tp), rows in groups.items():
        gpu_offers, size, per, usd_hour = packing(gpu, tp)
        evaluated += sum(evals[i].batch.size for i in rows) * len(gpu_offers)
        if not gpu_offers:
            continue
        replicas = np.array([evals[i].replicas for i in rows])
        # (setup, offer, batch): whole instances, and their monthly cost
        inst = np.ceil(replicas[:, None, :] / per[None, :, None] - 1e-9)
        monthly = inst * usd_hour[None, :, None] * HOURS_PER_MONTH
        # best batch per offer: meeting SLOs first, then cheapest, then the most room on
        # every SLO target (`slo_share`)
        meets = np.array([evals[i].meets for i in rows])
        primary = monthly + np.where(meets, 0.0, 1e18)[:, None, :]
        tied = primary <= primary.min(axis=2, keepdims=True) * (1 + 1e-12)
        share = np.where(tied, np.array([evals[i].slo_share for i in rows])[:, None, :], np.inf)
        # between shares within SHARE_BAND of the lowest (the binding target alike, to far
        # less than the model's error), the lowest TTFT p95: with no SLO but TPOT's, a batch
        # limit of 4 decoding 0.00002 % faster than 8 was kept at 9x the TTFT, its requests
        # queued for its slots
        near = tied & (share <= share.min(axis=2, keepdims=True) * (1 + SHARE_BAND))
        ttft = np.array([evals[i].ttft_p95_s for i in rows])[:, None, :]
        ks = np.argmin(np.where(near, ttft, np.inf), axis=2)
        g, o = np.indices(ks.shape)
        held = np.empty(len(gpu_offers), dtype=object)
        for j, offer in enumerate(gpu_offers):
            held[j] = offer
        at = (g, o, ks)
        picked.append(
            (np.array(rows)[g], o, ks, monthly[at], inst[at], size[o], usd_hour[o], held[o])
        )
    if not picked:
        return [], evaluated
    flat = [np.concatenate([x[n].ravel() for x in picked]) for n in range(len(picked[0]))]
    order = np.lexsort((flat.pop(1), flat[0]))  # setup by setup, offers in order
    return _candidates(evals, *(a[order] for a in flat), work, max_usd_per_month), evaluated


def _candidates(
    evals: list[SetupEval],
    si: np.ndarray,
    k: np.ndarray,
    usd: np.ndarray,
    inst: np.ndarray,
    size: np.ndarray,
    usd_hour: np.ndarray,
    bought: np.ndarray,
    work: Workload,
    max_usd_per_month: float | None,
) -> list[Candidate]:
    """The candidates of setups `si` at batch columns `k`, bought as `inst` instances (of
    `size` GPUs at `usd_hour`) of the offers `bought` for `usd` $/month: each figure gathered
    as one array."""
    tokens_per_month = work.traffic.avg_qps * SECONDS_PER_HOUR * HOURS_PER_MONTH
    tokens_per_month *= work.input.mean + work.output.mean

    def at(values: list[np.ndarray]) -> np.ndarray:  # a per-(setup, batch) figure
        return np.array(values)[si, k]

    def each(values: list) -> list:  # a per-setup value for every candidate
        return [values[i] for i in si.tolist()]

    setups = [ev.setup for ev in evals]
    tp = np.array([s.tp for s in setups])[si]
    replicas = at([ev.replicas for ev in evals])
    slo = [
        zip(repeat(name), (at([ev.slo_s[name] for ev in evals]) * 1e3).tolist())
        for name in evals[0].slo_s
    ]
    within = np.ones(usd.shape, bool) if max_usd_per_month is None else usd <= max_usd_per_month
    return list(
        map(
            Candidate,
            each([s.gpu.id for s in setups]),
            each([s.precision.id for s in setups]),
            tp.tolist(),
            each([s.engine.id for s in setups]),
            at([ev.batch for ev in evals]).astype(np.int64).tolist(),
            replicas.tolist(),
            (replicas * tp).tolist(),
            bought.tolist(),
            usd.tolist(),
            (usd / tokens_per_month * 1e6).tolist(),
            (at([ev.ttft_p95_s for ev in evals]) * 1e3).tolist(),
            (at([ev.tpot_p95_s for ev in evals]) * 1e3).tolist(),
            (at([ev.prefill_p95_s for ev in evals]) * 1e3).tolist(),
            at([ev.utilization for ev in evals]).tolist(),
            at([ev.replica_req_s for ev in evals]).tolist(),
            each([ev.fit.kv_capacity_tokens for ev in evals]),
            at([ev.meets for ev in evals]).tolist(),
            within.tolist(),
            each([s.notes for s in setups]),
            inst.astype(np.int64).tolist(),
            size.astype(np.int64).tolist(),
            usd_hour.tolist(),
            map(tuple, zip(*slo, strict=True)) if slo else repeat((), si.size),
        )
    )


def miss_reason(ev: SetupEval, slo: Slo) -> str:
    """Why no batch size of this setup meets the SLOs (for the 'why not' list)."""
    if not ev.kv_ok.any():
        return "does not fit: KV cache too small for one batch of the request mix"
    ok = ev.kv_ok
    reasons = []
    if slo.tpot_p95_ms is not None:
        best = float(np.min(np.where(ok, ev.tpot_p95_s, np.inf)) * 1e3)
        if best > slo.tpot_p95_ms:
            reasons.append(f"misses TPOT: p95 {best:.1f} ms at best > SLO {slo.tpot_p95_ms:g} ms")
    if slo.ttft_p95_ms is not None:
        best = float(np.min(np.where(ok, ev.ttft_p95_s, np.inf)) * 1e3)
        if best > slo.ttft_p95_ms:
            pre = float(np.min(ev.prefill_p95_s) * 1e3)
            reasons.append(
                f"misses TTFT: p95 {best:.0f} ms at best > SLO {slo.ttft_p95_ms:g} ms "
                f"(prefill of the p95 prompt alone {pre:.0f} ms)"
            )
    if not reasons:
        reasons.append("misses the SLOs at every batch size (TPOT and TTFT trade off)")
    return "; ".join(reasons)
