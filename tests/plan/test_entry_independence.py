"""An entry's latency percentiles depend on its own setup, batch and replicas alone, never on
the other entries evaluated in the same arrays: the search may then evaluate any subset of
entries (blocks, pruned rounds, one row per distinct setup) and read the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fleetplan.perf.roofline import setup
from fleetplan.plan.search import _workload, prepare
from fleetplan.queueing import renewals
from fleetplan.scenario import parse_scenario
from fleetplan.search.candidates import BATCH_GRID, _evaluate_all, evaluate
from fleetplan.search.latency import LatencyModel
from fleetplan.search.packing import OfferPacking
from fleetplan.search.stack import distinct_rows, stack
from fleetplan.sizing.percentiles import _linear_cdf
from fleetplan.workload import QUANTILE_LEVELS

NAMES = {"ttft": ("ttft", 95.0), "tpot": ("tpot", 95.0), "e2e": ("e2e", 99.0)}


def _model(catalog, arrivals: object, output: dict) -> tuple[LatencyModel, np.ndarray]:
    spec = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "traffic": {"avg_qps": 20, "peak_qps": 60, "arrivals": arrivals},
            "input_tokens": {"mean": 900, "p50": 600, "p95": 2800, "p99": 5000},
            "output_tokens": output,
            "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
        }
    )
    work = _workload(spec, Path("."))
    m = catalog.model("llama-3.1-8b")
    setups = [
        setup(m, catalog.gpu(g), catalog.precision(p), catalog.engine(e), tp=tp)
        for g, p, e, tp in [
            ("h100-sxm", "fp8", "vllm", 1),
            ("a100-80gb", "bf16", "sglang", 2),
            ("l4", "awq", "vllm", 1),
            ("h200", "bf16", "tensorrt-llm", 4),
        ]
    ]
    n = len(setups)
    chunk = np.array([s.engine.max_num_batched_tokens for s in setups], float)[:, None]
    batch = np.broadcast_to(BATCH_GRID[None, :], (n, BATCH_GRID.size))
    model = LatencyModel(stack(setups), work, batch, chunk)
    # replica counts from heavily loaded (queueing, slot waits) to nearly idle
    replicas = np.tile(np.array([1, 2, 3, 5, 8, 13, 40, 1, 2, 3, 5, 8, 13, 40, 1, 2]), (n, 1))
    return model, replicas


@pytest.mark.parametrize(
    "arrivals, output",
    [
        ("poisson", {"mean": 300, "p50": 250, "p95": 700, "p99": 1000}),
        ({"kind": "gamma", "cv": 3}, {"mean": 300, "p50": 250, "p95": 700, "p99": 1000}),
        ("poisson", {"mean": 4, "p95": 12}),  # short outputs: one mixed step has weight
    ],
)
def test_an_entry_reads_the_same_alone_as_among_others(catalog, arrivals, output):
    model, replicas = _model(catalog, arrivals, output)
    everything = np.ones(replicas.shape, dtype=bool)
    together = model.values(replicas, everything, NAMES)
    rng = np.random.default_rng(3)
    some = rng.random(replicas.shape) < 0.3
    subset = model.values(replicas, some, NAMES)
    for name in NAMES:
        np.testing.assert_array_equal(subset[name][some], together[name][some])
    for r, c in zip(*np.nonzero(rng.random(replicas.shape) < 0.12), strict=True):
        alone = np.zeros(replicas.shape, dtype=bool)
        alone[r, c] = True
        one = model.values(replicas, alone, NAMES)
        for name in NAMES:
            assert one[name][r, c] == together[name][r, c], (name, r, c)
    # and the SLO checks of the replica search
    np.testing.assert_array_equal(
        model._meets(replicas, some), model._meets(replicas, everything) & some
    )


def test_linear_cdf_is_np_interp_row_by_row():
    rng = np.random.default_rng(5)
    points = np.sort(rng.gamma(2.0, 0.05, size=(40, QUANTILE_LEVELS.size)), axis=1)
    points[3] = 0.2  # a point mass
    points[7, 4:9] = points[7, 4]  # a plateau
    x = rng.uniform(-0.01, 0.6, size=(40, 6))
    x[:, 0] = points[:, 0]
    x[:, 1] = points[:, -1]
    got = _linear_cdf(x, points, QUANTILE_LEVELS)
    for i in range(40):
        want = np.interp(x[i], points[i], QUANTILE_LEVELS)
        want = np.where(x[i] >= points[i, -1], 1.0, np.where(x[i] < points[i, 0], 0.0, want))
        np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(
            _linear_cdf(x[i : i + 1], points[i : i + 1], QUANTILE_LEVELS)[0], got[i]
        )


def test_renewal_counts_are_each_entrys_own():
    replicas = np.array([1.0, 1.0, 4.0, 50.0, 3.0])
    window = np.array([0.001, 0.5, 0.02, 2.0, 0.3])
    rate = np.array([50.0, 400.0, 50.0, 2000.0, 10.0])
    together = renewals(replicas, rate, window)
    for i in range(replicas.size):
        assert renewals(replicas[i : i + 1], rate[i : i + 1], window[i : i + 1])[0] == together[i]
    # one replica: the Poisson count λt
    assert together[1] == pytest.approx(200.0, rel=1e-3)


def test_setups_alike_in_every_number_are_evaluated_once(catalog):
    """bf16 and fp16 on an H100 differ in name only (same bytes, same tensor-core peak): the
    search evaluates such rows once, and reads for each setup what evaluating every row reads."""
    spec = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "precisions": ["bf16", "fp16", "fp8"],
            "engines": ["vllm", "sglang"],
            "traffic": {"avg_qps": 20, "peak_qps": 50},
            "input_tokens": {"mean": 900, "p50": 600, "p95": 2800, "p99": 5000},
            "output_tokens": {"mean": 300, "p50": 250, "p95": 700, "p99": 1000},
            "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
            "constraints": {"gpus": ["h100-sxm", "l40s", "a100-80gb"], "tp": [1, 2]},
        }
    )
    work = _workload(spec, Path("."))
    prep = prepare(spec, catalog.model("llama-3.1-8b"), catalog, work)
    setups, fits = [s for s, _ in prep.pairs], [f for _, f in prep.pairs]
    stacked = stack(setups)
    chunk = np.array([s.engine.max_num_batched_tokens for s in setups], float)[:, None]
    first, kind = distinct_rows(stacked, chunk)
    assert first.size < len(setups)  # some rows are alike
    assert (kind[first] == np.arange(first.size)).all()
    packing = OfferPacking(prep.offers)
    sizes = [packing.sizes(s.gpu.id, s.tp) for s in setups]
    peak = np.full(chunk.shape, work.traffic.peak_qps)
    *every_row, slo_s = _evaluate_all(stacked, chunk, fits, sizes, work, peak)
    names = ("batch", "kv_ok", "tpot_p95_s", "ttft_p95_s", "prefill_p95_s", "replica_req_s")
    names += ("replicas", "utilization", "meets", "slo_share")
    for j, ev in enumerate(evaluate(prep.pairs, work, prep.offers)):
        for name, a in zip(names, every_row, strict=True):
            np.testing.assert_array_equal(getattr(ev, name), a[j])
        for name, v in ev.slo_s.items():
            np.testing.assert_array_equal(v, slo_s[name][j])


def test_a_prepared_distribution_keeps_no_state_between_calls(catalog):
    """A percentile evaluates the CDF at one operating point a dozen times: the parts that do
    not depend on x are worked out once, and each call reads as a first one."""
    model, replicas = _model(catalog, {"kind": "gamma", "cv": 3}, {"mean": 4, "p95": 12})
    lp = model.entries(*np.nonzero(np.ones(replicas.shape, dtype=bool))).point(
        replicas.reshape(-1, 1)
    )
    for metric in ("ttft", "tpot", "e2e"):
        f = model.distribution(lp, metric)
        xs = [np.full(lp.n.shape, t) for t in (0.02, 0.3, 0.001, 0.02)]
        got = [f(x) for x in xs]
        np.testing.assert_array_equal(got[0], got[3])
        np.testing.assert_array_equal(got[1], model.distribution(lp, metric)(xs[1]))
        assert ((got[2] <= got[0]) & (got[0] <= got[1])).all()  # a CDF: non-decreasing in x
