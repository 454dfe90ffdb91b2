"""Reading a request trace (CSV or JSONL rows of timestamp, input_tokens, output_tokens and an
optional prefix_id); every malformed row is named by its line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fleetplan.errors import InputError

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


def _trace_rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"cannot read trace {path}: {exc.strerror}") from None
    rows: list[tuple[int, dict[str, object]]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {no}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path} line {no}: expected a JSON object")
            rows.append((no, obj))
        return rows
    reader = csv.DictReader(text.splitlines())
    need = {"timestamp", "input_tokens", "output_tokens"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise InputError(
            f"{path} line 1: header must name timestamp, input_tokens, output_tokens"
            f"[, prefix_id]; got {', '.join(reader.fieldnames or [])}"
        )
    for row in reader:
        if None in row:
            raise InputError(f"{path} line {reader.line_num}: more fields than the header")
        rows.append((reader.line_num, dict(row)))
    return rows


def _num(path: Path, no: int, row: dict[str, object], key: str, kind: type) -> float:
    value = row.get(key)
    if value is None or value == "":
        raise InputError(f"{path} line {no}: missing {key}")
    try:
        x = float(value) if kind is float else int(str(value).strip())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{path} line {no}: {key} = {value!r} is not a number") from None
    if not np.isfinite(x):
        raise InputError(f"{path} line {no}: {key} = {value!r} is not finite")
    return x


def read_trace(path: str | Path) -> tuple[F64, I64, I64, I64]:
    """Times (from the first row), input and output tokens, prefix ids of a trace file.

    Raises InputError naming the line of the first malformed row."""
    p = Path(path)
    rows = _trace_rows(p)
    if not rows:
        raise InputError(f"{p}: the trace has no requests")
    t, ins, outs, pids = [], [], [], []
    prefix_names: dict[str, int] = {}
    last = -np.inf
    for no, row in rows:
        ts = _num(p, no, row, "timestamp", float)
        i = int(_num(p, no, row, "input_tokens", int))
        o = int(_num(p, no, row, "output_tokens", int))
        if i < 1 or o < 1:
            raise InputError(f"{p} line {no}: token counts must be >= 1 (got {i}, {o})")
        if ts < last:
            raise InputError(f"{p} line {no}: timestamp {ts} is earlier than the line before")
        last = ts
        pid = row.get("prefix_id")
        if pid is None or pid == "":
            pids.append(-1)
        else:
            pids.append(prefix_names.setdefault(str(pid), len(prefix_names)))
        t.append(ts)
        ins.append(i)
        outs.append(o)
    times = np.asarray(t, dtype=np.float64)
    return (
        times - times[0],
        np.asarray(ins, dtype=np.int64),
        np.asarray(outs, dtype=np.int64),
        np.asarray(pids, dtype=np.int64),
    )
