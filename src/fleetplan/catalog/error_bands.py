"""How far the performance model is from published measurements, out of sample.

`benchmarks/accuracy/report.py` predicts every row of the project's validation set with factors
fitted without the row's source (leave-one-source-out) and writes the absolute % errors here,
summarized per engine release family, GPU generation and model kind (dense or MoE) and per
metric (output tok/s, TTFT, TPOT), with coarser groups beside them (`LEVELS`).
`expected_error` picks, for one configuration, the most specific group holding at least
`MIN_ROWS` rows of a metric, so `fleetplan perf` can say how far its numbers were from
measurements like them — and how far they were from the rows that are most alike when those
are few ("vLLM V1 on Blackwell" has no rows; "vLLM V1, dense models" has).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cache, cached_property
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fleetplan.catalog import Catalog
    from fleetplan.catalog.specs import ModelSpec

BANDS_FILE = "error_bands.json"
METRICS = ("output tok/s", "TTFT", "TPOT")
# the JSON key of each metric, as `fleetplan perf --json` names the values themselves
RECORD_KEYS = {"output tok/s": "output_tok_per_s", "TTFT": "ttft_ms", "TPOT": "tpot_ms"}
# a group needs this many rows of a metric to stand for a configuration: with fewer, the
# median and p90 of a handful of rows say little (the rows a fit needs for a GPU generation's
# scale, accuracy.fit_stages.MIN_ARCH_ROWS)
MIN_ROWS = 10
# (family, generation, kind) keys of the groups, most specific first; None: any
LEVELS = (
    ("family", "generation", "kind"),
    ("family", "kind"),
    ("family",),
    ("kind",),
    (),
)


@dataclass(frozen=True)
class Band:
    """The out-of-sample error of one metric over one group of published rows."""

    metric: str
    family: str | None
    generation: str | None
    kind: str | None  # "dense" or "moe"
    rows: int
    sources: int
    median_abs_pct: float
    p90_abs_pct: float
    signed_median_pct: float  # median of predicted / measured - 1: > 0, the model reads high

    def scope(self, family_name: str = "") -> str:
        """The group in words: 'vLLM V1, MoE models, Hopper GPUs'."""
        return _scope(family_name or self.family, self.kind, self.generation)


def _scope(family: str | None, kind: str | None, generation: str | None) -> str:
    parts = [family or "every engine family"]
    if kind:
        parts.append("MoE models" if kind == "moe" else "dense models")
    if generation:  # 'hopper' -> 'Hopper', 'cdna3' -> 'CDNA3'
        name = generation.upper() if generation.startswith("cdna") else generation.capitalize()
        parts.append(f"{name} GPUs")
    return ", ".join(parts)


@dataclass(frozen=True)
class ErrorRecord:
    """One row's out-of-sample error, as `build_bands` takes it."""

    family: str
    generation: str
    kind: str
    metric: str
    source: str
    error: float  # predicted / measured - 1


def build_bands(records: Iterable[ErrorRecord]) -> list[Band]:
    """Every group of `LEVELS` that holds rows, per metric."""
    recs = list(records)
    bands = []
    for level in LEVELS:
        groups: dict[tuple, list[ErrorRecord]] = {}
        for r in recs:
            key = (r.metric, *(getattr(r, k) for k in level))
            groups.setdefault(key, []).append(r)
        for key, rs in sorted(groups.items()):
            fields = dict(zip(level, key[1:], strict=True))
            e = np.array([r.error for r in rs]) * 100
            bands.append(
                Band(
                    metric=key[0],
                    family=fields.get("family"),
                    generation=fields.get("generation"),
                    kind=fields.get("kind"),
                    rows=len(rs),
                    sources=len({r.source for r in rs}),
                    median_abs_pct=round(float(np.median(np.abs(e))), 1),
                    p90_abs_pct=round(float(np.percentile(np.abs(e), 90)), 1),
                    signed_median_pct=round(float(np.median(e)), 1),
                )
            )
    return bands


def bands_document(bands: Sequence[Band], meta: dict[str, Any]) -> str:
    """The packaged file's text: `meta` (when, how, from what), then the bands one a line."""
    head = json.dumps(meta, indent=1)[:-2]  # without the closing brace
    lines = ",\n  ".join(json.dumps(asdict(b)) for b in bands)
    return f'{head},\n "bands": [\n  {lines}\n ]\n}}\n'


@dataclass(frozen=True)
class BandTable:
    generated: str  # when report.py wrote the file (UTC date and time)
    method: str
    bands: tuple[Band, ...]

    @cached_property
    def _by_group(self) -> dict[tuple, Band]:
        return {(b.metric, b.family, b.generation, b.kind): b for b in self.bands}

    def group(
        self,
        metric: str,
        family: str | None = None,
        generation: str | None = None,
        kind: str | None = None,
    ) -> Band | None:
        """The band of exactly this group (None: any of that key), whatever its rows."""
        return self._by_group.get((metric, family, generation, kind))

    def lookup(
        self, metric: str, family: str, generation: str, kind: str, min_rows: int = MIN_ROWS
    ) -> Band | None:
        """The most specific group with at least `min_rows` rows of `metric` that holds this
        configuration (the whole set at last); None where the set has no row of the metric."""
        want = {"family": family, "generation": generation, "kind": kind}
        for level in LEVELS:
            b = self.group(metric, **{k: want[k] for k in level})
            if b is not None and (not level or b.rows >= min_rows):
                return b
        return None


@cache
def load_bands() -> BandTable:
    """The packaged bands (`catalog/data/error_bands.json`)."""
    text = resources.files("fleetplan.catalog.data").joinpath(BANDS_FILE).read_text("utf-8")
    data = json.loads(text)
    return BandTable(
        generated=data["generated"],
        method=data["method"],
        bands=tuple(Band(**b) for b in data["bands"]),
    )


@dataclass(frozen=True)
class ExpectedError:
    """The bands that stand for one configuration, one per metric the set measures."""

    bands: tuple[Band, ...]
    generated: str
    generation: str = ""  # the configuration's GPU generation
    kind: str = ""  # and its model kind ("dense" or "moe")
    family_name: str = ""  # its engine family in words ("vLLM V1")

    def record(self) -> dict[str, Any]:
        """For JSON outputs: per metric its group, rows and errors."""
        return {
            "basis": "leave-one-source-out error against published measurements "
            f"(fleetplan's accuracy bands of {self.generated})",
            "metrics": {
                RECORD_KEYS[b.metric]: {
                    "scope": {"family": b.family, "generation": b.generation, "kind": b.kind},
                    "rows": b.rows,
                    "sources": b.sources,
                    "median_abs_pct": b.median_abs_pct,
                    "p90_abs_pct": b.p90_abs_pct,
                    "signed_median_pct": b.signed_median_pct,
                }
                for b in self.bands
            },
        }

    def lines(self) -> list[str]:
        """For terminal outputs: a heading, then per metric its errors and the group they were
        measured on."""
        family_name = self.family_name
        out = [
            "expected error (absolute % error against published measurements, each predicted "
            "without its source's data; bias = median signed error; accuracy bands of "
            f"{self.generated}):"
        ]
        width = max((len(b.metric) for b in self.bands), default=0) + 1
        for b in self.bands:
            label = family_name if b.family else ""
            # a wider group than the configuration's own: say that its own has too few rows
            note = ""
            if b.generation is None and self.generation:
                own = _scope(family_name, self.kind, self.generation)
                note = f"fewer than {MIN_ROWS} measured for {own}"
            out.append(
                f"  {b.metric + ':':<{width}} median {b.median_abs_pct:g} %, p90 "
                f"{b.p90_abs_pct:g} %, bias {b.signed_median_pct:+g} % over {b.rows:,} "
                f"measurements from {b.sources} source{'s' if b.sources > 1 else ''} "
                f"({b.scope(label)}{'; ' + note if note else ''})"
            )
        return out

    def clause(self, metric: str = "output tok/s") -> str:
        """One metric's band as a clause for a basis line ('' where the set has none)."""
        b = next((b for b in self.bands if b.metric == metric), None)
        if b is None:
            return ""
        return (
            f"out of sample the model's {metric} was {b.median_abs_pct:g} % off at the median "
            f"(p90 {b.p90_abs_pct:g} %, bias {b.signed_median_pct:+g} %) against {b.rows:,} "
            f"published measurements of {b.scope(self.family_name if b.family else '')}"
        )


def unknown_line(engine_id: str) -> str:
    """What outputs say where `for_configuration` has no band."""
    return (
        f"expected error: not known for {engine_id} as a calibration or catalog file sets its "
        "profile (`fleetplan calibrate` prints a calibration's cross-validated error)"
    )


def family_error(family: str) -> ExpectedError:
    """A family's bands over all its rows (every generation and model kind), whatever their
    number; none for a family without published rows."""
    table = load_bands()
    found = [table.group(m, family) for m in METRICS]
    return ExpectedError(
        bands=tuple(b for b in found if b), generated=table.generated, family_name=family
    )


def expected_error(family: str, generation: str, moe: bool, family_name: str = "") -> ExpectedError:
    """The bands for an engine family (`EngineProfile.id`; `family_name` in words), a GPU
    generation and a model kind."""
    table = load_bands()
    kind = "moe" if moe else "dense"
    found = [table.lookup(m, family, generation, kind) for m in METRICS]
    return ExpectedError(
        bands=tuple(b for b in found if b),
        generated=table.generated,
        generation=generation,
        kind=kind,
        family_name=family_name or family,
    )


def packaged_profile(catalog: Catalog, engine_id: str) -> bool:
    """Whether `catalog`'s profile of an engine family is the packaged one, which the bands
    describe (a calibration or catalog file that changes it leaves it without a band)."""
    from fleetplan.catalog import load_catalog

    engine = catalog.engines.get(engine_id)
    return engine is not None and engine == load_catalog().engines.get(engine_id)


def for_configuration(
    catalog: Catalog, engine_id: str, gpu_id: str, model: ModelSpec
) -> ExpectedError | None:
    """The bands for an engine family, a GPU and a model of `catalog`; None where the
    catalog's profile of the family is not the packaged one (a calibration or catalog file
    changed it, and the bands describe the packaged factors)."""
    if not packaged_profile(catalog, engine_id):
        return None
    engine = catalog.engines[engine_id]
    name = engine.family or engine.name
    return expected_error(engine_id, catalog.gpu(gpu_id).architecture, model.is_moe, name)
