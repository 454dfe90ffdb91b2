"""Reading a request trace (CSV or JSONL rows of timestamp, input_tokens, output_tokens and an
optional prefix_id); timestamps in epoch seconds or ISO-8601, OpenAI's prompt_tokens and
completion_tokens accepted; every malformed row is named by its line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from fleetplan.errors import InputError
from fleetplan.forecast.history import ALIASES, lookup, parse_time, read_rows

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


def _trace_rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    keys, rows = read_rows(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        names = set(keys)
        if not all(any(a in names for a in ALIASES[k]) for k in NEEDED):
            raise InputError(
                f"{path} line 1: header must name timestamp, input_tokens, output_tokens"
                "[, prefix_id] (or OpenAI's prompt_tokens, completion_tokens); got "
                f"{', '.join(keys)}"
            )
    return rows


NEEDED = ("timestamp", "input_tokens", "output_tokens")


def _canonical(row: dict[str, object]) -> dict[str, object]:
    """A row with fleetplan's names: OpenAI usage names (also nested under `usage`) and common
    timestamp names mapped (forecast.history.ALIASES)."""
    out = dict(row)
    for key in NEEDED:
        if out.get(key) not in (None, ""):
            continue
        for alias in ALIASES[key]:
            value = lookup(row, alias)
            if value not in (None, ""):
                out[key] = value
                break
    return out


def _num(path: Path, no: int, row: dict[str, object], key: str) -> float:
    value = row.get(key)
    if value is None or value == "":
        raise InputError(f"{path} line {no}: missing {key}")
    try:
        x = float(str(value).strip())  # a JSON true is no number: str() makes it 'True'
    except ValueError:
        raise InputError(f"{path} line {no}: {key} = {value!r} is not a number") from None
    if not np.isfinite(x):
        raise InputError(f"{path} line {no}: {key} = {value!r} is not finite")
    return x


def _tokens(path: Path, no: int, row: dict[str, object], key: str) -> int:
    """A token count: a whole number (10, 10.0, 1e3) of at least 1. No upper bound here: a
    request longer than the model's context is shortened by the simulator, with a note."""
    x = _num(path, no, row, key)
    if x != int(x) or x < 1:
        what = "is not a whole number" if x != int(x) else "is below 1"
        raise InputError(
            f"{path} line {no}: {key} = {row[key]!r} {what}; accepted: a whole number >= 1"
        )
    return int(x)


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
    for no, raw in rows:
        row = _canonical(raw)
        if row.get("timestamp") in (None, ""):
            raise InputError(f"{p} line {no}: missing timestamp")
        ts = parse_time(row["timestamp"], f"{p} line {no}")
        i = _tokens(p, no, row, "input_tokens")
        o = _tokens(p, no, row, "output_tokens")
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
