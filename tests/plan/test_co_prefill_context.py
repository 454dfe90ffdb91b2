"""A request's first step shares the chunk budget with the prompts that arrived with it
(`sizing.load_point`): each of those prompts attends to its own context, so attention work,
quadratic in a prompt's length, adds prompt by prompt — not as if the step held one prompt of
their summed length (src/fleetplan/docs/sizing.md)."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.sizing import CO_ARRIVALS, load_point

COST = 1e-9  # seconds per (prompt token x attended token)


def _attention_only(seqs, ctx, tokens, attended):
    # a step whose time is its prompts' attention work alone
    return COST * np.asarray(tokens, dtype=np.float64) * np.asarray(attended, dtype=np.float64)


def test_prompts_sharing_a_first_step_each_attend_to_their_own_context():
    prompts = np.array([4000.0, 16000.0])
    weights = np.array([0.5, 0.5])
    i_mean = float((prompts * weights).sum())
    lp = load_point(
        _attention_only,
        arrival_rate=0.2,
        replicas=np.array([[1.0]]),
        batch=np.array([[16.0]]),
        chunk=np.array([[2048.0]]),
        context=8000.0,
        prompts=prompts,
        weights=weights,
        output_mean=100.0,
        output_cv2=1.0,
    )
    own = COST * prompts**2 / 2  # a prompt's own causal prefill: p x p / 2
    for j, c in enumerate(CO_ARRIVALS):
        # the request's prompt plus c mean prompts, each over its own context
        expected = own + COST * c * i_mean * i_mean / 2
        assert lp.prefill_jk[0, 0, j] == pytest.approx(expected, rel=1e-9)
