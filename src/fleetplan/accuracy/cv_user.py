"""Cross-validated error of a calibration on a user's own measurements.

Groups are the files the rows came from (a benchmark run shares its harness, like a source);
with a single file, five folds of its rows in order. Each group is predicted by factors fitted
on the other groups; the current profile's errors are the baseline (nothing is fitted, so they
are out of sample already).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fleetplan.accuracy.calibrate import fit_engine, relative_errors
from fleetplan.accuracy.predict import fittable
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog import Catalog
from fleetplan.catalog.engine_profile import EngineProfile

FOLDS = 5


def _group(row: ValidationRow) -> str:
    return row.source_id or row.row_id.split(":", 1)[0]


def cross_validated_errors(
    rows: Sequence[ValidationRow],
    catalog: Catalog,
    prior: EngineProfile,
    names: list[str],
    bounds: dict[str, tuple[float, float]] | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """(errors of the current profile, out-of-sample errors of the fit, the scheme's name);
    `bounds` as the calibration's own fit takes them."""
    rows = [r for r in rows if fittable(r)]
    groups = sorted({_group(r) for r in rows})
    if len(groups) > 1:
        label = [_group(r) for r in rows]
        scheme = f"leave-one-file-out over {len(groups)} files"
    else:
        k = min(FOLDS, len(rows))
        label = [str(n * k // len(rows)) for n in range(len(rows))]
        groups = sorted(set(label))
        scheme = f"{len(groups)}-fold over the rows"
    before = relative_errors(rows, catalog, prior)
    after = np.empty(len(rows))
    for g in groups:
        test = [n for n, lab in enumerate(label) if lab == g]
        train = [r for r, lab in zip(rows, label, strict=True) if lab != g]
        fitted = fit_engine(train, catalog, prior, names, bounds).engine if train else prior
        after[test] = relative_errors([rows[n] for n in test], catalog, fitted)
    return before, after, scheme
