"""The percentiles read the operating points the replica search kept: they are the ones a fresh
model computes at the same replica counts."""

from __future__ import annotations

import numpy as np

from fleetplan.catalog import load_catalog, resolve_model
from fleetplan.plan.search import _workload, prepare
from fleetplan.scenario import parse_scenario
from fleetplan.search.candidates import BATCH_GRID
from fleetplan.search.latency import LatencyModel
from fleetplan.search.stack import stack

CAT = load_catalog()


def test_kept_points_give_the_percentiles_of_fresh_ones():
    spec = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "precisions": ["fp8", "bf16"],
            "traffic": {"avg_qps": 20, "peak_qps": 40},
            "input_tokens": {"mean": 1500, "p95": 5000},
            "output_tokens": {"mean": 300, "p95": 700},
            "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
            "constraints": {"gpus": ["h100-sxm", "l40s", "a10g"]},
        }
    )
    work = _workload(spec, ".")
    pairs = prepare(spec, resolve_model(CAT, spec.model), CAT, work).pairs
    n = len(pairs)
    batch = np.broadcast_to(BATCH_GRID[None, :], (n, BATCH_GRID.size))
    chunk = np.array([s.engine.max_num_batched_tokens for s, _ in pairs], float)[:, None]
    setups = stack([s for s, _ in pairs])
    model = LatencyModel(setups, work, batch, chunk)
    start = np.full(batch.shape, 2, dtype=np.int64)
    mask = np.ones(batch.shape, dtype=bool)
    replicas, found = model.fewest_replicas(start, mask)
    assert found.any() and (~found).any()
    names = {"ttft": ("ttft", 95.0), "tpot": ("tpot", 95.0), "e2e": ("e2e", 99.0)}
    kept = (model._kept_at == replicas) & mask
    assert kept[found].all()  # every answer's point was kept by the search
    got = model.values(replicas, mask, names)
    fresh = LatencyModel(setups, work, batch, chunk).values(replicas, mask, names)
    for k in names:
        np.testing.assert_allclose(got[k], fresh[k], rtol=1e-9)
        assert np.isfinite(got[k][found]).all()


def test_tpot_reads_only_the_fields_its_dedupe_compares():
    """`values` computes TPOT once per set of entries alike in `TPOT_READS`: the TPOT
    percentile must not change when every other field of the operating point does."""
    from dataclasses import replace

    from fleetplan.search.latency import TPOT_READS

    spec = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "traffic": {"avg_qps": 20, "peak_qps": 40},
            "input_tokens": {"mean": 1500, "p95": 5000},
            "output_tokens": {"mean": 300, "p95": 700},
            "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
            "constraints": {"gpus": ["h100-sxm", "l40s"]},
        }
    )
    work = _workload(spec, ".")
    pairs = prepare(spec, resolve_model(CAT, spec.model), CAT, work).pairs
    n = len(pairs)
    batch = np.broadcast_to(BATCH_GRID[None, :], (n, BATCH_GRID.size))
    chunk = np.array([s.engine.max_num_batched_tokens for s, _ in pairs], float)[:, None]
    model = LatencyModel(stack([s for s, _ in pairs]), work, batch, chunk)
    rows, cols = np.nonzero(np.ones(batch.shape, dtype=bool))
    sub = model.entries(rows, cols)
    lp = sub.point(np.full((rows.size, 1), 4.0))
    rng = np.random.default_rng(3)
    other = {
        k: rng.permutation(v.reshape(-1)).reshape(v.shape)
        for k, v in vars(lp).items()
        if isinstance(v, np.ndarray) and k not in TPOT_READS
    }
    assert other  # fields left out exist, and they differ after the shuffle
    for pct in (50.0, 95.0, 99.0):
        want = sub.value(lp, "tpot", pct)
        assert np.isfinite(want).any()
        np.testing.assert_array_equal(sub.value(replace(lp, **other), "tpot", pct), want)
