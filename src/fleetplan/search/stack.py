"""Stack many `Setup`s into one whose numeric fields are column arrays.

`perf.roofline.step_s` broadcasts over its inputs, so a stacked setup (n, 1) evaluated at a row
of batch sizes (1, m) gives an (n, m) table of step times in one call: the search evaluates all
its candidates as arrays. The tensor parallel degree stacks as a column too (the all-reduce
takes an array of degrees); the engine's numbers are already in the setup's own fields.
"""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from types import SimpleNamespace
from typing import Any

import numpy as np

from fleetplan.perf.roofline import Setup


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.floating) and not isinstance(v, bool)


_NUMBER_TYPES = frozenset({int, float, np.float64})


def _stack_values(values: list[Any]) -> Any:
    first = values[0]
    if type(first) in _NUMBER_TYPES and set(map(type, values)) <= _NUMBER_TYPES:
        # numbers (the most fields): compared and stacked as one array
        column = np.array(values, dtype=np.float64)
        if (column == column[0]).all():
            return first
        return column[:, None]
    if all(v is first or v == first for v in values):
        return first
    if all(_is_number(v) for v in values):
        return np.array(values, dtype=np.float64)[:, None]
    return None  # differs and is not numeric: handled by the caller


def stack(setups: list[Setup]) -> Setup:
    """One Setup standing for all of `setups` (which must share the model) in the step
    formulas; its `precision` and `engine` are the first setup's, for labels only."""
    out: dict[str, Any] = {}
    names = [f.name for f in fields(Setup)]
    # every field of every setup in one pass, then a list of values per field
    columns = zip(*map(attrgetter(*names), setups), strict=True)
    for f, values in zip(fields(Setup), map(list, columns), strict=True):
        stacked = _stack_values(values)
        if stacked is None:
            if f.name == "gpu":
                stacked = _stack_namespace(values)
            elif f.name in {"precision", "engine", "notes", "compute_format", "emulated"}:
                # not read by the step formulas (the engine's numbers are in the setup's own
                # fields): kept for labels
                stacked = values[0]
            else:
                raise ValueError(f"cannot stack Setup.{f.name}: it differs across setups")
        out[f.name] = stacked
    return Setup(**out)


def _stack_namespace(objs: list[Any]) -> SimpleNamespace:
    """A GPU stand-in whose numeric attributes are column arrays and whose other differing
    ones (names, tables) are arrays of objects, one per row, so `take` picks rows of either
    at C speed (each distinct object's attributes are read once: thousands of setups share
    a few dozen GPUs)."""
    index: dict[int, int] = {}
    distinct: list[Any] = []
    rows = []
    for o in objs:
        i = index.get(id(o))
        if i is None:
            i = index[id(o)] = len(distinct)
            distinct.append(o)
        rows.append(i)
    where = np.array(rows)
    ns = SimpleNamespace()
    for f in fields(objs[0]):
        values = [getattr(o, f.name) for o in distinct]
        stacked = _stack_values(values)
        if isinstance(stacked, np.ndarray):
            stacked = stacked[where]
        elif stacked is None:  # differs, not a number (names, tables): one object per row
            held = np.empty(len(distinct), dtype=object)
            for i, v in enumerate(values):
                held[i] = v
            stacked = held[where]
        setattr(ns, f.name, stacked)
    return ns


def take(s: Setup, rows: np.ndarray) -> Setup:
    """The stacked setup `s` (column arrays of n rows) at `rows` (indices, repeats allowed):
    one row per entry, so a search can evaluate only the (setup, batch) entries it needs."""
    out: dict[str, Any] = {}
    for f in fields(Setup):
        v = getattr(s, f.name)
        if isinstance(v, SimpleNamespace):
            v = SimpleNamespace(**{k: _take_value(x, rows) for k, x in vars(v).items()})
        out[f.name] = _take_value(v, rows)
    return Setup(**out)


def _take_value(v: Any, rows: np.ndarray) -> Any:
    if isinstance(v, np.ndarray) and (v.ndim == 2 or v.dtype == object):
        return v[rows]
    return v


def distinct_rows(s: Setup, *columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the stacked setup `s` that the step formulas can tell apart, with `columns`
    ((n, 1) arrays: what else an evaluation reads per row) alongside: (the first row of each
    distinct kind, ascending; for every row, the index of its kind among them). Rows alike in
    every number the formulas read (engines or precisions that differ only in name on a GPU)
    are then evaluated once."""
    columns_of_s = (getattr(s, f.name) for f in fields(Setup))
    numbers = [v for v in columns_of_s if isinstance(v, np.ndarray) and v.ndim == 2]
    gpu = s.gpu
    if isinstance(gpu, SimpleNamespace):
        numbers += [v for v in vars(gpu).values() if isinstance(v, np.ndarray) and v.ndim == 2]
    n = max((c.shape[0] for c in (*numbers, *columns)), default=1)
    table = np.hstack(
        [np.broadcast_to(c, (n, 1)) for c in (*numbers, *columns)] or [np.zeros((n, 1))]
    )
    _, first, inverse = np.unique(table, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[inverse.reshape(-1)]
