"""Workload: traffic, request-length distributions and SLOs, parsed from a scenario file.

Length distributions may be given as summary percentiles (mean, p50, p95, p99), as a lognormal
(median and sigma), or as an empirical histogram from a CSV of request lengths. Each becomes a
`Lengths` with mean, p50, p95, p99 and a standard deviation, which is what sizing needs.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fleetplan.errors import InputError

Z95, Z99 = 1.6448536269514722, 2.3263478740408408


@dataclass(frozen=True)
class Lengths:
    """A request-length distribution (tokens) summarized for sizing."""

    mean: float
    p50: float
    p95: float
    p99: float
    std: float
    basis: str

    def scaled(self, factor: float) -> Lengths:
        return Lengths(
            self.mean * factor,
            self.p50 * factor,
            self.p95 * factor,
            self.p99 * factor,
            self.std * factor,
            self.basis,
        )


def fixed(tokens: float) -> Lengths:
    return Lengths(tokens, tokens, tokens, tokens, 0.0, f"fixed {tokens:g} tokens")


def lognormal(median: float, sigma: float) -> Lengths:
    """A lognormal with the given median and log-space sigma."""
    mean = median * math.exp(sigma**2 / 2)
    var = (math.exp(sigma**2) - 1) * mean**2
    return Lengths(
        mean=mean,
        p50=median,
        p95=median * math.exp(Z95 * sigma),
        p99=median * math.exp(Z99 * sigma),
        std=math.sqrt(var),
        basis=f"lognormal(median {median:g}, sigma {sigma:g})",
    )


def from_percentiles(
    field: str,
    mean: float | None = None,
    p50: float | None = None,
    p95: float | None = None,
    p99: float | None = None,
) -> Lengths:
    """Summary statistics as given; missing ones from a lognormal through those given."""
    given = {k: v for k, v in {"mean": mean, "p50": p50, "p95": p95, "p99": p99}.items() if v}
    for k, v in given.items():
        if not v > 0:
            raise InputError(f"{field}.{k} = {v}; expected a positive number of tokens")
    order = [k for k in ("p50", "p95", "p99") if k in given]
    for a, b in itertools.pairwise(order):
        if given[b] < given[a]:
            raise InputError(
                f"{field}.{b} = {given[b]:g} is below {field}.{a} = {given[a]:g}; "
                "percentiles must not decrease"
            )
    if not given:
        raise InputError(f"{field}: give at least one of mean, p50, p95, p99")
    if len(given) == 1 and "mean" in given:
        return fixed(given["mean"])
    # fit a lognormal to what is given: median from p50 (or mean), sigma from a tail percentile
    median = given.get("p50")
    sigma = None
    if median and "p95" in given:
        sigma = math.log(given["p95"] / median) / Z95
    elif median and "p99" in given:
        sigma = math.log(given["p99"] / median) / Z99
    elif median and "mean" in given:
        ratio = given["mean"] / median
        sigma = math.sqrt(2 * math.log(ratio)) if ratio > 1 else 0.0
    elif "mean" in given and ("p95" in given or "p99" in given):
        # solve mean = m·exp(s²/2), pXX = m·exp(z·s) for s: s²/2 − z·s + ln(pXX/mean) = 0
        key, z = ("p95", Z95) if "p95" in given else ("p99", Z99)
        c = math.log(given[key] / given["mean"])
        disc = z * z - 2 * c
        if disc < 0 or c < 0:
            raise InputError(
                f"{field}: mean {given['mean']:g} and {key} {given[key]:g} fit no lognormal "
                "(the tail percentile must be above the mean); give p50 too"
            )
        sigma = z - math.sqrt(disc)
        median = given["mean"] / math.exp(sigma**2 / 2)
    else:
        median = median or given.get("p95") or given.get("p99")
        sigma = 0.0
    assert median is not None and sigma is not None
    fitted = lognormal(median, sigma)
    return Lengths(
        mean=given.get("mean", fitted.mean),
        p50=given.get("p50", fitted.p50),
        p95=given.get("p95", fitted.p95),
        p99=given.get("p99", fitted.p99),
        std=fitted.std,
        basis="given percentiles" + ("" if len(given) == 4 else f"; others from {fitted.basis}"),
    )


def from_samples(samples: np.ndarray, basis: str) -> Lengths:
    s = np.asarray(samples, dtype=float)
    p50, p95, p99 = np.percentile(s, [50, 95, 99])
    return Lengths(float(s.mean()), float(p50), float(p95), float(p99), float(s.std()), basis)


def from_csv(path: str | Path, column: str) -> Lengths:
    """Empirical distribution from a CSV with one row per request (a `column` of tokens)."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise InputError(
                    f"lengths CSV {str(p)!r} has no column {column!r}; "
                    f"columns: {', '.join(reader.fieldnames or [])}"
                )
            values = []
            for line_no, row in enumerate(reader, start=2):
                try:
                    v = float(row[column])
                except (TypeError, ValueError):
                    raise InputError(
                        f"lengths CSV {str(p)!r} line {line_no}: {column} = {row[column]!r} "
                        "is not a number"
                    ) from None
                if v < 0 or math.isnan(v):
                    raise InputError(
                        f"lengths CSV {str(p)!r} line {line_no}: {column} = {v:g}; "
                        "expected a non-negative token count"
                    )
                values.append(v)
    except FileNotFoundError:
        raise InputError(f"lengths CSV {str(p)!r} does not exist") from None
    if not values:
        raise InputError(f"lengths CSV {str(p)!r} has no rows")
    return from_samples(np.array(values), f"empirical, {len(values):,} requests from {p.name}")


@dataclass(frozen=True)
class Traffic:
    avg_qps: float
    peak_qps: float
    hourly_qps: tuple[float, ...] = ()  # optional 24-hour profile, requests/s per hour
    growth_per_month: float = 0.0

    def at_days(self, days: float) -> Traffic:
        """Traffic grown by `growth_per_month` compounded over `days` (30-day months)."""
        f = (1 + self.growth_per_month) ** (days / 30.0)
        return Traffic(
            self.avg_qps * f,
            self.peak_qps * f,
            tuple(q * f for q in self.hourly_qps),
            self.growth_per_month,
        )


@dataclass(frozen=True)
class Slo:
    ttft_p95_ms: float | None = None
    tpot_p95_ms: float | None = None
    min_replicas: int = 1
