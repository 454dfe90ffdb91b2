"""`fewest_replicas` with a tie reach evaluates only the entries that can still tie their
setup's best in whole instances: what `cost_candidates` reads from it (each row's entries with
the fewest instances of every size, their replicas, and whether the row meets the SLOs at all)
is the same as evaluating every entry."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from fleetplan.search.instance_ties import fewest_instances, tie_reach
from fleetplan.search.latency import LatencyModel


class _Threshold(LatencyModel):
    """An entry meets its SLOs from `need` replicas on (where `steps` is false); where `steps`
    is true it meets only at exactly `need` (not monotone: the search must still agree)."""

    def __init__(self, need: np.ndarray, steps: np.ndarray) -> None:
        self.work = SimpleNamespace(slo=SimpleNamespace(targets=[object()]))
        self.need, self.steps = need, steps
        self.calls = 0

    def _meets(self, replicas: np.ndarray, pending: np.ndarray, keep: str = "good") -> np.ndarray:
        self.calls += int(pending.sum())
        ok = np.where(self.steps, replicas == self.need, replicas >= self.need)
        return ok & pending


def test_pruned_search_reads_the_same_as_the_full_one():
    rng = np.random.default_rng(11)
    evaluated = [0, 0]
    for trial in range(300):
        rows = 6
        start = rng.integers(1, 9, size=(rows, 16))
        need = start + rng.choice([0, 0, 0, 1, 2, 5, 40], size=(rows, 16))
        steps = rng.random((rows, 16)) < (0.1 if trial % 2 else 0.0)
        mask = rng.random((rows, 16)) < 0.8
        sizes = [set(rng.choice([0, 1, 2, 3, 4, 8], size=rng.integers(0, 3))) for _ in range(rows)]
        sizes = [{int(z) for z in s} for s in sizes]
        full_model, pruned_model = _Threshold(need, steps), _Threshold(need, steps)
        r_full, f_full = full_model.fewest_replicas(start, mask)
        r_cut, f_cut = pruned_model.fewest_replicas(start, mask, tie_reach(sizes))
        evaluated[0] += full_model.calls
        evaluated[1] += pruned_model.calls
        assert (f_full.any(axis=1) == f_cut.any(axis=1)).all()
        tied_full = fewest_instances(r_full, f_full, sizes)
        tied_cut = fewest_instances(r_cut, f_cut, sizes)
        assert (tied_full == tied_cut).all()
        assert (r_full[tied_full.any(axis=0)] == r_cut[tied_full.any(axis=0)]).all()
        # a row meeting nowhere reads `start` at every entry (the why-not list)
        none = ~f_full.any(axis=1)
        assert (r_full[none] == r_cut[none]).all()
    assert evaluated[1] < 0.8 * evaluated[0]


def test_tie_reach_is_the_largest_count_with_no_more_instances():
    reach = tie_reach([{4}, {3, 4}, {0, 2}, set()])
    got = reach(np.array([[5], [4], [1], [7]]))[:, 0]
    assert got[0] == 8  # 5 replicas take 2 instances of 4; 8 still do
    assert got[1] == 6  # 4 replicas: 2 instances of 3 hold up to 6, 1 of 4 holds 4
    assert got[2] == np.iinfo(np.int64).max  # a free offer: every count costs the same
    assert got[3] == 7
