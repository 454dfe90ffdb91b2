"""`fleetplan simulate SCENARIO.yaml`: discrete-event simulation of a serving fleet."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, json_only, print_json, table
from fleetplan.cli.options import calibration_opt, catalog_opt, json_opt
from fleetplan.errors import InputError

if TYPE_CHECKING:
    from fleetplan.catalog import Catalog
    from fleetplan.catalog.error_bands import ExpectedError
    from fleetplan.sim.config import Scenario


@app.command("simulate")
@click.argument("scenario", type=click.Path(path_type=Path))
@json_opt("json_out")
@click.option("--seed", type=int, help="Random seed (overrides the scenario's).")
@click.option(
    "--chart",
    type=click.Path(path_type=Path),
    help="Write latency percentiles and queue length over time to a .html, .svg or .png file.",
)
@click.option("--timeline", is_flag=True, help="With --json: add the sampled timelines.")
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    help="Work cap: refuse a run estimated above this many events "
    "(overrides the scenario's max_events, default 500,000,000).",
)
@catalog_opt()
@calibration_opt()
def simulate(
    scenario: Path,
    json_out: bool,
    seed: int | None,
    chart: Path | None,
    timeline: bool,
    max_events: int | None,
    catalog: list[Path] | None,
    calibration: list[Path] | None,
) -> None:
    """Simulate a fleet of replicas under a traffic scenario: TTFT, TPOT, ITL and end-to-end
    percentiles, throughput, goodput, queueing and KV-cache preemptions. The scenario file's
    fields: `fleetplan docs simulate`."""
    from fleetplan.sim import load_scenario
    from fleetplan.sim import simulate as run_simulation

    json_only("--timeline", timeline, json_out, " (or --chart FILE to plot the timelines)")
    sc = load_scenario(scenario)
    if max_events is not None:
        sc = sc.model_copy(update={"max_events": max_events})
    cat = catalog_from(catalog, calibration) if sc.service.kind == "roofline" else None
    show_bar = not json_out and sys.stderr.isatty()
    with _Progress(show_bar) as bar:
        result = run_simulation(sc, catalog=cat, seed=seed, progress=bar.update)
    if chart is not None:
        _write_chart(result, chart, f"fleetplan simulate {scenario.name}")
    # a roofline service's step times are the performance model's: its error goes with them
    roofline = sc.service.kind == "roofline"
    err = _expected_error(sc, cat) if roofline else None
    if json_out:
        out = result.to_dict(timeline=timeline)
        if roofline:
            out["expected_error"] = err.record() if err else None
        print_json(out)
        return
    _print(result, scenario, chart)
    if roofline:
        from fleetplan.catalog.error_bands import unknown_line

        print("\n".join(err.lines() if err else [unknown_line(sc.engine)]))


def _expected_error(sc: Scenario, cat: Catalog | None) -> ExpectedError | None:
    """How far the step model was from published measurements of setups like the scenario's
    (catalog.error_bands); None for a changed engine profile."""
    from fleetplan.catalog import load_catalog, resolve_model
    from fleetplan.catalog.error_bands import for_configuration

    cat = cat or load_catalog()
    return for_configuration(
        cat, cat.engine(sc.engine).id, cat.gpu(sc.gpu).id, resolve_model(cat, sc.model)
    )


class _Progress:
    """A progress bar on stderr (click's), shown only once a run has taken half a second."""

    STEPS = 1000

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.start = time.perf_counter()
        self.bar: Any = None
        self.done = 0

    def __enter__(self) -> _Progress:
        return self

    def update(self, share: float) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.start < 0.5:
                return
            import click

            self.bar = click.progressbar(length=self.STEPS, label="simulating", file=sys.stderr)
            self.bar.__enter__()
        steps = min(int(share * self.STEPS), self.STEPS)
        if steps > self.done:
            self.bar.update(steps - self.done)
            self.done = steps

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _print(result: Any, scenario: Path, chart: Path | None) -> None:
    d = result.to_dict()
    rows = []
    for name, key in (
        ("TTFT", "ttft_ms"),
        ("TPOT", "tpot_ms"),
        ("ITL", "itl_ms"),
        ("E2E", "e2e_ms"),
        ("queue wait", "queue_ms"),
    ):
        s = d[key]
        keys = ("p50", "p90", "p95", "p99", "mean", "max")
        rows.append([name] + ["-" if s[p] is None else f"{s[p]:,.1f}" for p in keys])
    cols = [("latency, ms", "left")] + [
        (h, "right") for h in ("p50", "p90", "p95", "p99", "mean", "max")
    ]
    cfg = d["config"]
    print(
        table(
            f"Simulation: {scenario.name} - {cfg.get('setup', cfg['service'])} "
            f"x{cfg['replicas']} replicas ({cfg['load_balancer']})",
            cols,
            rows,
        )
    )
    kv_peak = max(result.timeline["kv_used"], default=0.0)
    print(
        f"requests {d['requests']:,} over {d['duration_s']:,.1f} s simulated: "
        f"{d['req_per_s']:,.2f} req/s, {d['output_tok_per_s']:,.0f} output tok/s, "
        f"{d['input_tok_per_s']:,.0f} input tok/s"
    )
    print(
        f"goodput {d['goodput']:.2%} of requests meet every SLO "
        f"({d['goodput_req_per_s']:,.2f} req/s); preemptions {d['preemptions']:,}; "
        f"peak KV use {kv_peak:.0%}; mean in system {d['mean_in_system']:,.1f}; "
        f"prefix-cache hits {d['prefix_hit_tokens']:,} tokens"
    )
    if "scheduler" in cfg:
        print(f"scheduler: {cfg['scheduler']}")
    for note in d["notes"]:
        print(f"note: {note}")
    if chart is not None:
        print(f"chart written to {chart}")
    print(f"basis: {d['basis']}; {d['events']:,} events in {d['wall_s']:.2f} s wall time")


def _write_chart(result: Any, path: Path, title: str) -> None:
    """The format follows the suffix: .html, .svg or .png (PNG needs matplotlib)."""
    from fleetplan.sim.chart import chart_html, chart_svg

    suffix = path.suffix.lower()
    if suffix == ".png":
        _png_chart(result, path, title)
        return
    if suffix not in (".html", ".htm", ".svg"):
        raise InputError(f"--chart {path}: expected a file ending in .html, .svg or .png")
    text = chart_svg(result, title) if suffix == ".svg" else chart_html(result, title)
    try:
        path.write_text(text)
    except OSError as exc:
        raise InputError(f"--chart {path}: cannot write: {exc.strerror}") from None


def _png_chart(result: Any, path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError(
            f"--chart {path}: PNG needs matplotlib (pip install matplotlib); "
            "or write .html or .svg, which need nothing"
        ) from None
    w, tl = result.windows, result.timeline
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for ax, name in zip(axes[:2], ("ttft", "e2e"), strict=True):
        for p in ("p50", "p95", "p99"):
            ax.plot(w["t_s"], w[f"{name}_{p}"], label=p)
        ax.set_ylabel(f"{name.upper()} ms")
        ax.legend()
    for key in ("queue", "running", "in_system"):
        axes[2].plot(tl["t_s"], tl[key], label=key)
    axes[2].set_ylabel("requests")
    axes[2].set_xlabel("simulated time (s)")
    axes[2].legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
