"""2-fold cross-validation of fit_profiles.py: fit each engine on half its rows, predict the rest.

python benchmarks/accuracy/crossval.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import fit_profiles as fp

from fleetplan.accuracy.calibrate import relative_errors, summarize
from fleetplan.accuracy.rows import GROUPS, read_rows_csv
from fleetplan.catalog import load_catalog


def main() -> None:
    cat = load_catalog()
    rows_all = read_rows_csv(fp.HERE / "measurements.csv")
    held: dict[str, tuple[str, float]] = {}
    for engine_id, plan in fp.PLAN.items():
        rows = [r for r in rows_all if r.engine == engine_id]
        eng = cat.engine(engine_id)
        lo = np.array([p[1] for p in plan])
        hi = np.array([p[2] for p in plan])
        x0 = np.array([fp.start_value(eng, t, a, b) for t, a, b in plan])
        for k in (0, 1):
            train, test = rows[k::2], rows[1 - k :: 2]

            def res(x, train=train, eng=eng, plan=plan):
                return np.log1p(relative_errors(train, cat, fp.apply(eng, plan, x)))

            sol = least_squares(res, x0, bounds=(lo, hi), diff_step=1e-3)
            errs = relative_errors(test, cat, fp.apply(eng, plan, sol.x))
            for r, e in zip(test, errs, strict=True):
                held[r.row_id] = (r.group, float(e))
    print("held-out |error| (2-fold, per engine):")
    for g in GROUPS:
        s = summarize(np.array([e for gg, e in held.values() if gg == g]))
        n = sum(gg == g for gg, _ in held.values())
        print(f"  {g:<14}{n:>4} rows  median {s['median']:.1f} %  p90 {s['p90']:.1f} %  "
              f"worst {s['worst']:.1f} %")  # fmt: skip


if __name__ == "__main__":
    main()
