"""Accuracy of `fleetplan perf` against published measurements.

    python benchmarks/accuracy/report.py [--worst N] [--csv PATH] [--catalog FILE]

Predicts every used row of measurements.csv under the scheduler and normalization its source
used (fleetplan.accuracy.predict) and prints, per metric group (output tokens/s, TTFT, time per
output token), the median, 90th percentile and worst absolute percentage error, a table of the
worst rows and the time per prediction.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from fleetplan.accuracy.calibrate import summarize
from fleetplan.accuracy.predict import predict_rows
from fleetplan.accuracy.rows import GROUPS, read_rows_csv
from fleetplan.catalog import load_catalog

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description="accuracy of fleetplan perf vs measurements")
    ap.add_argument("--csv", default=str(HERE / "measurements.csv"))
    ap.add_argument("--worst", type=int, default=10)
    ap.add_argument("--catalog", action="append", default=[])
    args = ap.parse_args()
    cat = load_catalog(*args.catalog)
    rows = read_rows_csv(args.csv)
    predict_rows(rows[:1], cat)  # warm the catalog cache before timing
    t0 = time.perf_counter()
    preds = predict_rows(rows, cat)
    per_row_ms = (time.perf_counter() - t0) / len(rows) * 1e3
    print(f"fleetplan perf vs {len(rows)} published measurements ({Path(args.csv).name})")
    print(f"{'metric':<14}{'rows':>6}{'median':>9}{'p90':>9}{'worst':>9}   (absolute % error)")
    for group in GROUPS:
        errs = np.array([p.error for p in preds if p.row.group == group])
        if errs.size == 0:
            continue
        s = summarize(errs)
        print(f"{group:<14}{errs.size:>6}{s['median']:>8.1f}%{s['p90']:>8.1f}%{s['worst']:>8.1f}%")
    s = summarize(np.array([p.error for p in preds]))
    print(f"{'all':<14}{len(preds):>6}{s['median']:>8.1f}%{s['p90']:>8.1f}%{s['worst']:>8.1f}%")
    by_engine = sorted({p.row.engine for p in preds})
    print("\nper engine (all metrics): " + "; ".join(
        f"{e} {summarize(np.array([p.error for p in preds if p.row.engine == e]))['median']:.1f} %"
        f" median over {sum(p.row.engine == e for p in preds)}"
        for e in by_engine
    ))  # fmt: skip
    print(f"\nworst {args.worst} rows (signed error = predicted / measured - 1):")
    print(f"{'row':>4} {'engine':<13}{'model':<12}{'prec':<12}{'gpu':<13}{'tp':>2} "
          f"{'in/out':>10} {'batch':>5} {'metric':<25}{'measured':>10}{'predicted':>11}"
          f"{'err':>8}")  # fmt: skip
    for p in sorted(preds, key=lambda p: -abs(p.error))[: args.worst]:
        r = p.row
        print(
            f"{r.row_id:>4} {r.engine:<13}{r.model:<12}{r.precision:<12}{r.gpu:<13}{r.tp:>2} "
            f"{f'{r.input_len}/{r.output_len}':>10} {r.batch:>5} {r.metric:<25}"
            f"{r.value:>10.4g}{p.predicted:>11.4g}{100 * p.error:>+7.1f}%"
        )
    print(f"\ntime per prediction: {per_row_ms:.2f} ms (in-process, {len(rows)} rows)")


if __name__ == "__main__":
    main()
