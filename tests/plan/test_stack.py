"""Stacked (array) evaluation of many setups equals evaluating each setup on its own."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.perf.roofline import setup, step_s
from fleetplan.search.stack import stack, take


@pytest.mark.parametrize("tp", [1, 2, 4])
def test_stacked_step_times_match_one_by_one(catalog, tp):
    m, e = catalog.model("llama-3.1-70b"), catalog.engine("vllm")
    setups = []
    for gpu in ("h100-sxm", "a100-80gb", "l40s", "h200", "mi300x", "b200"):
        for prec in ("bf16", "fp8", "awq"):
            setups.append(setup(m, catalog.gpu(gpu), catalog.precision(prec), e, tp=tp))
    b = np.array([[1.0, 8.0, 64.0, 256.0]])
    stacked = step_s(stack(setups), b, 1500.0, b * 2.0, 400.0)
    for i, s in enumerate(setups):
        alone = step_s(s, b[0], 1500.0, b[0] * 2.0, 400.0)
        np.testing.assert_allclose(stacked.total_s[i], alone.total_s, rtol=1e-12)
        kv = np.broadcast_to(stacked.kv_bytes, stacked.total_s.shape)[i]
        np.testing.assert_allclose(kv, alone.kv_bytes, rtol=1e-12)


def test_setups_of_every_tp_and_engine_stack_into_one(catalog):
    """The search stacks every setup at once: tensor parallel degrees and engines may differ
    (the all-reduce takes an array of degrees); `take` picks rows of the stack."""
    m = catalog.model("llama-3.1-70b")
    setups = [
        setup(m, catalog.gpu(gpu), catalog.precision("fp8"), catalog.engine(eng), tp=tp)
        for gpu in ("h100-sxm", "h200")
        for eng in ("vllm", "sglang", "tensorrt-llm")
        for tp in (1, 2, 4, 8)
    ]
    b = np.array([[1.0, 8.0, 64.0, 256.0]])
    stacked = stack(setups)
    table = step_s(stacked, b, 1500.0, b * 2.0, 400.0).total_s
    for i, s in enumerate(setups):
        alone = step_s(s, b[0], 1500.0, b[0] * 2.0, 400.0).total_s
        np.testing.assert_allclose(table[i], alone, rtol=1e-12)
    rows = np.array([3, 3, 0, 17])
    picked = step_s(take(stacked, rows), b, 1500.0, b * 2.0, 400.0).total_s
    np.testing.assert_array_equal(picked, table[rows])
