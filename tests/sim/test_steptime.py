import numpy as np
import pytest

from fleetplan.catalog import load_catalog
from fleetplan.perf.roofline import setup, step_s
from fleetplan.sim.steptime import StepTable, run_time_s, steps_to_reach


def _setup(model: str, gpu: str = "h100", precision: str = "bf16", tp: int = 1):
    cat = load_catalog()
    return setup(
        cat.model(model), cat.gpu(gpu), cat.precision(precision), cat.engine("vllm"), tp=tp
    )


@pytest.mark.parametrize(
    ("model", "tp", "gpu", "precision"),
    [
        ("llama-3.1-8b", 1, "h100", "bf16"),
        ("mistral-7b", 1, "h100", "bf16"),
        ("mixtral-8x7b", 2, "h100", "bf16"),
        # vLLM's Triton prefill re-reads gpt-oss's context on an A100 (perf.kernels)
        ("gpt-oss-20b", 1, "a100-80gb", "mxfp4"),
    ],
)
def test_table_equals_the_roofline(model: str, tp: int, gpu: str, precision: str) -> None:
    s = _setup(model, gpu, precision, tp=tp)
    assert s.prefill_kv_reread > 0 or model != "gpt-oss-20b"
    t = StepTable(s, 8192 + 256)
    rng = np.random.default_rng(0)
    b = rng.integers(0, 257, 200).astype(float)
    c = rng.uniform(0, 12000, 200)
    p = rng.integers(0, 8000, 200).astype(float)
    p[b + p == 0] = 1
    pc = rng.uniform(0, 9000, 200)
    ref = step_s(s, b, c, p, pc).total_s
    ours = np.array([t.step_s(*x) for x in zip(b, c, p, pc, strict=True)])
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


@pytest.mark.parametrize("model", ["llama-3.1-8b", "mistral-7b"])
def test_decode_run_sums_the_steps(model: str) -> None:
    s = _setup(model)
    t = StepTable(s, 8192)
    b, c0 = 37, 3900.5
    first, slope, kink = t.decode_run(b, c0)
    k = min(kink, 300)
    ref = step_s(s, float(b), c0 + np.arange(k)).total_s.sum()
    assert run_time_s(first, slope, k) == pytest.approx(ref, rel=1e-9)
    if model == "mistral-7b":
        assert kink == int(4096 - c0) + 1  # the window's kink ends the run


def test_steps_to_reach_finds_the_step_in_flight() -> None:
    first, slope = 0.01, 1e-5
    for dt in (0.0, 0.005, 0.01, 0.0100001, 0.5, 3.0):
        k = steps_to_reach(first, slope, dt)
        assert run_time_s(first, slope, k) >= dt
        assert k == 1 or run_time_s(first, slope, k - 1) < dt
    assert steps_to_reach(0.02, 0.0, 0.1) == 5
