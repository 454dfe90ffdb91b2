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
