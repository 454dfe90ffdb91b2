"""Setups and fits are remembered with the catalog they come from: a second search with the
same catalog reads the same outcomes, a catalog with other entries gets its own, and what is
kept per catalog stays bounded."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fleetplan.perf.memory import fit
from fleetplan.perf.roofline import setup
from fleetplan.plan.search import _workload
from fleetplan.scenario import parse_scenario
from fleetplan.search import setups as memo
from fleetplan.search.setups import enumerate_setups

GPUS = ["h100-sxm", "l4", "a100-80gb"]


def _work(p99_input: int = 5000):
    spec = parse_scenario(
        {
            "model": "llama-3.1-8b",
            "traffic": {"avg_qps": 20, "peak_qps": 50},
            "input_tokens": {"mean": 900, "p50": 600, "p95": 2800, "p99": p99_input},
            "output_tokens": {"mean": 300, "p50": 250, "p95": 700, "p99": 1000},
            "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
        }
    )
    return _workload(spec, Path("."))


def _enumerate(cat, work, engines=("vllm", "sglang")):
    model = cat.model("llama-3.1-8b")
    return enumerate_setups(
        model, cat, GPUS, ["bf16", "fp8", "fp4"], list(engines), [1, 2, 3], work
    )


def test_a_second_search_reads_the_remembered_outcomes(catalog):
    work = _work()
    ok1, rejected1 = _enumerate(catalog, work)
    ok2, rejected2 = _enumerate(catalog, work)
    assert ok1 and rejected1  # some run and fit, some do not (tp 3, fp4 before Blackwell)
    assert rejected1 == rejected2
    assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(ok1, ok2, strict=True))
    # and they are what working each one out afresh gives
    model = catalog.model("llama-3.1-8b")
    for s, f in ok1:
        fresh = setup(model, s.gpu, s.precision, catalog.engine(s.engine.id), tp=s.tp)
        assert fresh == s
        again = fit(
            model, s.gpu, s.precision, catalog.engine(s.engine.id), tp=s.tp, context=f.context
        )
        assert again == f


def test_a_catalog_with_other_entries_is_not_served_the_old_outcomes(catalog):
    work = _work()
    before, _ = _enumerate(catalog, work, engines=("vllm",))
    engine = catalog.engine("vllm")
    slower = dataclasses.replace(engine, step_overhead_ms=engine.step_overhead_ms * 3)
    other = dataclasses.replace(catalog, engines={**catalog.engines, engine.id: slower})
    after, _ = _enumerate(other, work, engines=("vllm",))
    assert [s.step_overhead_s for s, _ in after] != [s.step_overhead_s for s, _ in before]
    assert all(s.engine.step_overhead_ms == slower.step_overhead_ms for s, _ in after)


def test_what_is_kept_per_catalog_is_bounded(catalog):
    for p99 in range(5000, 5000 + 3 * memo.KEYS_PER_CATALOG):
        _enumerate(catalog, _work(p99_input=p99), engines=("vllm",))
    held = memo._MEMO[id(catalog)][1]
    assert len(held) == memo.KEYS_PER_CATALOG
