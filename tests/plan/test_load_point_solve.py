"""`sizing.load_point` solves n = min(λ·(O − 1)·t̄(n), B − 1) (Little's law at the operating
point) to the end, also where the step grows steeply with the sequences decoding — a
many-expert MoE, whose every sequence reads more experts — and says a replica driven past
what its batch holds is unstable."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.sizing import load_point

PROMPTS = np.array([500.0, 1000.0, 2000.0])
WEIGHTS = np.array([0.25, 0.5, 0.25])
OUTPUT_MEAN = 300.0


def _moe_like(seqs, ctx, tokens, attended):
    """A step whose weight reads grow with the sequences until every expert is read (128
    experts, 8 a token), plus linear prefill compute."""
    seqs = np.asarray(seqs, dtype=np.float64)
    tokens = np.asarray(tokens, dtype=np.float64)
    experts = np.minimum(8 * (seqs + tokens), 128)
    return 2e-3 + 2e-4 * experts + 2e-5 * tokens + 0 * np.asarray(attended)


def _point(rate: float, batch: float, step=_moe_like):
    return load_point(
        step,
        arrival_rate=np.array([[rate]]),
        replicas=np.array([[1.0]]),
        batch=np.array([[batch]]),
        chunk=np.array([[4096.0]]),
        context=1200.0,
        prompts=PROMPTS,
        weights=WEIGHTS,
        output_mean=OUTPUT_MEAN,
        output_cv2=0.5,
    )


@pytest.mark.parametrize("rate", [0.5, 2.0, 5.0])
def test_operating_point_meets_littles_law(rate):
    lp = _point(rate, 256.0)
    little = rate * (OUTPUT_MEAN - 1) * lp.t_bar[0, 0]
    assert lp.stable[0, 0]
    assert lp.n[0, 0] == pytest.approx(little, rel=0.01)


def test_past_the_batch_the_point_is_unstable():
    lp = _point(50.0, 64.0)
    assert lp.n[0, 0] == pytest.approx(63.0)
    assert not lp.stable[0, 0]


def _runaway(seqs, ctx, tokens, attended):
    """A step that grows with the square of the sequences it serves."""
    seqs = np.asarray(seqs, dtype=np.float64)
    return 1e-3 * (1 + seqs) ** 2 + 0 * np.asarray(tokens) + 0 * np.asarray(attended)


def test_a_replica_that_cannot_keep_up_is_saturated_not_idle():
    # hundreds of times past what its batch of 32 serves
    lp = _point(50.0, 32.0, _runaway)
    assert lp.n[0, 0] == pytest.approx(31.0)
    assert not lp.stable[0, 0]
