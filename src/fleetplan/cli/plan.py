"""`fleetplan plan [FILE]`: the cheapest deployment meeting a scenario's SLOs, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetplan.cli import app
from fleetplan.cli.common import CalibrationOpt, CatalogOpt, catalog_from, print_json

BUILTIN = "chat-8b.yaml"


@app.command()
def plan(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario file (YAML or TOML); without it, the built-in example."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="terminal, json, md or html.")] = "terminal",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    emit: Annotated[
        str | None,
        typer.Option(
            help="Write the serve command, Docker Compose, Kubernetes manifests, alerts and a "
            "dashboard into this new folder."
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Simulate the recommendation at peak; grow replicas until percentile SLOs hold.",
        ),
    ] = False,
    catalog: CatalogOpt = None,
    calibration: CalibrationOpt = None,
) -> None:
    """Search GPU x precision x tp x engine x batch x offer; recommend, compare, explain."""
    from importlib import resources

    import yaml

    from fleetplan.errors import InputError
    from fleetplan.plan import make_plan
    from fleetplan.scenario import load_scenario, parse_scenario

    fmt = "json" if as_json else fmt.lower()
    if fmt not in {"terminal", "json", "md", "html"}:
        raise InputError(f"--format = {fmt!r}; accepted: terminal, json, md, html")
    if scenario is None:
        text = resources.files("fleetplan.examples").joinpath(BUILTIN).read_text("utf-8")
        spec, base = parse_scenario(yaml.safe_load(text), f"built-in {BUILTIN}"), Path(".")
    else:
        spec, base = load_scenario(scenario)
    if emit is not None:
        from fleetplan.render.output_folder import check_destination

        check_destination(emit, "--emit")  # before the search, not after
    cat = catalog_from(catalog, calibration)
    p = make_plan(spec, base, cat)
    if verify:
        from fleetplan.plan.verify import verify as run_verify

        p = run_verify(p, cat)
    if emit is not None:
        from fleetplan.render.deploy import write

        files = write(p, emit, cat)
        import sys

        print(f"wrote {len(files)} files to {emit}", file=sys.stderr)
    if fmt == "json":
        from fleetplan.render.plan_records import plan_record

        data = plan_record(p)
        if output:
            import json

            output.write_text(json.dumps(data, indent=2, allow_nan=False), encoding="utf-8")
        else:
            print_json(data)
        return
    if fmt == "terminal" and output is None:
        from fleetplan.render.plan_report import print_terminal

        print_terminal(p)
        return
    from fleetplan.render.plan_report import html_report, markdown

    text = html_report(p) if fmt == "html" else markdown(p)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        print(text)
