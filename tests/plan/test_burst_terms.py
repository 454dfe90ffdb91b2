"""The bursty terms of a replica's operating point (`sizing.operating_point`): the batch behind
a request only fills what its last step has left of the budget, the backlog of earlier batches
adds its M^X/G/1 excess to the slot wait's mean, and Poisson arrivals get no batch behind and
only the pooled M/G/R backlog beyond a step."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fleetplan.queueing import slot_wait
from fleetplan.sizing.operating_point import (
    CO_ARRIVALS_BURSTY,
    _burst_behind,
    _prefill_backlog,
    load_point,
)

MS_PER_TOKEN = 0.05e-3  # the synthetic step's prefill cost


def _erlang_c(c: int, a: float) -> float:
    """M/M/c's waiting probability, from its defining sums."""
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


DECODE_S = 0.012


def _step(seqs, ctx, tokens, attended):
    """A step of `seqs` decodes and `tokens` prefill tokens: fixed plus linear parts."""
    return DECODE_S + 1e-5 * np.asarray(seqs) + MS_PER_TOKEN * np.asarray(tokens)


def test_the_batch_behind_fills_at_most_the_budget_the_last_step_has_left():
    n = np.array([[40.0]])
    chunk = np.array([[8192.0]])
    # the last prompt and one mean prompt ahead of it fill a step (8,192 - 40 decodes)
    prompts = np.array([100.0, 900.0, 5000.0, 7252.0])
    t_dec = _step(n, 0, 0.0, 0.0)
    behind = _burst_behind(
        _step, n, t_dec, 1500.0, chunk, prompts[None, None, :], 900.0, CO_ARRIVALS_BURSTY
    )
    assert behind.shape == (1, 1, len(CO_ARRIVALS_BURSTY), 4)
    room = 8192.0 - 40.0
    per_token = MS_PER_TOKEN  # the synthetic step is linear in its tokens
    # nobody ahead, nobody behind: nothing added
    assert np.all(behind[0, 0, 0] == 0.0)
    # one mean prompt ahead and one behind a 100-token request: all of it fits
    assert behind[0, 0, 1, 0] == pytest.approx(900.0 * per_token)
    # a request that, with those ahead of it, fills its step leaves no room behind it
    assert behind[0, 0, 1, 3] == 0.0
    assert behind[0, 0, 1, 2] == pytest.approx(900.0 * per_token)
    # never more than the budget the last step has left, nor than the prompts behind
    g = np.asarray(CO_ARRIVALS_BURSTY, dtype=float)[:, None]
    tokens = prompts[None, :] + g * 900.0
    last = tokens - room * (np.ceil(tokens / room) - 1)
    assert np.all(behind[0, 0] <= (room - last) * per_token + 1e-15)
    assert np.all(behind[0, 0] <= g * 900.0 * per_token + 1e-15)
    assert behind[0, 0].max() > 0


def test_the_backlog_adds_its_excess_to_the_slot_waits_mean():
    lam = np.array([[8.0]])
    alone = np.array([[[0.03, 0.06, 0.15]]])
    weights = np.array([0.3, 0.5, 0.2])
    t_dec = np.array([[0.012]])
    slot_p, theta = np.array([[0.02]]), np.array([[5.0]])
    cluster = np.array([[0.5]])
    work = alone[0, 0] - t_dec[0, 0]
    s = float((work * weights).sum())
    cs2 = float((work * work * weights).sum()) / s**2 - 1
    rho = 8.0 * s
    many = np.array([[60.0]])  # replicas enough that none is ever behind with all the others
    p, th = _prefill_backlog(lam, alone, t_dec, weights, cluster, many, slot_p, theta)
    assert float(p[0, 0] / th[0, 0]) == pytest.approx(0.02 / 5.0 + rho * s * 0.5 / (1 - rho))
    assert 0.02 < float(p[0, 0]) < 1.0
    # no batches: the slot wait as it was
    p0, th0 = _prefill_backlog(lam, alone, t_dec, weights, np.zeros((1, 1)), many, slot_p, theta)
    assert float(p0[0, 0]) == pytest.approx(0.02) and float(th0[0, 0]) == pytest.approx(5.0)
    # the Poisson part beyond a step: one replica Pollaczek-Khinchine's, R an M/G/R queue's
    for r in (1, 2, 3):
        got = _prefill_backlog(lam, alone, t_dec, weights, cluster, np.array([[r]]), slot_p, theta)
        mean = float(got[0][0, 0] / got[1][0, 0])
        pooled = _erlang_c(r, r * rho) / r
        want = 0.02 / 5.0 + s * (rho * 0.5 + pooled * (1 + cs2) / 2) / (1 - rho)
        assert mean == pytest.approx(want, rel=2e-3)  # Erlang C to ~1e-3 (Wilson-Hilferty)


@pytest.mark.parametrize("cv2", [1.0, 9.0])
def test_poisson_arrivals_get_no_batch_behind_and_a_backlog_only_behind_every_replica(cv2):
    prompts = np.array([200.0, 900.0, 3000.0])
    weights = np.array([0.3, 0.5, 0.2])
    lp = load_point(
        _step,
        np.array([[30.0]]),
        np.array([[3.0]]),
        np.array([[128.0]]),
        np.array([[8192.0]]),
        1500.0,
        prompts,
        weights,
        300.0,
        0.5,
        cv2,
    )
    if cv2 == 1.0:
        assert lp.behind_s is None
        alone = lp.prefill_jk[..., 0, :]
        service = 299 * lp.t_bar + (alone * weights).sum(-1)
        p, theta = slot_wait(3 * 128.0, np.array([[30.0]]), service, 0.5, 1.0)
        work = alone[0, 0] - lp.t_dec[0, 0]
        s = float((work * weights).sum())
        cs2 = float((work * work * weights).sum()) / s**2 - 1
        rho = 10.0 * s  # 30 req/s over 3 replicas
        backlog = _erlang_c(3, 3 * rho) / 3 * s * (1 + cs2) / 2 / (1 - rho)  # pooled M/G/3
        assert float(lp.slot_p[0, 0] / lp.slot_theta[0, 0]) == pytest.approx(
            float(p[0, 0] / theta[0, 0]) + backlog, rel=2e-3
        )
    else:
        assert lp.behind_s is not None and lp.behind_s.max() > 0
        assert lp.slot_p[0, 0] > 0.01  # the backlog of earlier batches


@pytest.mark.parametrize(
    "alone, weights",
    [
        ([0.02, 0.05, 1.2], [0.7, 0.28, 0.02]),  # a long tail of prompts: fewer wait, longer
        ([0.02, 0.05, 0.30], [0.5, 0.4, 0.1]),  # a short one: as many as are busy, ρ
    ],
)
def test_one_replicas_backlog_matches_the_mg1_waits_first_two_moments(alone, weights):
    """Poisson arrivals at one replica, no slot wait: the backlog's exponential tail, p e^(-θt),
    has the M/G/1 wait's mean (Pollaczek-Khinchine), p/θ = E W, and where the prompts' tail
    makes it heavy, its second moment (Takács), 2p/θ² = E W² = 2 (E W)² + λ E S³ / (3 (1 - ρ));
    never more waiting than busy (p ≤ ρ)."""
    lam = 6.0
    t_dec = 0.012
    work = np.asarray(alone) - t_dec
    w = np.asarray(weights)
    s = float((work * w).sum())
    rho = lam * s
    ew = lam * float((work**2 * w).sum()) / (2 * (1 - rho))
    ew2 = 2 * ew**2 + lam * float((work**3 * w).sum()) / (3 * (1 - rho))
    p, th = _prefill_backlog(
        np.array([[lam]]),
        np.array([[alone]]),
        np.array([[t_dec]]),
        w,
        np.zeros((1, 1)),
        np.array([[1.0]]),
        *np.zeros((2, 1, 1)),
    )
    p, th = float(p[0, 0]), float(th[0, 0])
    # within the Wilson-Hilferty Erlang C's error at one server (~3e-3)
    assert p / th == pytest.approx(ew, rel=5e-3)
    if ew2 > 2 * ew**2 / rho:  # heavier than an exponential with p = ρ holds
        assert 2 * p / th**2 == pytest.approx(ew2, rel=5e-3)
        assert p < rho * 0.95
    else:
        assert p == pytest.approx(rho, rel=5e-3)
