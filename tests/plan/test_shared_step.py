"""One formula for the continuous-batching mixed step: the analytic side and the simulator
both go through `perf.schedule.mixed_step`."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.catalog import load_catalog
from fleetplan.perf.roofline import setup
from fleetplan.perf.schedule import continuous, mixed_step, steady_mixed_step
from fleetplan.sim.steptime import StepTable

CAT = load_catalog()


@pytest.mark.parametrize(
    "model,gpu,tp", [("llama-3.1-8b", "h100", 1), ("llama-3.1-70b", "h100", 4)]
)
def test_simulator_table_and_analytic_steady_step_use_the_same_step(model, gpu, tp):
    s = setup(CAT.model(model), CAT.gpu(gpu), CAT.precision("bf16"), CAT.engine("vllm"), tp=tp)
    table = StepTable(s, 8192)
    for b, c, p, pc in [(1, 100, 0, 0), (37, 1500, 800, 400), (200, 9000, 3000, 1500)]:
        ref = float(mixed_step(s, b, c, p, pc).total_s)
        assert table.step_s(b, c, p, pc) == pytest.approx(ref, rel=1e-9)
    i, o = 900, 300
    b = np.array([8.0, 64.0])
    st = steady_mixed_step(s, b, i, o)
    # every o steps, b prompts, each of one chunk: b mixed steps, the other o - b decoding only
    ctx = i + o / 2
    cycle = (
        b * mixed_step(s, b, ctx, i, i / 2).total_s + (o - b) * mixed_step(s, b, ctx).total_s
    ) / o
    assert np.allclose(st.total_s, cycle)
    # for a dense model, spreading the prompts over every step gives about the same mean
    spread = mixed_step(s, b, ctx, b * i / o, i / 2).total_s
    assert np.allclose(st.total_s, spread, rtol=5e-3)
    r = continuous(s, b, i, o)
    assert np.allclose(r.output_tok_per_s, b / st.total_s)
    # a sequence's own prompt is prefilled before its first token: its decode steps carry the
    # other b - 1 sequences' prompts only
    own = (b - 1) * mixed_step(s, b, ctx, i, i / 2).total_s
    own += (o - b + 1) * mixed_step(s, b, ctx).total_s
    assert np.allclose(r.tpot_s, own / o)


def test_a_moe_prompt_reads_the_experts_in_its_own_steps():
    """A MoE's closed loop prefills each prompt in its own steps: one step of 228 prompt
    tokens reads nearly every expert once, where the same tokens spread over every step would
    read more experts in each of them (`cycle_step`)."""
    s = setup(
        CAT.model("mixtral-8x7b"), CAT.gpu("h100"), CAT.precision("bf16"), CAT.engine("vllm"), tp=2
    )
    b, i, o = np.array([4.0]), 228, 213
    st = float(steady_mixed_step(s, b, i, o).total_s[0])
    spread = float(mixed_step(s, b, i + o / 2, b * i / o, i / 2).total_s[0])
    alone = float(mixed_step(s, b, i + o / 2).total_s[0])
    assert alone < st < 0.95 * spread


def test_the_total_alone_is_the_step_total():
    """`mixed_step_s` (the load point's step: the total alone) equals `mixed_step(...).total_s`
    for dense, MoE, sliding-window and tensor-parallel setups, stacked or not."""
    from fleetplan.perf.schedule import mixed_step_s
    from fleetplan.search.stack import stack

    rng = np.random.default_rng(3)
    setups = []
    for model in sorted(CAT.models):
        spec = CAT.model(model)
        for tp in (1, 2, 8):
            try:
                setups.append(
                    setup(spec, CAT.gpu("h100"), CAT.precision("fp8"), CAT.engine("vllm"), tp=tp)
                )
            except Exception:  # tp does not divide the heads, or the engine refuses
                continue
    kinds = {(s.model.is_moe, bool(s.model.sliding_window), s.tp > 1) for s in setups}
    assert (True, False, True) in kinds and (False, True, False) in kinds
    b = rng.choice([0.0, 1.0, 7.0, 250.0], size=(1, 40))
    c = rng.uniform(0, 30000, size=(1, 40))
    p = rng.choice([0.0, 1.0, 512.0, 8000.0], size=(1, 40))
    pc = rng.uniform(0, 20000, size=(1, 40))
    for s in setups:
        ref = mixed_step(s, b, c, p, pc).total_s
        assert np.allclose(mixed_step_s(s, b, c, p, pc), ref, rtol=1e-12, atol=0)
    by_model: dict[str, list] = {}
    for s in setups:
        by_model.setdefault(s.model.id, []).append(s)
    for group in by_model.values():
        st = stack(group)
        ref = mixed_step(st, b, c, p, pc).total_s
        assert np.allclose(mixed_step_s(st, b, c, p, pc), ref, rtol=1e-12, atol=0)
