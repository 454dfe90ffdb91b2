"""TTFT's wait folded in closed form (`sizing.percentiles.ttft_distribution`): against a fine
numerical fold of the no-wait CDF over the exponential wait, and the shortcut a comparison
with a level takes on the same side of the level as the whole CDF."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fleetplan.sizing.operating_point import load_point
from fleetplan.sizing.percentiles import ttft_distribution
from fleetplan.workload import QUANTILE_LEVELS, QUANTILE_WEIGHTS


def _step(seqs, ctx, tokens, attended):
    """A step of `seqs` decodes and `tokens` prefill tokens: fixed plus linear parts."""
    return 0.012 + 1e-5 * np.asarray(seqs) + 0.05e-3 * np.asarray(tokens)


def _points(cv2: float):
    """Operating points of one replica at rising load (a (1, 4) grid of batch limits)."""
    prompts = np.geomspace(100.0, 6000.0, QUANTILE_LEVELS.size)
    return load_point(
        _step,
        np.array([[3.0, 6.0, 9.0, 12.0]]),
        np.array([[1.0, 1.0, 1.0, 1.0]]),
        np.array([[16.0, 64.0, 128.0, 256.0]]),
        np.array([[8192.0] * 4]),
        1200.0,
        prompts,
        QUANTILE_WEIGHTS,
        300.0,
        0.5,
        cv2,
    )


def _numerical_fold(lp, x: np.ndarray, n: int = 4000) -> np.ndarray:
    """(1 - p) F0(x) + p E F0(x - W), W exponential of rate theta, at n quantiles of W."""
    plain = ttft_distribution(
        dataclasses.replace(lp, slot_p=np.zeros_like(lp.slot_p)), QUANTILE_LEVELS, QUANTILE_WEIGHTS
    )
    u = (np.arange(n) + 0.5) / n
    waits = -np.log1p(-u)
    after = np.mean([plain(x - w / lp.slot_theta) for w in waits], axis=0)
    return (1 - lp.slot_p) * plain(x) + lp.slot_p * after


@pytest.mark.parametrize("cv2", [1.0, 9.0])
def test_the_closed_form_fold_matches_a_fine_numerical_one(cv2):
    lp = _points(cv2)
    assert (lp.slot_p > 1e-4).sum() >= 2 and lp.stable.all()  # waits to fold
    cdf = ttft_distribution(lp, QUANTILE_LEVELS, QUANTILE_WEIGHTS)
    first = lp.prefill_k[..., 0]
    for t in np.linspace(0.0, 1.0, 9):
        x = first * (1 + 40 * t) + t * 4 / np.maximum(lp.slot_theta, 1e-9)
        want = _numerical_fold(lp, x)
        # the 4,000-point fold's own error is ~1e-5 here; without the wait the CDF is 0.2 off
        assert np.abs(cdf(x) - want).max() < 1e-4
    # the wait only delays: the CDF at most the no-wait one
    plain = ttft_distribution(
        dataclasses.replace(lp, slot_p=np.zeros_like(lp.slot_p)), QUANTILE_LEVELS, QUANTILE_WEIGHTS
    )
    x = first * 3
    assert np.all(cdf(x) <= plain(x) + 1e-12)


def test_an_endless_wait_leaves_only_those_that_do_not_wait():
    lp = _points(1.0)
    lp = dataclasses.replace(
        lp, slot_p=np.full_like(lp.slot_p, 0.3), slot_theta=np.zeros_like(lp.slot_theta)
    )
    plain = ttft_distribution(
        dataclasses.replace(lp, slot_p=np.zeros_like(lp.slot_p)), QUANTILE_LEVELS, QUANTILE_WEIGHTS
    )
    x = lp.prefill_k[..., -1] * 4
    got = ttft_distribution(lp, QUANTILE_LEVELS, QUANTILE_WEIGHTS)(x)
    assert got == pytest.approx(0.7 * plain(x))


@pytest.mark.parametrize("level", [0.5, 0.9, 0.95, 0.99])
def test_a_level_reads_the_same_side_of_it_as_the_whole_cdf(level):
    for cv2 in (1.0, 9.0):
        lp = _points(cv2)
        whole = ttft_distribution(lp, QUANTILE_LEVELS, QUANTILE_WEIGHTS)
        short = ttft_distribution(lp, QUANTILE_LEVELS, QUANTILE_WEIGHTS, level)
        lo, hi = lp.prefill_k[..., 0], 4 * lp.prefill_k[..., -1] + 20 / lp.slot_theta
        for t in np.linspace(0.0, 1.0, 41):
            x = lo * (hi / lo) ** t
            assert np.array_equal(whole(x) >= level, short(x) >= level)
