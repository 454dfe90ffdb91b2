"""Shared pieces of the validation-set derivation: the CSV columns and table helpers."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES_DIR = HERE / "sources"
VALIDATION_CSV = HERE / "validation.csv"

COLUMNS = [
    "row_id",
    "source_id",
    "source_url",
    "source_title",
    "source_date",
    "engine",
    "engine_version",
    "model_hf",
    "weight_precision",
    "kv_precision",
    "gpu",
    "num_gpus",
    "tp",
    "pp",
    "ep",
    "input_tokens",
    "output_tokens",
    "load_kind",
    "load_value",
    "metric",
    "stat",
    "value",
    "unit",
    "per",
    "normalization",
    "notes",
]


def cells(line: str) -> list[str]:
    line = line.strip()
    return [c.strip() for c in line[1:-1].split("|")]


def table_lines(path: Path) -> Iterator[str]:
    for line in path.read_text().splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| :]+\|$", line):
            yield line


def number(cell: str) -> str | None:
    """The published figure as written (thousands separators dropped), None for an empty cell."""
    cell = cell.replace(",", "").strip()
    if not cell:
        return None
    float(cell)  # raises on anything that is not a number
    return cell


def row(**kw: object) -> dict[str, str]:
    row = {c: "" for c in COLUMNS}
    for key, val in kw.items():
        if key not in row:
            raise KeyError(key)
        row[key] = "" if val is None else str(val)
    return row


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
