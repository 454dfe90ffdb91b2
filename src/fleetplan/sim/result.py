"""What `simulate` returns: latency statistics, throughput, goodput, samples over time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleetplan.sim.metrics import Recorder, Stats


@dataclass(frozen=True)
class SimResult:
    """Measured by discrete-event simulation (latencies in ms, rates per simulated second)."""

    requests: int
    completed: int
    duration_s: float  # first arrival to last completion, simulated
    ttft_ms: Stats
    tpot_ms: Stats
    itl_ms: Stats
    e2e_ms: Stats
    queue_ms: Stats
    req_per_s: float
    input_tok_per_s: float
    output_tok_per_s: float
    goodput: float  # share of requests meeting every SLO given (1.0 when none is given)
    goodput_req_per_s: float
    preemptions: int
    prefix_hit_tokens: int
    clipped: int
    mean_in_system: float  # time average of the periodic samples
    timeline: dict[str, list[float]]  # t_s, queue, running, in_system, kv_used
    windows: dict[str, list[float]]  # t_s (window start) and TTFT/E2E percentiles, ms
    config: dict[str, Any]
    wall_s: float
    events: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self, timeline: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requests": self.requests,
            "completed": self.completed,
            "duration_s": round(self.duration_s, 3),
            "ttft_ms": self.ttft_ms.as_dict(),
            "tpot_ms": self.tpot_ms.as_dict(),
            "itl_ms": self.itl_ms.as_dict(),
            "e2e_ms": self.e2e_ms.as_dict(),
            "queue_ms": self.queue_ms.as_dict(),
            "req_per_s": round(self.req_per_s, 4),
            "input_tok_per_s": round(self.input_tok_per_s, 2),
            "output_tok_per_s": round(self.output_tok_per_s, 2),
            "goodput": round(self.goodput, 6),
            "goodput_req_per_s": round(self.goodput_req_per_s, 4),
            "preemptions": self.preemptions,
            "prefix_hit_tokens": self.prefix_hit_tokens,
            "clipped_requests": self.clipped,
            "mean_in_system": round(self.mean_in_system, 4),
            "config": self.config,
            "events": self.events,
            "wall_s": round(self.wall_s, 3),
            "basis": "discrete-event simulation; step times from the analytic roofline model"
            if self.config.get("service") == "roofline"
            else "discrete-event simulation; exponential service times",
            "notes": list(self.notes),
        }
        if timeline:
            out["timeline"] = {k: [round(x, 6) for x in v] for k, v in self.timeline.items()}
            out["windows"] = {k: [round(x, 4) for x in v] for k, v in self.windows.items()}
        return out


def summarize(
    rec: Recorder,
    requests: int,
    clipped: int,
    cfg: dict[str, Any],
    notes: tuple[str, ...],
    events: int,
    wall_s: float,
) -> SimResult:
    """The result of a finished run (every request completed)."""
    rec.flush()
    if rec.completed < requests:  # the loop drains every request; anything else is a bug
        raise RuntimeError(
            f"simulation ended with {requests - rec.completed} of {requests} requests unfinished"
        )
    span = rec.last_finish_s - rec.first_arrival_s
    span = span if span > 0 else 1.0
    samples = np.asarray(rec.samples, dtype=np.float64).reshape(-1, 5)
    timeline = {
        "t_s": samples[:, 0].tolist(),
        "queue": samples[:, 1].tolist(),
        "running": samples[:, 2].tolist(),
        "in_system": samples[:, 3].tolist(),
        "kv_used": samples[:, 4].tolist(),
    }
    if clipped:
        notes = (*notes, f"{clipped} requests shortened to fit the context or KV cache")
    if not rec.ttft.stats_ms().exact:
        notes = (
            *notes,
            "percentiles from a log-bucket histogram (within 0.5 % of the exact values): "
            "the run has more than a million requests",
        )
    return SimResult(
        requests=requests,
        completed=rec.completed,
        duration_s=span,
        ttft_ms=rec.ttft.stats_ms(),
        tpot_ms=rec.tpot.stats_ms(),
        itl_ms=rec.itl.stats_ms(),
        e2e_ms=rec.e2e.stats_ms(),
        queue_ms=rec.queue.stats_ms(),
        req_per_s=requests / span,
        input_tok_per_s=rec.input_tokens / span,
        output_tok_per_s=rec.output_tokens / span,
        goodput=rec.good / requests,
        goodput_req_per_s=rec.good / span,
        preemptions=rec.preemptions,
        prefix_hit_tokens=rec.prefix_hit_tokens,
        clipped=clipped,
        mean_in_system=float(samples[:, 3].mean()) if samples.size else 0.0,
        timeline=timeline,
        windows=rec.windows(),
        config=cfg,
        wall_s=wall_s,
        events=events,
        notes=notes,
    )
