"""2-fold cross-validation of fit_profiles.py: fit each engine on half its rows, predict the rest.

python benchmarks/accuracy/crossval.py
"""

import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
import fit_profiles as F
from scipy.optimize import least_squares

from fleetplan.accuracy.calibrate import relative_errors
from fleetplan.accuracy.rows import read_rows_csv
from fleetplan.catalog import load_catalog

cat = load_catalog()
allr = read_rows_csv(F.HERE / "measurements.csv")
errs = {}
for e, plan in F.PLAN.items():
    rows = [r for r in allr if r.engine == e]
    eng = cat.engine(e)
    for k in (0, 1):
        tr, te = rows[k::2], rows[1 - k :: 2]
        x0 = np.array([F.start_value(eng, t, lo, hi) for t, lo, hi in plan])
        lo = np.array([p[1] for p in plan])
        hi = np.array([p[2] for p in plan])
        sol = least_squares(
            lambda x: np.log1p(relative_errors(tr, cat, F.apply(eng, plan, x))),
            x0,
            bounds=(lo, hi),
            diff_step=1e-3,
        )
        for r, er in zip(te, relative_errors(te, cat, F.apply(eng, plan, sol.x))):
            errs[r.row_id] = (r.group, er)
for g in ("output tok/s", "TTFT", "TPOT"):
    a = np.abs([er for gg, er in errs.values() if gg == g]) * 100
    print(
        g, len(a), "median %.1f p90 %.1f worst %.1f" % (np.median(a), np.percentile(a, 90), a.max())
    )
