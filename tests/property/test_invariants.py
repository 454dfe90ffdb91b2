"""Property tests of the memory and performance model."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetplan.catalog import load_catalog
from fleetplan.catalog.specs import GpuSpec
from fleetplan.errors import UnsupportedError
from fleetplan.estimate import estimate_fit
from fleetplan.perf.memory import fit
from fleetplan.perf.roofline import setup, step_s
from fleetplan.perf.schedule import continuous

CAT = load_catalog()
MODELS = sorted(CAT.models)
GPUS = sorted(CAT.gpus)
PRECISIONS = ["bf16", "fp16", "fp8", "int8", "awq", "fp4"]


def _with_memory(g: GpuSpec, gib: float) -> GpuSpec:
    return GpuSpec(**{**g.__dict__, "memory_gib": gib})


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(MODELS),
    st.sampled_from(GPUS),
    st.floats(8, 300),
    st.floats(1.0, 2.0),
    st.integers(256, 32768),
)
def test_more_memory_never_fits_less(model, gpu, gib, factor, context):
    m, g = CAT.model(model), CAT.gpu(gpu)
    context = min(context, m.max_context)
    p, e = CAT.precision("bf16"), CAT.engine("vllm")
    small = fit(m, _with_memory(g, gib), p, e, context=context)
    big = fit(m, _with_memory(g, gib * factor), p, e, context=context)
    assert big.fits >= small.fits
    assert big.kv_capacity_tokens >= small.kv_capacity_tokens
    assert big.max_concurrent_sequences >= small.max_concurrent_sequences


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MODELS), st.sampled_from(GPUS), st.integers(1, 4096), st.integers(0, 4096))
def test_longer_context_never_allows_more_sequences(model, gpu, ctx, extra):
    m = CAT.model(model)
    ctx = min(ctx, m.max_context)
    longer = min(ctx + extra, m.max_context)
    p, e, g = CAT.precision("bf16"), CAT.engine("vllm"), CAT.gpu(gpu)
    a = fit(m, g, p, e, context=ctx)
    b = fit(m, g, p, e, context=longer)
    assert b.max_concurrent_sequences <= a.max_concurrent_sequences


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(MODELS),
    st.sampled_from(GPUS),
    st.sampled_from(PRECISIONS),
    st.sampled_from([1, 2, 4, 8]),
    st.integers(1, 4096),
    st.integers(1, 2048),
)
def test_larger_batch_never_lowers_total_throughput_while_it_fits(model, gpu, prec, tp, i, o):
    m, g = CAT.model(model), CAT.gpu(gpu)
    if i + o > m.max_context:
        return
    try:
        s = setup(m, g, CAT.precision(prec), CAT.engine("vllm"), tp=tp)
    except UnsupportedError:
        return
    f = fit(m, g, CAT.precision(prec), CAT.engine("vllm"), tp=tp, context=i + o)
    if not f.fits:
        return
    batches = np.arange(1, min(f.concurrency, 512) + 1, dtype=float)
    r = continuous(s, batches, i, o)
    assert np.all(np.diff(r.total_tok_per_s) >= -1e-9 * r.total_tok_per_s[1:])


def test_step_time_positive_and_finite_for_every_fitting_combination():
    checked = 0
    for m in CAT.models.values():
        for g in CAT.gpus.values():
            for prec in CAT.precisions.values():
                engine = "llama.cpp" if prec.id.startswith("gguf") else "vllm"
                e = CAT.engine(engine)
                if prec.id not in e.precisions:
                    continue
                try:
                    s = setup(m, g, prec, e, tp=1)
                except UnsupportedError:
                    continue
                f = fit(m, g, prec, e, context=min(2048, m.max_context))
                if not f.fits:
                    continue
                b = np.array([1.0, float(f.concurrency)])
                t = step_s(s, b, 1024.0, b * 2, 512.0).total_s
                assert np.all(t > 0) and np.all(np.isfinite(t)), (m.id, g.id, prec.id)
                checked += 1
    assert checked > 100


def test_fit_never_nan():
    for m in CAT.models.values():
        for g in CAT.gpus.values():
            try:
                f = estimate_fit(m, g, catalog=CAT)
            except UnsupportedError:
                continue
            assert f.kv_capacity_tokens >= 0 and f.max_concurrent_sequences >= 0
            assert math.isfinite(f.kv_budget_bytes_per_gpu)
