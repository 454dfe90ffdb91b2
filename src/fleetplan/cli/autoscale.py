"""`fleetplan autoscale simulate SCENARIO`: scaling policies replayed against a day or a week of
traffic, compared on GPU-hours, dollars and SLO attainment."""

from __future__ import annotations

from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, json_only, print_json, table
from fleetplan.cli.options import catalog_opt, json_opt
from fleetplan.errors import InputError

autoscale_app = click.Group(
    "autoscale",
    help="Test scaling policies against traffic before going live.",
    no_args_is_help=True,
)
app.add_command(autoscale_app)


@autoscale_app.command("simulate")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--policy", multiple=True, help="Only these policies (repeatable).")
@click.option("--seed", type=int, help="Random seed (overrides the file's).")
@click.option(
    "--chart",
    type=click.Path(path_type=Path),
    help="Write the comparison with its charts to an .html file.",
)
@click.option(
    "--emit",
    type=click.Path(path_type=Path),
    help="Write the best policy as a KEDA ScaledObject and router overflow.",
)
@click.option("--emit-policy", help="With --emit: this policy instead of the best one.")
@click.option(
    "--slo-attainment",
    type=float,
    default=1.0,
    help="Share of windows that must meet the TTFT SLO for a policy to be best.",
)
@click.option("--timeline", is_flag=True, help="With --json: add each policy's timeline.")
@catalog_opt()
@json_opt("as_json")
def simulate(
    scenario: Path,
    policy: list[str] | None,
    seed: int | None,
    chart: Path | None,
    emit: Path | None,
    emit_policy: str | None,
    slo_attainment: float,
    timeline: bool,
    catalog: list[Path] | None,
    as_json: bool,
) -> None:
    """Per policy: GPU-hours, $ (GPUs + API overflow), TTFT/TPOT SLO attainment per window,
    requests overflowed and dropped; the cheapest policy that holds the SLO is marked best.

    SCENARIO: Autoscaling scenario (see examples/autoscale-week.yaml)."""
    from fleetplan.autoscale import load_autoscale, run_autoscale

    if chart is not None and chart.suffix.lower() != ".html":
        raise InputError(f"--chart = {str(chart)!r}; expected an .html file")
    if chart is not None and not chart.parent.is_dir():
        raise InputError(f"--chart = {str(chart)!r}: folder {str(chart.parent)!r} does not exist")
    if emit is not None and emit.exists() and not emit.is_dir():
        raise InputError(f"--emit = {str(emit)!r} is a file; expected a folder")
    if emit_policy is not None and emit is None:
        raise InputError("--emit-policy needs --emit DIR")
    json_only("--timeline", timeline, as_json, " (or --chart FILE.html to plot the timelines)")
    sc, base = load_autoscale(scenario)
    cat = catalog_from(catalog)
    res = run_autoscale(sc, base, cat, policy, seed)
    res.min_attainment = slo_attainment
    data = res.to_dict(timeline=True)
    if chart is not None:
        from fleetplan.autoscale.report import html_page

        tmp = chart.with_suffix(".html.tmp")
        tmp.write_text(html_page(data, sc.name or scenario.name), encoding="utf-8")
        tmp.replace(chart)
    if emit is not None:
        _emit(res, sc, emit_policy, emit, cat)
    if as_json:
        if not timeline:
            for p in data["policies"]:
                p.pop("timeline", None)
        print_json(data)
        return
    _print(data)


def _emit(res, sc, name, folder, cat) -> None:  # type: ignore[no-untyped-def]
    import sys

    from fleetplan.autoscale.emit import emit_policy

    chosen = name or (res.best().name if res.best() else None)
    if chosen is None:
        raise InputError(
            "--emit: no policy meets the TTFT SLO without drops; name one with --emit-policy"
        )
    pol = next((p for p in sc.policies if p.name == chosen), None)
    if pol is None:
        names = ", ".join(p.name for p in sc.policies)
        raise InputError(f"--emit-policy {chosen!r} is not in the scenario; accepted: {names}")
    files = emit_policy(sc, pol, res.deployment, res.traffic, res.plan, cat, folder)
    print(f"wrote {len(files)} files for policy {chosen!r} to {folder}", file=sys.stderr)


def _print(d: dict) -> None:  # type: ignore[type-arg]
    rows = [
        [
            p["name"] + (" (best)" if p["name"] == d["best_policy"] else ""),
            p["kind"],
            f"{p['gpu_hours']:,.1f}",
            f"${p['usd_gpus']:,.0f}",
            f"${p['usd_overflow']:,.0f}",
            f"${p['usd']:,.0f}",
            f"{100 * p['ttft_slo_attainment']:.1f}%",
            f"{p['violated_windows']:,}",
            f"{p['worst_window_ttft_p95_ms']:,.0f}",
            f"{p['overflowed_requests']:,}",
            f"{p['dropped_requests']:,}",
            f"{p['peak_replicas']:,}",
        ]
        for p in d["policies"]
    ]
    cols = [
        ("policy", "left"),
        ("kind", "left"),
        ("GPU-hours", "right"),
        ("$ GPUs", "right"),
        ("$ API overflow", "right"),
        ("$ total", "right"),
        ("TTFT SLO windows", "right"),
        ("windows missed", "right"),
        ("worst TTFT p95 ms", "right"),
        ("overflowed", "right"),
        ("dropped", "right"),
        ("peak replicas", "right"),
    ]
    hours = d["traffic"]["duration_s"] / 3600
    title = (
        f"Autoscaling: {d['name'] or 'scenario'} — {hours:,.0f} h, "
        f"{d['traffic']['requests']:,} requests, TTFT p95 SLO {d['slo']['ttft_p95_ms']:,.0f} ms "
        f"per {d['window_s'] / 60:g}-minute window"
    )
    print(table(title, cols, rows))
    print(f"deployment: {d['deployment']['basis']}")
    print(f"traffic: {d['traffic']['basis']}")
    for n in d["notes"]:
        print(f"note: {n}")
