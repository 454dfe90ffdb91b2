"""Sizing: the analytic latency percentiles of a replica set under load, and the hand method.

A replica runs iteration-level continuous batching (`perf.schedule.mixed_step` is the step).
At a per-replica arrival rate λ it settles at an operating point (`load_point`):

- `n` sequences decoding on average (Little: n = λ · (O − 1) · t̄), `t_dec` the pure decode
  step of a batch of n + 1 (a sequence sees itself and the others in flight);
- each arrival's prompt of I tokens is prefilled in ⌈I / (chunk − n)⌉ mixed steps taking
  `tp(I)` in all, beside the prompts that arrived with it (groups of mean size g);
- the mean step t̄ = 1 / (λ · E[chunks] / g + (1 − f) / t_dec), f the share of time in
  mixed steps; n solved by regula falsi (then capped at B − 1).

TTFT = wait for a batch slot (a G/G/c queue of all replicas' slots, Allen–Cunneen) + the rest
of the step in flight when the request arrives (uniform over a decode step, or over the
prefill in flight — a length-biased pick among the prompts' prefills — chosen by the share of
time in each) + its own prefill, after the prompts that arrived
before it in that step (first come, first served). Bursty arrivals come to a replica in
geometric batches (the balancer's split of the fleet's bursts): the batch ahead of a request,
the batch behind it that fits in its last step, and the backlog of earlier batches' prefills
(an M^X/G/1 wait, folded into the slot wait's tail). TPOT of a request with O
tokens ≤ x exactly when the extra time of the prefills sharing its O − 1 steps over a life of
(O − 1)·x fits in (O − 1)·(x − t_dec): a compound Poisson sum over the life the percentile
implies (its dispersion the balancer's over a life), with the decode step of a congested spell
(more sequences beside a slower request, as much of it as the fleet shares). Percentiles
come from these distributions over a quantile grid of the request lengths
(`workload.QUANTILE_LEVELS`), not from a worst case; fleetplan/docs/sizing.md derives each term
and checks it against the simulator. All functions take numpy arrays and broadcast; only
numpy is needed.

The package: `operating_point` (a replica's operating point, `load_point`), `percentiles` (the
TTFT and TPOT distributions there) and `throughput` (replicas for a throughput, the hand
method).
"""

from fleetplan.sizing.operating_point import (
    CO_ARRIVALS,
    F64,
    LoadPoint,
    StepFn,
    load_point,
)
from fleetplan.sizing.percentiles import (
    tpot_cdf,
    tpot_distribution,
    ttft_cdf,
    ttft_distribution,
)
from fleetplan.sizing.throughput import hand_method_gpus, replicas_for_throughput

__all__ = [
    "CO_ARRIVALS",
    "F64",
    "LoadPoint",
    "StepFn",
    "hand_method_gpus",
    "load_point",
    "replicas_for_throughput",
    "tpot_cdf",
    "tpot_distribution",
    "ttft_cdf",
    "ttft_distribution",
]
