"""Plain-text tables for the terminal (tabulate), shared by every command's table output."""

from __future__ import annotations

from typing import Any


def table(title: str, columns: list[tuple[str, str]], rows: list[list[Any]]) -> str:
    """A plain-text table under its title; columns are (header, "left" or "right")."""
    from tabulate import tabulate

    body = tabulate(
        [[str(x) for x in row] for row in rows],
        headers=[header for header, _ in columns],
        colalign=[justify for _, justify in columns],
        disable_numparse=True,
    )
    return f"{title}\n{body}"


def price_text(usd: float, places: int = 6) -> str:
    """A unit price as a price list writes it: at least two decimals (1.60, 0.95) and as many
    more as it has, up to `places` ($0.625/1M, not $0.62; 9.31 / 3 = 3.103333 a GPU-hour),
    without the dollar sign."""
    text = f"{usd:,.{places}f}".rstrip("0")
    return text + "0" * max(0, 2 - len(text.partition(".")[2]))


def small_usd_text(usd: float, digits: int = 3) -> str:
    """A small dollar figure ($/request) to `digits` significant digits, in plain decimals:
    0.0000405 and 0.0646, never 0.0000 for a figure below the fourth decimal."""
    import math

    if usd == 0 or not math.isfinite(usd):
        return f"{usd:.2f}"
    places = max(2, digits - 1 - math.floor(math.log10(abs(usd))))
    return f"{usd:,.{places}f}"
