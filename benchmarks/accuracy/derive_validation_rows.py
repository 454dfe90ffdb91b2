"""Re-derive the validation rows that come from public tables copied into sources/.

Each file in benchmarks/accuracy/sources/ is a verbatim copy (whitespace compacted) of a table
from a public document whose URL is in the file's first line. This script turns those tables
into rows of validation.csv: it replaces the rows of the sources it owns and keeps every other
row (rows transcribed by hand from sources too small to copy) as they are.

    python benchmarks/accuracy/derive_validation_rows.py          # rewrite validation.csv
    python benchmarks/accuracy/derive_validation_rows.py --check  # exit 1 if the CSV differs
"""

from __future__ import annotations

import argparse
import sys

from validation_rows_common import SOURCES_DIR, VALIDATION_CSV, read_csv, write_csv
from validation_rows_dstack import dstack_mi300x_405b, dstack_offline, dstack_online
from validation_rows_lmdeploy import lmdeploy_a100_static
from validation_rows_trtllm import trtllm_serving_v014, trtllm_v017, trtllm_v061, trtllm_v10

DERIVERS = {
    "trtllm-perf-overview-v0.17": trtllm_v017,
    "trtllm-perf-overview-v1.0": trtllm_v10,
    "trtllm-perf-overview-serving-v0.14": trtllm_serving_v014,
    "trtllm-performance-md-v0.5-v0.6.1": trtllm_v061,
    "lmdeploy-turbomind-a100-fp16-v0.1.0a1": lmdeploy_a100_static,
    "dstack-mi300x-vllm-llama31-405b": dstack_mi300x_405b,
    "dstack-deepseek-r1-mi300x-h200": lambda: [*dstack_online(), *dstack_offline()],
}


def derived_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for source_id, derive in DERIVERS.items():
        for n, row in enumerate(derive(), start=1):
            row["row_id"] = f"{source_id}-{n:03d}"
            rows.append(row)
    return rows


def merged_rows(existing: list[dict[str, str]]) -> list[dict[str, str]]:
    kept = [r for r in existing if r["source_id"] not in DERIVERS]
    return derived_rows() + kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, do not write")
    args = parser.parse_args(argv)
    existing = read_csv(VALIDATION_CSV)
    rows = merged_rows(existing)
    if args.check:
        if rows != existing:
            print(f"{VALIDATION_CSV} differs from the tables in {SOURCES_DIR}", file=sys.stderr)
            return 1
        print(f"{VALIDATION_CSV}: {len(rows)} rows, tables agree")
        return 0
    write_csv(VALIDATION_CSV, rows)
    print(f"wrote {len(rows)} rows to {VALIDATION_CSV}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
