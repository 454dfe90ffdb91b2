"""Workload: traffic, request-length distributions and SLOs, parsed from a scenario file.

Length distributions may be given as summary percentiles (mean, p50, p95, p99), as a lognormal
(median and sigma), or as an empirical histogram from a CSV of request lengths. Each becomes a
`Lengths` with mean, p50, p95, p99 and a standard deviation, which is what sizing needs.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np

from fleetplan.errors import InputError
from fleetplan.units import HOURS_PER_MONTH

_N = NormalDist()
Z95, Z99 = _N.inv_cdf(0.95), _N.inv_cdf(0.99)
# quantile levels at which sizing evaluates length distributions (denser in the tail), and
# the trapezoid weights of a quantile function linear between them (expectations)
QUANTILE_LEVELS = np.array(
    [0.001, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99, 0.999]
)
_u = QUANTILE_LEVELS
QUANTILE_WEIGHTS = np.concatenate([[0.0], np.diff(_u) / 2]) + np.concatenate(
    [np.diff(_u) / 2, [0.0]]
)
QUANTILE_WEIGHTS[0] += _u[0]
QUANTILE_WEIGHTS[-1] += 1 - _u[-1]
_Z_LEVELS = np.array([_N.inv_cdf(float(u)) for u in QUANTILE_LEVELS])


@dataclass(frozen=True)
class Lengths:
    """A request-length distribution (tokens) summarized for sizing."""

    mean: float
    p50: float
    p95: float
    p99: float
    std: float
    basis: str
    # the distribution at QUANTILE_LEVELS (what sizing integrates over); () for a point mass
    grid: tuple[float, ...] = field(default=(), compare=False)
    sigma: float = 0.0  # log-space sigma when the shape is a lognormal (what --verify samples)

    def scaled(self, factor: float) -> Lengths:
        return Lengths(
            self.mean * factor,
            self.p50 * factor,
            self.p95 * factor,
            self.p99 * factor,
            self.std * factor,
            self.basis,
            tuple(g * factor for g in self.grid),
            self.sigma,
        )

    def quantiles(self) -> np.ndarray:
        """The distribution at QUANTILE_LEVELS, tokens."""
        if self.grid:
            return np.asarray(self.grid, dtype=np.float64)
        return np.full(QUANTILE_LEVELS.size, self.mean)

    @property
    def cv2(self) -> float:
        """Squared coefficient of variation."""
        return (self.std / self.mean) ** 2 if self.mean > 0 else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile (0-100) from the quantile grid (linear between levels)."""
        return float(np.interp(p / 100, QUANTILE_LEVELS, self.quantiles()))


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
        grid=tuple((median * np.exp(sigma * _Z_LEVELS)).tolist()),
        sigma=sigma,
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
    from fleetplan.length_fits import least_mean, weibull_through

    least = least_mean(given)
    if "mean" in given and given["mean"] < least * (1 - 1e-9):
        shown = ", ".join(f"{k} {given[k]:,g}" for k in order)
        raise InputError(
            f"{field}.mean = {given['mean']:g} is below {least:,.4g}, the least mean of lengths "
            f"with {shown}: lengths are never negative, and half of them are at least the p50, "
            "5 % at least the p95, 1 % at least the p99"
        )
    if len(given) == 1 and "mean" in given:
        return fixed(given["mean"])
    # fit a lognormal to what is given: median from p50 (or mean), sigma from a tail percentile
    tails = [(k, _N.inv_cdf(int(k[1:]) / 100)) for k in ("p95", "p99") if k in given]
    median = given.get("p50")
    sigma = None
    if median and tails:
        key, z = tails[0]
        sigma = math.log(given[key] / median) / z
    elif median and "mean" in given:
        ratio = given["mean"] / median
        sigma = math.sqrt(2 * math.log(ratio)) if ratio > 1 else 0.0
    elif "mean" in given and tails:
        # mean = m·exp(s²/2), pXX = m·exp(z·s): s²/2 − z·s + ln(pXX/mean) = 0, real while
        # pXX/mean ≤ e^{z²/2} (p95 ≤ 3.87 × mean); the smaller root is the usual shape
        key, z = tails[0]
        c = math.log(given[key] / given["mean"])
        if c <= 0:
            raise InputError(
                f"{field}.{key} = {given[key]:g} is not above the mean {given['mean']:g}; "
                "a tail percentile of a length distribution lies above its mean"
            )
        disc = z * z - 2 * c
        if disc < 0:  # heavier-tailed than any lognormal: a Weibull through both
            return weibull_through(field, given["mean"], key, given[key])
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
        grid=fitted.grid,
        sigma=sigma,
    )


def from_samples(samples: np.ndarray, basis: str) -> Lengths:
    s = np.asarray(samples, dtype=float)
    p50, p95, p99 = np.percentile(s, [50, 95, 99])
    grid = tuple(np.quantile(s, QUANTILE_LEVELS).tolist())
    mean, std = float(s.mean()), float(s.std())
    sigma = math.sqrt(math.log(1 + (std / mean) ** 2)) if mean > 0 else 0.0
    return Lengths(mean, float(p50), float(p95), float(p99), std, basis, grid, sigma)


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
    except UnicodeDecodeError:
        raise InputError(f"lengths CSV {str(p)!r} is not UTF-8 text") from None
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
        """Traffic grown by `growth_per_month` compounded over `days` (months of 730 h, as
        every $/month: 365 days are 12 months)."""
        f = (1 + self.growth_per_month) ** (days * 24 / HOURS_PER_MONTH)
        return Traffic(
            self.avg_qps * f,
            self.peak_qps * f,
            tuple(q * f for q in self.hourly_qps),
            self.growth_per_month,
        )


@dataclass(frozen=True)
class Arrivals:
    """The arrival process around the peak rate, as sizing sees it.

    - `cv2`: squared coefficient of variation of the inter-arrival times (Poisson 1; gamma
      cv²; on/off: an interrupted Poisson process, 1 + 2·λ_on·α/(α + β)² with α = 1/on_s,
      β = 1/off_s; a trace: measured on its gaps) — the slot queue's c_a²;
    - `burst_factor`: the rate during bursts over the average (on/off: (on + off)/on), at
      which requests meet each other;
    - `gaps_s`: a trace's inter-arrival gaps at its own rate (what --verify replays)."""

    kind: str = "poisson"
    cv: float = 1.0
    on_s: float = 0.0
    off_s: float = 0.0
    gaps_s: tuple[float, ...] = field(default=(), compare=False, repr=False)
    path: str = ""

    def cv2(self, rate: float) -> float:
        if self.kind == "gamma":
            return self.cv**2
        if self.kind == "onoff":
            lam_on = rate * self.burst_factor
            a, b = 1 / self.on_s, (1 / self.off_s if self.off_s > 0 else math.inf)
            return 1.0 if math.isinf(b) else 1 + 2 * lam_on * a / (a + b) ** 2
        if self.kind == "trace":
            g = np.asarray(self.gaps_s)
            return float(g.var() / g.mean() ** 2) if g.size > 1 and g.mean() > 0 else 1.0
        return 1.0

    def sizing_cv2(self, rate: float) -> float:
        """The c² the analytic sizing reads (`sizing.load_point`): on/off arrivals are sized
        at their burst rate as Poisson, so 1 for them; `cv2` otherwise."""
        return 1.0 if self.kind == "onoff" else self.cv2(rate)

    @property
    def burst_factor(self) -> float:
        if self.kind == "onoff":
            return (self.on_s + self.off_s) / self.on_s
        return 1.0


def trace_arrivals(path: Path) -> Arrivals:
    """The inter-arrival gaps of a request trace (CSV with a `timestamp` column, or JSONL
    objects with `timestamp`), seconds, in file order."""
    import json

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"traffic.arrivals.path: cannot read {str(path)!r}: {exc.strerror}"
        ) from None
    stamps: list[float] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = [json.loads(x) for x in text.splitlines() if x.strip()]
        raw = [r.get("timestamp") if isinstance(r, dict) else None for r in rows]
    else:
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "timestamp" not in reader.fieldnames:
            raise InputError(f"traffic.arrivals.path {str(path)!r}: no 'timestamp' column")
        raw = [r["timestamp"] for r in reader]
    for no, v in enumerate(raw, start=2):
        try:
            x = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InputError(
                f"traffic.arrivals.path {str(path)!r} row {no}: timestamp {v!r} is not a number"
            ) from None
        if not math.isfinite(x) or (stamps and x < stamps[-1]):
            raise InputError(
                f"traffic.arrivals.path {str(path)!r} row {no}: timestamp {v!r}; expected "
                "finite, non-decreasing times"
            )
        stamps.append(x)
    gaps = np.diff(np.asarray(stamps))
    if gaps.size < 2 or gaps.sum() <= 0:
        raise InputError(
            f"traffic.arrivals.path {str(path)!r}: needs at least 3 requests spread over time"
        )
    return Arrivals("trace", gaps_s=tuple(gaps.tolist()), path=str(path))


SLO_METRICS = ("ttft", "tpot", "e2e")


@dataclass(frozen=True)
class SloTarget:
    """`metric` (ttft, tpot or e2e) at the `percentile`-th percentile at most `ms`."""

    metric: str
    percentile: float
    ms: float

    @property
    def name(self) -> str:
        """The scenario field: ttft_p95_ms, tpot_p99_ms, e2e_p999_ms (99.9), ..."""
        return f"{self.metric}_p{f'{self.percentile:g}'.replace('.', '')}_ms"


def parse_slo_name(name: str) -> tuple[str, float] | None:
    """(metric, percentile) of an SLO field name such as `ttft_p99_ms` or `e2e_p999_ms`
    (digits after the first two are decimals); None if the name is not of that form."""
    parts = name.split("_")
    if len(parts) != 3 or parts[0] not in SLO_METRICS or parts[2] != "ms":
        return None
    digits = parts[1][1:]
    if not parts[1].startswith("p") or not digits.isdigit() or len(digits) < 2:
        return None
    return parts[0], float(f"{digits[:2]}.{digits[2:] or '0'}")


@dataclass(frozen=True)
class Slo:
    targets: tuple[SloTarget, ...] = ()
    min_replicas: int = 1

    def target(self, metric: str, percentile: float = 95) -> float | None:
        for t in self.targets:
            if t.metric == metric and t.percentile == percentile:
                return t.ms
        return None

    @property
    def ttft_p95_ms(self) -> float | None:
        return self.target("ttft")

    @property
    def tpot_p95_ms(self) -> float | None:
        return self.target("tpot")
