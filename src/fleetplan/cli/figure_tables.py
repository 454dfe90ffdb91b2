"""Key figures as a table a reader can use: a label with its unit, a formatted value, and the
basis — never a raw field name, an empty header, "None" or a bare fraction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleetplan.cli.common import print_json, table


def usd(x: float) -> str:
    return f"{'-' if x < 0 else ''}${abs(x):,.2f}"  # -$96.72, as money is written, not $-96.72


def usd_rate(x: float) -> str:
    return f"{'-' if x < 0 else ''}${abs(x):,.4f}"


def pct(x: float) -> str:
    return f"{x:.1%}"


def count(x: float) -> str:
    return f"{x:,.0f}"


def num(x: float) -> str:
    return f"{x:,.2f}"


# (record key, label with unit, formatter, basis)
Field = tuple[str, str, Callable[[Any], str], str]


def show_figures(
    title: str,
    record: dict[str, Any],
    fields: list[Field],
    as_json: bool,
    notes: list[str] | None = None,
) -> None:
    """Print `record` as JSON, or the listed fields as a labelled table (absent values say why
    in the basis column instead of printing None)."""
    if as_json:
        print_json(record)
        return
    rows = []
    for key, label, fmt, basis in fields:
        value = record.get(key)
        if value is None:
            rows.append([label, "-", basis or "not computed for these inputs"])
        else:
            rows.append([label, fmt(value), basis])
    print(table(title, [("figure", "left"), ("value", "right"), ("basis", "left")], rows))
    if notes:
        print("\n".join(n for n in notes if n))
