"""`fleetplan plan [FILE]`: the cheapest deployment meeting a scenario's SLOs, and why."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetplan.cli import EXIT_NO_CANDIDATE, app
from fleetplan.cli.common import catalog_from
from fleetplan.cli.options import CalibrationOpt, CatalogOpt
from fleetplan.plan.verify import MAX_REQUESTS_PER_SIZE

BUILTIN = "chat-8b.yaml"


@app.command()
def plan(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="Scenario file (YAML or TOML); without it, the built-in example."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="terminal (default), json, md or html.")
    ] = None,
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
    verify_max_requests: Annotated[
        int,
        typer.Option(
            help="Work cap of --verify: simulated requests per fleet size (all seeds); a "
            "check estimated above it is refused before it runs."
        ),
    ] = MAX_REQUESTS_PER_SIZE,
    model: Annotated[
        str | None, typer.Option(help="Plan without a file: model id, alias or config.json.")
    ] = None,
    qps: Annotated[float | None, typer.Option(help="Average requests/s.")] = None,
    peak_qps: Annotated[
        float | None, typer.Option(help="Peak requests/s (default: --qps).")
    ] = None,
    input_tokens: Annotated[float | None, typer.Option(help="Mean prompt tokens.")] = None,
    output_tokens: Annotated[float | None, typer.Option(help="Mean output tokens.")] = None,
    ttft_p95_ms: Annotated[float | None, typer.Option(help="TTFT SLO at p95, ms.")] = None,
    tpot_p95_ms: Annotated[float | None, typer.Option(help="TPOT SLO at p95, ms.")] = None,
    gpu: Annotated[list[str] | None, typer.Option(help="Only these GPUs (repeatable).")] = None,
    provider: Annotated[
        list[str] | None, typer.Option(help="Only these providers (repeatable).")
    ] = None,
    precision: Annotated[
        list[str] | None, typer.Option(help="Weight precisions to try (repeatable).")
    ] = None,
    pricing: Annotated[
        list[str] | None, typer.Option(help="Pricing models (repeatable), e.g. spot.")
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(help="Also weigh consumer, community, price-range, reserved-3y (repeatable)."),
    ] = None,
    catalog: CatalogOpt = None,
    calibration: CalibrationOpt = None,
) -> None:
    """Search GPU x precision x tp x engine x batch x offer; recommend, compare, explain.

    Without a file: `fleetplan plan --model llama-3.1-8b --qps 20 --input-tokens 900
    --output-tokens 300 --ttft-p95-ms 1500 --tpot-p95-ms 50 [--gpu h100] [--provider aws]`.
    The same options override a scenario file's fields. Exits 3 (after printing the report)
    when no candidate meets the SLOs and constraints."""
    from importlib import resources

    from fleetplan.errors import InputError
    from fleetplan.files import check_output_file, parse_text
    from fleetplan.plan import make_plan
    from fleetplan.scenario import load_scenario, parse_scenario

    if as_json and fmt is not None and fmt.lower() != "json":
        raise InputError(f"--json and --format {fmt} cannot be used together; give one")
    fmt = "json" if as_json else (fmt or "terminal").lower()
    if fmt not in {"terminal", "json", "md", "html"}:
        raise InputError(f"--format = {fmt!r}; accepted: terminal, json, md, html")
    if output is not None:  # before any work, so a bad path costs nothing and writes nothing
        check_output_file(output, "--output")
    flags = {
        "model": model, "qps": qps, "peak_qps": peak_qps, "input_tokens": input_tokens,
        "output_tokens": output_tokens, "ttft_p95_ms": ttft_p95_ms, "tpot_p95_ms": tpot_p95_ms,
        "gpus": gpu, "providers": provider, "precisions": precision, "pricing": pricing,
        "allow": allow,
    }  # fmt: skip
    if scenario is None and model is not None:
        spec, base = parse_scenario(scenario_from_flags(flags), "plan options"), Path(".")
    elif scenario is None:
        text = resources.files("fleetplan.examples").joinpath(BUILTIN).read_text("utf-8")
        data = override(parse_text(text, f"built-in {BUILTIN}", "yaml"), flags)
        spec, base = parse_scenario(data, f"built-in {BUILTIN}"), Path(".")
    else:
        spec, base = load_scenario(scenario)
        if any(v for v in flags.values()):
            spec = parse_scenario(override(spec.model_dump(exclude_none=True), flags), "plan")
    if emit is not None:
        from fleetplan.render.output_folder import check_destination

        check_destination(emit, "--emit")  # before the search, not after
    if verify:  # the work cap, before the search
        from fleetplan.plan.verify import check_verify_work

        check_verify_work(spec, verify_max_requests)
    cat = catalog_from(catalog, calibration)
    p = make_plan(spec, base, cat)
    if verify:
        from fleetplan.plan.verify import verify as run_verify

        p = run_verify(p, cat, max_requests=verify_max_requests)  # checked again: a no-op
    text = _render(p, fmt, to_file=output is not None)  # rendered before anything is written
    if emit is not None:
        from fleetplan.render.deploy import write

        files = write(p, emit, cat)
        print(f"wrote {len(files)} files to {emit}", file=sys.stderr)
    if output is not None:
        from fleetplan.files import write_text_atomic

        write_text_atomic(output, text or "")
    elif text is not None:
        print(text)
    if p.recommended is None:
        raise typer.Exit(EXIT_NO_CANDIDATE)


def _render(p: Any, fmt: str, to_file: bool) -> str | None:
    """The report as text; None when it was printed straight to the terminal."""
    if fmt == "json":
        import json

        from fleetplan.render.plan_records import plan_record

        return json.dumps(plan_record(p), indent=2, allow_nan=False)
    if fmt == "terminal" and not to_file:
        from fleetplan.render.plan_report import print_terminal

        print_terminal(p)
        return None
    from fleetplan.render.plan_report import html_report, markdown

    return html_report(p) if fmt == "html" else markdown(p)


FLAG_NAMES = {"qps": "--qps", "input_tokens": "--input-tokens", "output_tokens": "--output-tokens"}


def scenario_from_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """A scenario from `plan --model ...` options alone (production defaults otherwise)."""
    from fleetplan.errors import InputError

    missing = [FLAG_NAMES[k] for k in FLAG_NAMES if flags.get(k) is None]
    if missing:
        raise InputError(f"plan --model needs {', '.join(missing)} (or a scenario file)")
    base: dict[str, Any] = {
        "name": f"{flags['model']} at {flags['qps']:g} req/s",
        "model": flags["model"],
        "precisions": ["bf16", "fp8", "awq"],
        "traffic": {"avg_qps": flags["qps"]},
        "input_tokens": {"mean": flags["input_tokens"]},
        "output_tokens": {"mean": flags["output_tokens"]},
        "slo": {"min_replicas": 2},
    }
    return override(base, {**flags, "model": None, "qps": None})


def override(data: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The scenario mapping with the fields the command-line options name replaced."""
    out = {**data}
    cons = {**out.get("constraints", {})}
    slo = {**out.get("slo", {})}
    traffic = {**out.get("traffic", {})}
    if flags.get("model"):
        out["model"] = flags["model"]
    if flags.get("qps") is not None:
        traffic = {"avg_qps": flags["qps"]}
    if flags.get("peak_qps") is not None:
        traffic["peak_qps"] = flags["peak_qps"]
    for key in ("input_tokens", "output_tokens"):
        if flags.get(key) is not None:
            out[key] = {"mean": flags[key]}
    for key in ("ttft_p95_ms", "tpot_p95_ms"):
        if flags.get(key) is not None:
            slo[key] = flags[key]
    for key in ("gpus", "providers", "pricing", "allow"):
        if flags.get(key):
            cons[key] = list(flags[key])
    if flags.get("precisions"):
        out["precisions"] = list(flags["precisions"])
    out.update(traffic=traffic, slo=slo, constraints=cons)
    return out
