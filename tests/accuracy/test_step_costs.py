"""Fixed costs of a step in the fits: a current family's dense fit includes the per-layer
kernel-boundary time (anchored at the no-bubbles measurement), the 2023 families' do not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fleetplan.accuracy import crossval
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.perf.roofline import setup, step_s


def _row(engine: str, version: str, model: str = "llama-3.1-8b") -> ValidationRow:
    return ValidationRow("r", engine, model, "bf16", "h100-sxm", 128, 128, 4, "tpot_ms", 7.0,
                         schedule="concurrency", requests=40, engine_version=version)  # fmt: skip


def test_current_families_fit_the_per_layer_time_and_older_ones_do_not(catalog):
    rows = [_row("vllm", "0.11.0")]
    assert "per_layer_overhead_us" in crossval.dense_factors(rows, catalog, current=True)
    assert "per_layer_overhead_us" not in crossval.dense_factors(rows, catalog)
    assert "per_layer_overhead_us" in crossval.default_factors(rows, catalog)
    assert "per_layer_overhead_us" not in crossval.default_factors([_row("vllm", "0.6.3")], catalog)
    assert crossval.is_current(catalog.engines["tensorrt-llm"])
    assert not crossval.is_current(catalog.engines["tensorrt-llm-0x"])
    ref, spread = crossval.PRIOR["per_layer_overhead_us"]
    lo, hi = crossval.BOUNDS["per_layer_overhead_us"]
    assert lo <= ref <= hi and spread > 0


def test_fit_family_hands_the_per_layer_factor_and_its_anchor_to_the_fit(catalog, monkeypatch):
    calls = []

    class Done:
        def __init__(self, engine):
            self.engine = engine

    def spy(rows, cat, engine, factors, bounds, prior, keep_if_worse):
        calls.append((engine.id, list(factors), prior))
        return Done(engine)

    monkeypatch.setattr(crossval, "fit_engine", spy)
    crossval.fit_family([_row("vllm", "0.11.0")], catalog, catalog.engines["vllm"])
    crossval.fit_family([_row("vllm", "0.6.3")], catalog, catalog.engines["vllm-v0"])
    (cur, cur_factors, cur_prior), (old, old_factors, old_prior) = calls
    assert (cur, old) == ("vllm", "vllm-v0")
    assert "per_layer_overhead_us" in cur_factors and cur_prior is crossval.PRIOR
    assert "per_layer_overhead_us" not in old_factors and old_prior is None


@pytest.mark.parametrize("model", ["llama-3.1-8b", "llama-3.1-70b"])
def test_the_per_layer_time_is_paid_once_per_layer_and_step(catalog, model):
    """A step's fixed time grows by layers x the per-layer time, at any batch."""
    m, gpu, prec = catalog.model(model), catalog.gpu("h100-sxm"), catalog.precision("bf16")
    base = dataclasses.replace(catalog.engines["vllm"], per_layer_overhead_us=0.0)
    more = dataclasses.replace(base, per_layer_overhead_us=30.0)
    tp = 4 if "70b" in model else 1
    b = np.array([1.0, 16.0, 256.0])
    t0 = step_s(setup(m, gpu, prec, base, tp=tp), b, 1000.0).total_s
    t1 = step_s(setup(m, gpu, prec, more, tp=tp), b, 1000.0).total_s
    assert t1 - t0 == pytest.approx(np.full(3, m.layers * 30e-6))
