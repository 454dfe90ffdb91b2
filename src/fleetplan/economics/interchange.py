"""Interchange: GPU offers from a SkyPilot catalog CSV, budgets to FOCUS-named CSV.

SkyPilot's `vms.csv` has one row per (instance type, region) with columns InstanceType,
AcceleratorName, AcceleratorCount, Region, Price (on-demand $/instance-hour) and SpotPrice.
Rows become offers as sold: one per instance type, pricing and instance price, with the regions
sold at that price; accelerators the catalog does not know are returned separately rather than
guessed. A local catalog folder (~/.sky/catalogs/v8, one folder per cloud) is read directly.

FOCUS (FinOps Open Cost and Usage Specification) columns: BilledCost, EffectiveCost, ListCost,
PricingCategory (Standard, Dynamic, Committed), ChargeCategory (Usage), BillingCurrency,
ConsumedQuantity/ConsumedUnit, plus `x_` columns for fleetplan's own fields.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from fleetplan.catalog import Catalog
from fleetplan.economics.budget import Budget
from fleetplan.errors import InputError, UnknownNameError
from fleetplan.validation import MAX_COUNT, MAX_USD

SKYPILOT_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Region", "Price")
# SkyPilot's accelerator names that differ from fleetplan's aliases: its "A100" is the 40 GB
# part (AWS p4d.24xlarge, GCP a2-highgpu) and "A100-80GB" the 80 GB one, while fleetplan's
# alias "a100" means the 80 GB card; "H100-MEGA" is GCP's A3 Mega (H100 SXM).
SKYPILOT_NAMES = {"a100": "a100-40gb", "a100-80gb": "a100-80gb", "h100-mega": "h100-sxm"}


def offers_from_skypilot(
    text: str,
    provider: str,
    catalog: Catalog,
    *,
    source: str,
    as_of: str,
    skipped: list[str] | None = None,
) -> tuple[list[dict[str, object]], list[str]]:
    """Offer tables (for a `--catalog` TOML `[[offers]]` array) and unknown accelerator names.

    One offer per (instance type, pricing, instance price), listing the regions sold at that
    price; a region's spot price is the median over its availability zones. Rows SkyPilot
    marks unusable (a price of 0, a fraction of a GPU or none) are left out, each appended to
    `skipped` as "line N (why)"; a negative or non-finite count or price is an InputError."""
    import math
    import statistics

    skipped = [] if skipped is None else skipped

    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in SKYPILOT_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"SkyPilot CSV lacks column(s) {', '.join(missing)}")
    # (gpu, instance type, pricing, count) -> region -> instance prices (one per zone)
    prices: dict[tuple[str, str, str, int], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    unknown: set[str] = set()
    for n, row in enumerate(reader, start=2):
        acc = (row.get("AcceleratorName") or "").strip()
        if not acc:
            continue
        try:
            gpu = catalog.gpu(SKYPILOT_NAMES.get(acc.lower(), acc)).id
        except UnknownNameError:
            unknown.add(acc)
            continue
        cell = row["AcceleratorCount"]
        try:
            gpus = float(cell)
        except (TypeError, ValueError):
            gpus = math.nan
        if not math.isfinite(gpus) or not 0 <= gpus <= MAX_COUNT:  # the shared GPU bound
            raise InputError(
                f"line {n}: AcceleratorCount = {cell!r}; expected a number from 0 to {MAX_COUNT:,}"
            )
        if gpus < 1 or gpus != int(gpus):
            skipped.append(
                f"line {n} (AcceleratorCount {cell}: not a whole number of GPUs, 1 or more)"
            )
            continue
        count = int(gpus)
        for col, pricing in (("Price", "on-demand"), ("SpotPrice", "spot")):
            cell = (row.get(col) or "").strip()
            if not cell:
                continue
            try:
                value = float(cell)
            except ValueError:
                raise InputError(f"line {n}: {col} = {cell!r} is not a number") from None
            if not math.isfinite(value) or not 0 <= value <= MAX_USD:  # as any price is held
                raise InputError(
                    f"line {n}: {col} = {cell!r}; expected a price from 0 to ${MAX_USD:,.0f}"
                )
            if value == 0:
                skipped.append(f"line {n} ({col} 0: not sold at that pricing)")
            else:
                region = (row.get("Region") or "").strip()
                prices[(gpu, row["InstanceType"], pricing, count)][region].append(value)
    offers: list[dict[str, object]] = []
    for (gpu, itype, pricing, count), by_region in sorted(prices.items()):
        by_price: dict[float, list[str]] = defaultdict(list)
        for region, values in sorted(by_region.items()):
            by_price[round(statistics.median(values), 6)].append(region)
        for price, regions in sorted(by_price.items()):
            zone_note = "median over availability zones; " if pricing == "spot" else ""
            offer: dict[str, object] = {
                "provider": provider,
                "gpu": gpu,
                "pricing": pricing,
                "instance_type": itype,
                "gpus_per_instance": count,
                "usd_per_instance_hour": price,
                "regions": [r for r in regions if r],
                "source": source,
                "as_of": as_of,
                "notes": f"{zone_note}${price / count:.4f} per GPU-hour",
            }
            offers.append(offer)
    return offers, sorted(unknown)


def skypilot_files(path: Path, provider: str | None) -> list[tuple[str, Path]]:
    """(provider, vms.csv) pairs from a file or a local SkyPilot catalog folder (for example
    ~/.sky/catalogs/v8: one folder per cloud holding vms.csv)."""
    if path.is_dir():
        found = sorted(path.glob("*/vms.csv")) or sorted(path.glob("vms.csv"))
        pairs = [(f.parent.name.lower(), f) for f in found]
        if provider:
            pairs = [(p, f) for p, f in pairs if p == provider.lower()] or [
                (provider.lower(), f) for f in found if f.parent == path
            ]
        if not pairs:
            raise InputError(
                f"folder {str(path)!r} holds no <cloud>/vms.csv"
                + (f" for provider {provider!r}" if provider else "")
                + "; expected a SkyPilot catalog folder such as ~/.sky/catalogs/v8"
            )
        return pairs
    if not provider:
        raise InputError(f"--provider is needed for the single file {str(path)!r}")
    return [(provider.lower(), path)]


def offers_toml(offers: Iterable[dict[str, object]]) -> str:
    """The offers as a TOML `[[offers]]` array that `--catalog` accepts."""
    import json

    out = []
    for o in offers:
        out.append("[[offers]]")
        for k, v in o.items():
            out.append(f"{k} = {json.dumps(v)}")  # JSON strings and numbers are valid TOML
        out.append("")
    return "\n".join(out)


_FOCUS_PRICING = {
    "on-demand": "Standard",
    "api": "Standard",
    "spot": "Dynamic",
    "reserved-1y": "Committed",
    "reserved-3y": "Committed",
}
FOCUS_COLUMNS = (
    "BillingCurrency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "PricingCategory",
    "ChargeCategory",
    "ChargeDescription",
    "ConsumedQuantity",
    "ConsumedUnit",
    "x_Category",
    "x_LineName",
    "x_Gpu",
    "x_GpuCount",
    "x_HoursPerMonth",
    "x_UsdPerGpuHour",
    "x_PriceBasis",
)


def budget_focus_csv(budget: Budget) -> str:
    """One FOCUS row per budget line (a month of projected usage). ListCost equals BilledCost:
    the budget carries no separate list price."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FOCUS_COLUMNS)
    for line in budget.lines:
        qty = (line.gpus or 0) * (line.hours_per_month or 0) if line.gpu else ""
        cost = f"{line.usd_per_month:.6f}"
        w.writerow(
            [
                "USD",
                cost,
                cost,
                cost,
                _FOCUS_PRICING[line.pricing],
                "Usage",
                line.detail,
                qty,
                "GPU-Hours" if line.gpu else "",
                line.category,
                line.name,
                line.gpu or "",
                line.gpus or "",
                "" if line.hours_per_month is None else line.hours_per_month,
                "" if line.usd_per_gpu_hour is None else line.usd_per_gpu_hour,
                line.basis,
            ]
        )
    return buf.getvalue()
