"""`fleetplan tco`: owning GPUs (GPU and host server capex, depreciation, support, power x PUE,
ops) against renting them — or against a plan's cloud cost."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, exclusive
from fleetplan.cli.figure_tables import count, num, show_figures, usd, usd_rate
from fleetplan.cli.options import catalog_opt, json_opt
from fleetplan.economics.tco import OWNED_DEFAULTS
from fleetplan.errors import InputError
from fleetplan.units import HOURS_PER_MONTH

D = OWNED_DEFAULTS


def _owned_default(key: str, text: str) -> Any:
    """`--key` as a float option whose default and its source come from OWNED_DEFAULTS."""
    d = D[key]
    return click.option(
        "--" + key.replace("_", "-"),
        type=float,
        default=d.value,
        help=f"{text} Default {d.value:g}: {d.source}.",
    )


@app.command("tco")
@click.option("--gpu", help="GPU id: capex and TDP from the catalog (or --plan's).")
@click.option("--gpus", type=int, help="GPUs bought (default 1, or --plan's).")
@click.option(
    "--plan",
    help="Compare with a plan's cloud cost: 'builtin' or a scenario file; owns the "
    "plan's GPUs (replicas x tp).",
)
@click.option("--price-usd", type=float, help="Purchase price per GPU.")
@_owned_default("host_usd_per_gpu", "Host server capex per GPU.")
@_owned_default("life_years", "Depreciation life, straight line.")
@_owned_default("support_fraction_per_year", "Support/upkeep per year, fraction of capex.")
@click.option("--load", type=float, default=1.0, help="Average power draw as a fraction of TDP.")
@_owned_default("host_power_w_per_gpu", "Host power per GPU, W.")
@_owned_default("pue", "Power usage effectiveness (≥ 1).")
@_owned_default("usd_per_kwh", "Electricity price, $/kWh.")
@click.option("--network-setup-usd", type=float, default=0.0, help="Networking and setup capex.")
@click.option("--ops-usd-per-month", type=float, default=0.0, help="Ops labor per month.")
@click.option(
    "--rent-usd-per-hour", type=float, help="Rent $/GPU-h to compare; default: cheapest offer."
)
@catalog_opt()
@json_opt("as_json")
def tco(
    gpu: str | None,
    gpus: int | None,
    plan: str | None,
    price_usd: float | None,
    host_usd_per_gpu: float,
    life_years: float,
    support_fraction_per_year: float,
    load: float,
    host_power_w_per_gpu: float,
    pue: float,
    usd_per_kwh: float,
    network_setup_usd: float,
    ops_usd_per_month: float,
    rent_usd_per_hour: float | None,
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """Owned-hardware cost per GPU-hour (GPU and host capex, depreciation, support, power x
    PUE x $/kWh, ops) versus renting or a plan's cloud cost, with the payback month."""
    from fleetplan.economics.pricing import gpu_price
    from fleetplan.economics.tco import tco as solve
    from fleetplan.plan.context import instance_kind

    exclusive({"--plan": plan, "--rent-usd-per-hour": rent_usd_per_hour})
    cat = catalog_from(catalog)
    rent_month, rent_basis, plan_rate, rate_basis = None, None, None, "see rent below"
    if plan is not None:
        rec = _plan_recommendation(plan, cat)
        if gpu is not None and cat.gpu(gpu).id != rec.gpu:
            raise InputError(
                f"--gpu {gpu} is not the plan's GPU ({rec.gpu}): --plan owns the plan's GPUs; "
                f"leave out --gpu, or price {gpu} against renting with --rent-usd-per-hour"
            )
        gpu = rec.gpu
        gpus = gpus or rec.gpus_total
        rent_month = rec.usd_per_month
        plan_rate = rent_month / rec.gpus_billed / HOURS_PER_MONTH
        rate_basis = f"the plan's ${rent_month:,.0f}/month over the {rec.gpus_billed} GPUs it bills"
        o = rec.offer
        rent_basis = (
            f"the plan's cloud cost: {rec.instances} x {instance_kind(rec)} "
            f"({o.provider} {o.pricing}) ${rec.usd_per_month:,.0f}/month for {rec.replicas} "
            f"replica(s) of {rec.tp} {rec.gpu}; {o.source}, as of {o.as_of}"
        )
    if gpu is None:
        raise InputError("give --gpu, or --plan for the plan's GPU")
    gpus = gpus or 1
    spec = cat.gpu(gpu)
    if price_usd is None:
        if spec.purchase_price_usd is None:
            raise InputError(f"the catalog has no purchase price for {spec.id}; give --price-usd")
        price_usd = spec.purchase_price_usd
        basis = (
            f"catalog: {spec.price_source or spec.source}, as of {spec.price_as_of or spec.as_of}"
        )
    else:
        basis = "user-given"
    rent = None
    if rent_month is None:
        try:
            rent = gpu_price(cat, spec.id, rent_usd_per_hour, gpus=gpus)
            rent_basis = rent.basis
        except InputError:
            rent = None
    t = solve(
        price_usd,
        gpus,
        life_years=life_years,
        power_w=spec.tdp_w,
        load=load,
        pue=pue,
        usd_per_kwh=usd_per_kwh,
        network_setup_usd=network_setup_usd,
        ops_usd_per_month=ops_usd_per_month,
        rent_usd_per_gpu_hour=plan_rate if rent is None else rent.usd_per_gpu_hour,
        rent_usd_per_month=rent_month,
        capex_basis=basis,
        host_usd_per_gpu=host_usd_per_gpu,
        host_power_w_per_gpu=host_power_w_per_gpu,
        support_fraction_per_year=support_fraction_per_year,
    )
    record = {
        **asdict(t),
        "gpu": spec.id,
        "gpu_tdp_w": spec.tdp_w,
        "rent_basis": rent_basis,
        "sources": {k: v.source for k, v in D.items()},
    }
    workstation = spec.segment != "datacenter" and host_usd_per_gpu == D["host_usd_per_gpu"].value
    seg = " (a datacenter-server share: see below)" if workstation else ""
    # long sources go under the table, which stays readable at 100 columns
    capex_from = "catalog price, source below" if basis != "user-given" else basis
    fields = [
        ("gpu_capex_usd", "GPU capex", usd, f"{gpus} x ${price_usd:,.0f} ({capex_from})"),
        ("host_capex_usd", "host server capex", usd, f"{gpus} x ${host_usd_per_gpu:,.0f}{seg}"),
        ("network_setup_usd", "networking and setup capex", usd, "user-given"),
        ("amortized_usd_per_gpu_hour", "depreciation $/GPU-hour", usd_rate,
         f"all capex, straight line over {life_years:g} years"),
        ("support_usd_per_gpu_hour", "support/upkeep $/GPU-hour", usd_rate,
         f"{support_fraction_per_year:.0%} of GPU and host capex per year"),
        ("power_w_per_gpu", "power per GPU, W", count,
         f"TDP {spec.tdp_w:g} W + host {host_power_w_per_gpu:g} W"),
        ("power_usd_per_gpu_hour", "power $/GPU-hour", usd_rate,
         f"x load {load:g} x PUE {pue:g} x ${usd_per_kwh:g}/kWh"),
        ("ops_usd_per_gpu_hour", "ops labor $/GPU-hour", usd_rate,
         f"${ops_usd_per_month:,.0f}/month over {gpus} GPU(s)"),
        ("owned_usd_per_gpu_hour", "owned $/GPU-hour", usd_rate, "sum of the above"),
        ("owned_usd_per_month", "owned $/month", usd, f"{gpus} GPU(s) x 730 h"),
        ("rent_usd_per_month", "cloud $/month", usd, "see rent below"),
        ("rent_usd_per_gpu_hour", "cloud $/GPU-hour", usd_rate, rate_basis),
        ("payback_month", "payback", lambda m: f"month {m:,}", t.payback_basis),
    ]  # fmt: skip
    notes = [f"rent: {rent_basis}" if rent_basis else "rent: no catalog offer for this GPU"]
    if capex_from != basis:
        notes.insert(0, f"GPU price: {basis}")
    if workstation:
        notes.append(
            f"host: ${host_usd_per_gpu:,.0f} is a datacenter server's share per GPU; a "
            f"workstation host for a {spec.segment} GPU costs less: set --host-usd-per-gpu"
        )
    show_figures(f"owning {gpus}× {spec.id} versus renting", record, fields, as_json, notes)


def _plan_recommendation(plan: str, cat: Any) -> Any:
    from importlib import resources

    import yaml

    from fleetplan.plan import make_plan
    from fleetplan.scenario import load_scenario, parse_scenario

    if plan == "builtin":
        text = resources.files("fleetplan.examples").joinpath("chat-8b.yaml").read_text("utf-8")
        spec, base = parse_scenario(yaml.safe_load(text), "built-in chat-8b.yaml"), Path(".")
    else:
        spec, base = load_scenario(plan)
    p = make_plan(spec, base, cat)
    if p.recommended is None:
        raise InputError(f"--plan {plan}: no deployment meets the scenario's SLOs")
    return p.recommended


__all__ = ["num", "tco"]
