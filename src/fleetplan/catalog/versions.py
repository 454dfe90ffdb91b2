"""Release version strings as comparable tuples (engine families' version ranges)."""

from __future__ import annotations


def version_tuple(text: str) -> tuple[int, ...]:
    """'0.6.3' -> (0, 6, 3); non-numeric suffixes ('0.8.5rc1', '1.0.0.post1') are dropped."""
    parts = []
    for piece in text.strip().lstrip("v").split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
