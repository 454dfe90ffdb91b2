"""`sizing.percentiles.in_flight_groups`: the prefill an arrival finds in flight is a
length-biased pick among the prompts' prefills, and its rest uniform over the picked one. The
groups keep the mean rest exact and follow the exact mixture's tail, which one length-biased
mean length (what the TTFT term used before) cuts off."""

from __future__ import annotations

import numpy as np
import pytest

from fleetplan.sizing.percentiles import in_flight_groups
from fleetplan.workload import QUANTILE_LEVELS, QUANTILE_WEIGHTS, from_percentiles

LEVELS, WEIGHTS = QUANTILE_LEVELS, QUANTILE_WEIGHTS


def _chat_prefill_s() -> np.ndarray:
    """Prefill seconds over the quantile grid of chat prompts (mean 900, p50 600, p99 5,000
    tokens), at a flat 50 µs a token."""
    lengths = from_percentiles("input_tokens", mean=900, p50=600, p95=2800, p99=5000)
    return lengths.quantiles() * 50e-6


def _rest_survival(r: np.ndarray, lengths: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """P(rest > r) of a rest uniform over a length picked with these shares."""
    return (shares[None, :] * np.clip(1 - r[:, None] / lengths[None, :], 0, None)).sum(1)


def test_the_mean_rest_stays_exact():
    t = _chat_prefill_s()
    share, length = in_flight_groups(t, LEVELS, WEIGHTS)
    assert share.sum() == pytest.approx(1.0)
    # E[rest] = E[T²] / (2 E[T]) over the prompts' prefills: the length-biased mean over two
    biased_mean = (WEIGHTS * t * t).sum() / (WEIGHTS * t).sum()
    assert (share * length).sum() == pytest.approx(biased_mean, rel=1e-12)


def test_the_groups_follow_the_exact_tail_one_mean_length_cuts_off():
    t = _chat_prefill_s()
    share, length = in_flight_groups(t, LEVELS, WEIGHTS)
    exact_share = WEIGHTS * t / (WEIGHTS * t).sum()
    r = np.linspace(0, t[-1], 4001)
    exact = _rest_survival(r, t, exact_share)
    grouped = _rest_survival(r, length, share)
    single = _rest_survival(r, np.array([(exact_share * t).sum()]), np.array([1.0]))

    def quantile(survival: np.ndarray, q: float) -> float:
        return float(r[np.argmax(survival <= 1 - q)])

    # the upper quantiles a TTFT percentile reads, within 5 % of the exact mixture's
    for q in (0.8, 0.9, 0.95, 0.99):
        assert quantile(grouped, q) == pytest.approx(quantile(exact, q), rel=0.05), q
    # one mean length ends the rest at E[T²]/E[T]: its p95 is half the mixture's
    assert quantile(single, 0.95) < 0.6 * quantile(exact, 0.95)


def test_equal_prefills_make_one_length_and_stacked_rows_stay_independent():
    flat = np.full(LEVELS.size, 0.2)
    share, length = in_flight_groups(flat, LEVELS, WEIGHTS)
    np.testing.assert_allclose(length[share > 0], 0.2)
    assert share.sum() == pytest.approx(1.0)
    t = _chat_prefill_s()
    both = in_flight_groups(np.stack([flat, t]), LEVELS, WEIGHTS)
    alone = in_flight_groups(t, LEVELS, WEIGHTS)
    np.testing.assert_allclose(both[0][1], alone[0])
    np.testing.assert_allclose(both[1][1], alone[1])
