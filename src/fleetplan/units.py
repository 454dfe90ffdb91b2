"""Units and conversions. Nothing else lives here.

GB is 1e9 bytes and GiB is 2**30 bytes; mixing them is the most common error in this field
(see fleetplan/docs/memory.md). A month is 730 hours everywhere.
"""

from __future__ import annotations

GB = 1e9
GIB = float(2**30)
MB = 1e6
MIB = float(2**20)
KIB = 1024.0
TERA = 1e12
HOURS_PER_MONTH = 730.0
SECONDS_PER_HOUR = 3600.0
MS_PER_S = 1000.0


def gib_to_bytes(gib: float) -> float:
    """Convert GiB (2**30 bytes) to bytes."""
    return gib * GIB


def bytes_to_gb(n_bytes: float) -> float:
    """Convert bytes to GB (1e9 bytes)."""
    return n_bytes / GB


def bytes_to_gib(n_bytes: float) -> float:
    """Convert bytes to GiB (2**30 bytes)."""
    return n_bytes / GIB
