"""Traffic history in: the gateway's SQLite log, a CSV or JSONL of requests, or hourly counts.

Request rows need a timestamp (epoch seconds or ISO-8601) and may carry token counts; the
OpenAI usage names (`prompt_tokens`, `completion_tokens`, also nested as `usage.…`) and a few
common timestamp names are recognised, and `columns` maps any other name
(`{"timestamp": "created_at"}`). Hourly counts are rows of a timestamp and `requests` (or
`count`). Every malformed row is reported with its line number.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fleetplan.errors import InputError

F64 = NDArray[np.float64]
FIELDS = ("timestamp", "input_tokens", "output_tokens", "requests")
ALIASES = {
    "timestamp": ("timestamp", "ts", "ts_s", "time", "created", "created_at", "start_time", "hour"),
    "input_tokens": ("input_tokens", "prompt_tokens", "usage.prompt_tokens", "usage.input_tokens"),
    "output_tokens": (
        "output_tokens",
        "completion_tokens",
        "usage.completion_tokens",
        "usage.output_tokens",
    ),
    "requests": ("requests", "count", "request_count"),
}
MAX_ROWS = 20_000_000
MAX_COUNT = 1e12  # per row: requests in an hour or tokens in a request; past it, a typo
MAX_HOURS = 24 * 366 * 5


@dataclass(frozen=True)
class Requests:
    """Request rows in time order: seconds since the first, token counts (0 where absent)."""

    start_epoch_s: float
    t_s: F64
    input_tokens: F64
    output_tokens: F64
    basis: str


@dataclass(frozen=True)
class History:
    """Requests per hour from the hour of the first row, gaps filled with zero."""

    start_epoch_s: float  # the first hour's start (UTC)
    counts_per_hour: F64
    mean_input_tokens: float | None
    mean_output_tokens: float | None
    basis: str

    @property
    def start_weekday(self) -> int:
        return datetime.fromtimestamp(self.start_epoch_s, UTC).weekday()

    @property
    def hours(self) -> int:
        return len(self.counts_per_hour)


def parse_time(value: Any, where: str) -> float:
    """Epoch seconds from a number or an ISO-8601 text (UTC where no offset is given)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        x = float(value)
    else:
        text = str(value).strip()
        try:
            x = float(text)
        except ValueError:
            try:
                d = datetime.fromisoformat(text.replace(" ", "T", 1) if " " in text else text)
            except ValueError:
                raise InputError(
                    f"{where}: timestamp {text!r} is neither epoch seconds nor ISO-8601"
                ) from None
            if d.tzinfo is None:
                d = d.replace(tzinfo=UTC)
            return d.timestamp()
    if not math.isfinite(x) or x < 0:
        raise InputError(f"{where}: timestamp {value!r} must be finite epoch seconds >= 0")
    return x


def lookup(row: dict[str, Any], name: str) -> Any:
    if name in row:
        return row[name]
    obj: Any = row
    for part in name.split("."):  # nested JSON: usage.prompt_tokens
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _resolve(keys: list[str], columns: dict[str, str], path: Path) -> dict[str, str]:
    bad = sorted(set(columns) - set(FIELDS))
    if bad:
        raise InputError(
            f"--columns: unknown field {bad[0]!r}; accepted: {', '.join(FIELDS)} (FIELD=COLUMN)"
        )
    found: dict[str, str] = {}
    for field in FIELDS:
        if field in columns:
            found[field] = columns[field]
            continue
        for alias in ALIASES[field]:
            if alias in keys or ("." in alias and alias.split(".")[0] in keys):
                found[field] = alias
                break
    if "timestamp" not in found:
        raise InputError(
            f"{path}: no timestamp column (looked for {', '.join(ALIASES['timestamp'])}); "
            "name it with --columns timestamp=COLUMN"
        )
    return found


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """The column names and the (line number, row) pairs of a CSV or JSONL file."""
    from fleetplan.files import MAX_TABLE_BYTES, read_text

    text = read_text(path, "file", MAX_TABLE_BYTES)
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        keys: set[str] = set()
        for no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {no}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path} line {no}: expected a JSON object")
            keys.update(obj)
            rows.append((no, obj))
            if len(rows) > MAX_ROWS:
                raise InputError(f"{path}: more than {MAX_ROWS:,} rows")
        return sorted(keys), rows
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        raise InputError(f"{path} line 1: empty file; expected a header row")
    for row in reader:
        if None in row:
            raise InputError(f"{path} line {reader.line_num}: more fields than the header")
        rows.append((reader.line_num, dict(row)))
        if len(rows) > MAX_ROWS:
            raise InputError(f"{path}: more than {MAX_ROWS:,} rows")
    return list(reader.fieldnames), rows


def _count(value: Any, where: str, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {name} = {value!r} is not a number") from None
    if not math.isfinite(x) or x < 0 or x > MAX_COUNT or x != int(x):
        # 1e300 passed and the model failed later with "did not converge", naming no row
        raise InputError(
            f"{where}: {name} = {value!r}; expected a whole number from 0 to {MAX_COUNT:.0e}"
        )
    return x


def read_requests(path: str | Path, columns: dict[str, str] | None = None) -> Requests:
    """Request rows of a CSV/JSONL file or a gateway SQLite log, in time order."""
    p = Path(path)
    if p.suffix.lower() in (".sqlite", ".sqlite3", ".db"):
        return _gateway_log(p)
    keys, rows = read_rows(p)
    if not rows:
        raise InputError(f"{p}: no rows")
    col = _resolve(keys, columns or {}, p)
    t = np.empty(len(rows))
    ins, outs = np.zeros(len(rows)), np.zeros(len(rows))
    for i, (no, row) in enumerate(rows):
        where = f"{p} line {no}"
        value = lookup(row, col["timestamp"])
        if value is None or value == "":
            raise InputError(f"{where}: missing {col['timestamp']}")
        t[i] = parse_time(value, where)
        for field, arr in (("input_tokens", ins), ("output_tokens", outs)):
            if field in col:
                v = lookup(row, col[field])
                if v is not None and v != "":
                    arr[i] = _count(v, where, col[field])
    order = np.argsort(t, kind="stable")
    t, ins, outs = t[order], ins[order], outs[order]
    basis = (
        f"{p.name}: {len(t):,} requests (columns: "
        + ", ".join(f"{k}={v}" for k, v in col.items())
        + ")"
    )
    return Requests(float(t[0]), t - t[0], ins, outs, basis)


def _gateway_log(p: Path) -> Requests:
    if not p.exists():
        raise InputError(f"gateway log {str(p)!r} does not exist")
    try:
        con = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            got = con.execute(
                "SELECT ts_s, input_tokens, output_tokens FROM requests ORDER BY ts_s"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{p}: not a fleetplan gateway log ({exc})") from None
    if not got:
        raise InputError(f"{p}: the gateway log has no requests")
    a = np.array([[r[0] or 0.0, r[1] or 0.0, r[2] or 0.0] for r in got], dtype=np.float64)
    if not np.isfinite(a).all():
        raise InputError(f"{p}: the gateway log holds non-finite values")
    return Requests(float(a[0, 0]), a[:, 0] - a[0, 0], a[:, 1], a[:, 2], f"{p.name}: gateway log")


def read_history(path: str | Path, columns: dict[str, str] | None = None) -> History:
    """Requests per hour: from hourly counts (a `requests`/`count` column) or request rows."""
    p = Path(path)
    if p.suffix.lower() not in (".sqlite", ".sqlite3", ".db"):
        keys, rows = read_rows(p)
        cols = columns or {}
        if "requests" in cols or any(a in keys for a in ALIASES["requests"]):
            return _hourly(p, keys, rows, cols)
    r = read_requests(p, columns)
    start = math.floor(r.start_epoch_s / 3600) * 3600
    hour = ((r.t_s + r.start_epoch_s - start) // 3600).astype(np.int64)
    if hour[-1] + 1 > MAX_HOURS:
        raise InputError(f"{p}: spans {hour[-1] + 1:,} hours; at most {MAX_HOURS:,} (5 years)")
    counts = np.bincount(hour, minlength=int(hour[-1]) + 1).astype(np.float64)
    mean_in = float(r.input_tokens.mean()) if r.input_tokens.any() else None
    mean_out = float(r.output_tokens.mean()) if r.output_tokens.any() else None
    return History(float(start), counts, mean_in, mean_out, r.basis)


def _hourly(
    p: Path, keys: list[str], rows: list[tuple[int, dict[str, Any]]], columns: dict[str, str]
) -> History:
    col = _resolve(keys, columns, p)
    if not rows:
        raise InputError(f"{p}: no rows")
    hours, counts = [], []
    for no, row in rows:
        where = f"{p} line {no}"
        ts = lookup(row, col["timestamp"])
        if ts is None or ts == "":
            raise InputError(f"{where}: missing {col['timestamp']}")
        hours.append(math.floor(parse_time(ts, where) / 3600))
        counts.append(_count(lookup(row, col["requests"]), where, col["requests"]))
    h0 = min(hours)
    span = max(hours) - h0 + 1
    if span > MAX_HOURS:
        raise InputError(f"{p}: spans {span:,} hours; at most {MAX_HOURS:,} (5 years)")
    out = np.zeros(span)
    for h, c in zip(hours, counts, strict=True):
        out[h - h0] += c
    return History(h0 * 3600.0, out, None, None, f"{p.name}: {len(rows):,} hourly counts")
