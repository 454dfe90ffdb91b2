"""Forecast hourly traffic: trend plus daily and weekly seasonality with prediction intervals.

The model is statsmodels' structural time series (`UnobservedComponents`: a local linear trend,
a 24-hour and a 168-hour trigonometric seasonal, Gaussian noise), fitted by maximum likelihood
on the history's hourly counts — the optional extra `forecast`. Intervals come from the
model's forecast distribution; a fleet is sized for a chosen quantile of each horizon's peak.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from fleetplan.errors import InputError
from fleetplan.forecast.history import History

F64 = NDArray[np.float64]
MIN_HOURS = 2 * 168  # two weeks: the weekly cycle needs to be seen twice
DAILY_HARMONICS, WEEKLY_HARMONICS = 4, 5


@dataclass(frozen=True)
class Forecast:
    start_epoch_s: float  # the first forecast hour
    mean_per_hour: F64  # requests in each hour ahead
    sd_per_hour: F64
    basis: str

    def quantile(self, q: float) -> F64:
        """Requests per hour at forecast quantile q (never negative)."""
        z = NormalDist().inv_cdf(q)
        return np.maximum(self.mean_per_hour + z * self.sd_per_hour, 0.0)

    def interval(self, level: float) -> tuple[F64, F64]:
        lo = (1 - level) / 2
        return self.quantile(lo), self.quantile(1 - lo)


def fit_forecast(history: History, hours_ahead: int) -> Forecast:
    """Fit on the whole history and forecast `hours_ahead` hours past its end."""
    try:
        from statsmodels.tsa.statespace.structural import UnobservedComponents
    except ImportError:
        raise InputError(
            "forecasting needs the forecast extra: pip install 'fleetplan[forecast]'"
        ) from None
    y = history.counts_per_hour
    if len(y) < MIN_HOURS:
        raise InputError(
            f"history: {len(y)} hours; forecasting needs at least {MIN_HOURS} (two weeks) to "
            "see the weekly cycle twice"
        )
    if hours_ahead < 1 or hours_ahead > 24 * 400:
        raise InputError(f"hours ahead = {hours_ahead}; accepted: 1 to {24 * 400}")
    model = UnobservedComponents(
        y,
        level="local linear trend",
        freq_seasonal=[
            {"period": 24, "harmonics": DAILY_HARMONICS},
            {"period": 168, "harmonics": WEEKLY_HARMONICS},
        ],
    )
    with warnings.catch_warnings():  # convergence chatter; the fit is checked by its result
        warnings.simplefilter("ignore")
        res = model.fit(disp=False, maxiter=200)
        pred = res.get_forecast(hours_ahead)
    mean = np.asarray(pred.predicted_mean, dtype=np.float64)
    sd = np.sqrt(np.maximum(np.asarray(pred.var_pred_mean, dtype=np.float64), 0.0))
    if not (np.isfinite(mean).all() and np.isfinite(sd).all()):
        raise InputError("history: the forecast model did not converge to finite values")
    start = history.start_epoch_s + len(y) * 3600.0
    basis = (
        f"statsmodels UnobservedComponents (local linear trend + 24 h and 168 h seasonals) "
        f"fitted on {len(y):,} hours of {history.basis}"
    )
    return Forecast(start, mean, sd, basis)


@dataclass(frozen=True)
class HorizonSize:
    days: int
    peak_qps: float  # at the chosen quantile: the busiest hour in the horizon's last week
    replicas: int
    gpus: int
    usd_per_month: float


def size_horizons(
    fc: Forecast,
    days: list[int],
    quantile: float,
    replica_req_per_s: float,
    headroom: float,
    tp: int,
    usd_per_replica_month: float,
    min_replicas: int = 1,
) -> list[HorizonSize]:
    """Replicas for each horizon's busiest hour (its final week) at forecast `quantile`."""
    per_hour = fc.quantile(quantile)
    out = []
    for d in days:
        end = min(d * 24, len(per_hour))
        week = per_hour[max(0, end - 168) : end]
        peak = float(week.max()) / 3600.0 if len(week) else 0.0
        n = max(min_replicas, math.ceil(peak / (replica_req_per_s * headroom) - 1e-9))
        out.append(HorizonSize(d, peak, n, n * tp, n * usd_per_replica_month))
    return out
