"""The sizing's decode context (`Workload.ctx_mean`) is the mean context of the sequences
decoding at a random moment: every sequence is there for as many steps as it has output
tokens, so long outputs weigh more — checked by sampling requests from the same length grid
and averaging their context over every decode step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetplan.plan.search import _workload
from fleetplan.plan.verify import sample_lengths
from fleetplan.scenario import parse_scenario


def test_decode_context_is_the_step_weighted_mean():
    spec = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "traffic": {"avg_qps": 10, "peak_qps": 20},
            "input_tokens": {"mean": 900, "p50": 600, "p95": 2800, "p99": 5000},
            "output_tokens": {"mean": 300, "p50": 150, "p95": 1200, "p99": 2000},
            "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
        }
    )
    work = _workload(spec, Path("."))
    rng = np.random.default_rng(7)
    n = 400_000
    i = sample_lengths(work.input, n, rng, 1 << 20).astype(np.float64)
    o = sample_lengths(work.output, n, rng, 1 << 20).astype(np.float64)
    # a request decodes O steps at contexts I + 1 ... I + O
    per_step = (i * o + o * (o + 1) / 2).sum() / o.sum()
    assert work.ctx_mean == pytest.approx(per_step, rel=0.02)
    # the unweighted I + O / 2 misses it by more than the tolerance here
    assert abs(i.mean() + o.mean() / 2 - per_step) > 0.05 * per_step
