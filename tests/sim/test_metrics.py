"""Streaming statistics: exact for small runs, within the stated relative error past that, in
memory that does not grow with the count."""

import numpy as np
import pytest

from fleetplan.sim.metrics import RELATIVE_ERROR, Quantiles, stats_ms


def test_small_runs_are_exact() -> None:
    v = np.random.default_rng(0).lognormal(-3, 1, 5000)
    s = stats_ms(v)
    assert s.exact
    assert s.p95 == pytest.approx(np.percentile(v, 95) * 1e3, rel=1e-12)
    assert s.percentile(99.9) == pytest.approx(np.percentile(v, 99.9) * 1e3, rel=1e-12)
    assert s.mean == pytest.approx(v.mean() * 1e3, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_past_the_exact_limit_percentiles_are_within_the_relative_error(weighted: bool) -> None:
    rng = np.random.default_rng(1)
    q = Quantiles(exact_max=10_000)
    vals, wts = [], []
    for _ in range(30):
        v = rng.lognormal(-4, 1.2, 2000)
        w = rng.integers(1, 50, v.size).astype(float) if weighted else None
        q.add(v, w)
        vals.append(v)
        wts.append(w if weighted else np.ones_like(v))
    s = q.stats_ms()
    assert not s.exact and s.count == pytest.approx(sum(w.sum() for w in wts))
    exact = stats_ms(np.concatenate(vals), np.concatenate(wts) if weighted else None)
    for p in ("p50", "p90", "p95", "p99"):
        # the histogram answers the bucket of the rank: within the relative error of the
        # value of the same rank (interpolation between neighbours adds no more than that)
        assert getattr(s, p) == pytest.approx(getattr(exact, p), rel=2 * RELATIVE_ERROR), p
    assert s.mean == pytest.approx(exact.mean, rel=1e-9)
    assert s.max == exact.max


def test_memory_stays_fixed_once_folded() -> None:
    q = Quantiles(exact_max=1000)
    q.add(np.linspace(0.001, 1, 5000))
    size = q._hist.nbytes  # type: ignore[union-attr]
    for _ in range(20):
        q.add(np.random.default_rng(2).random(10_000))
    assert q._vals == [] and q._hist.nbytes == size  # type: ignore[union-attr]
    assert q.count == 205_000


def test_zeros_and_empty() -> None:
    q = Quantiles(exact_max=10)
    q.add(np.zeros(100))
    assert q.stats_ms().p99 == 0.0
    assert Quantiles().stats_ms().count == 0
