"""Attention kernels run at their own share of the peak (EngineProfile.attention_mfu_scale over
the GEMMs' mfu_prefill), capped at the GEMM ceiling: a long prompt's prefill, where attention
is up to half the FLOPs, moves with it; the linear layers and a short decode step do not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fleetplan.accuracy.fit_stages import dense_factors
from fleetplan.catalog.generations import MFU_CEILING
from fleetplan.perf.roofline import setup, step_s
from fleetplan.perf.step_total import step_total_s


def _setup(catalog, scale: float):
    eng = dataclasses.replace(catalog.engine("sglang"), attention_mfu_scale=scale)
    return setup(
        catalog.model("llama-3.1-8b"), catalog.gpu("h100"), catalog.precision("bf16"), eng, tp=1
    )


def test_the_attention_share_scales_prefill_attention_alone(catalog):
    one, two = _setup(catalog, 1.0), _setup(catalog, 2.0)
    assert one.attention_mfu == pytest.approx(one.mfu)
    assert two.attention_mfu == pytest.approx(min(2.0 * two.mfu, MFU_CEILING))
    a = step_s(one, 0.0, 0.0, 8192.0, 16000.0)  # a chunk of a 24k-token prompt
    b = step_s(two, 0.0, 0.0, 8192.0, 16000.0)
    ratio = float(a.attention_compute_s / b.attention_compute_s)
    assert ratio == pytest.approx(two.attention_mfu / one.attention_mfu)
    assert float(a.linear_compute_s) == pytest.approx(float(b.linear_compute_s))
    assert float(b.total_s) < float(a.total_s)
    # a decode step of a few short sequences reads KV: the share does not move it
    da, db = step_s(one, 4.0, 500.0), step_s(two, 4.0, 500.0)
    assert float(db.total_s) == pytest.approx(float(da.total_s), rel=1e-3)
    # the hot loops' step (perf.step_total) agrees with the full one
    for s, full in ((one, a), (two, b)):
        fast = step_total_s(s, 0.0, 0.0, 8192.0, 16000.0)
        assert np.allclose(fast, full.total_s, rtol=1e-9)


def test_the_share_never_lifts_attention_above_the_ceiling(catalog):
    s = _setup(catalog, 10.0)
    assert s.attention_mfu == pytest.approx(MFU_CEILING)


def test_a_family_fit_takes_the_attention_share(catalog):
    # with the dense factors, for the current families and the 2023 ones alike
    assert "attention_mfu_scale" in dense_factors([], catalog, current=True)
    assert "attention_mfu_scale" in dense_factors([], catalog, current=False)
