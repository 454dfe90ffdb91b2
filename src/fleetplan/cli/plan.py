"""`fleetplan plan [FILE]`: the cheapest deployment meeting a scenario's SLOs, and why."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from fleetplan.cli import EXIT_NO_CANDIDATE, app
from fleetplan.cli.common import catalog_from
from fleetplan.cli.options import calibration_opt, catalog_opt
from fleetplan.plan.types import MAX_REQUESTS_PER_SIZE

BUILTIN = "chat-8b.yaml"


@app.command("plan")
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option("--format", "fmt", help="terminal (default), json, md or html.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Write the report to this file."
)
@click.option(
    "--emit",
    help="Write the serve command, Docker Compose, Kubernetes manifests, alerts and a "
    "dashboard into this new folder.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Simulate the recommendation at peak; grow replicas until percentile SLOs hold.",
)
@click.option(
    "--verify-max-requests",
    type=int,
    default=MAX_REQUESTS_PER_SIZE,
    help="Work cap of --verify: simulated requests per fleet size (all seeds); a "
    "check estimated above it is refused before it runs.",
)
@click.option("--model", help="Plan without a file: model id, alias or config.json.")
@click.option("--qps", type=float, help="Average requests/s.")
@click.option("--peak-qps", type=float, help="Peak requests/s (default: --qps).")
@click.option("--input-tokens", type=float, help="Mean prompt tokens.")
@click.option("--output-tokens", type=float, help="Mean output tokens.")
@click.option("--ttft-p95-ms", type=float, help="TTFT SLO at p95, ms.")
@click.option("--tpot-p95-ms", type=float, help="TPOT SLO at p95, ms.")
@click.option("--gpu", multiple=True, help="Only these GPUs (repeatable).")
@click.option("--provider", multiple=True, help="Only these providers (repeatable).")
@click.option("--precision", multiple=True, help="Weight precisions to try (repeatable).")
@click.option("--pricing", multiple=True, help="Pricing models (repeatable), e.g. spot.")
@click.option(
    "--allow",
    multiple=True,
    help="Also weigh consumer, community, price-range, reserved-3y (repeatable).",
)
@click.option(
    "--serve-model",
    help="Hugging Face id (owner/name) the --emit files serve: needed for a config.json model "
    "and for precisions served from an exported checkpoint (AWQ, GPTQ, GGUF).",
)
@catalog_opt()
@calibration_opt()
def plan(
    scenario: Path | None,
    fmt: str | None,
    as_json: bool,
    output: Path | None,
    emit: str | None,
    verify: bool,
    verify_max_requests: int,
    model: str | None,
    qps: float | None,
    peak_qps: float | None,
    input_tokens: float | None,
    output_tokens: float | None,
    ttft_p95_ms: float | None,
    tpot_p95_ms: float | None,
    gpu: list[str] | None,
    provider: list[str] | None,
    precision: list[str] | None,
    pricing: list[str] | None,
    allow: list[str] | None,
    serve_model: str | None,
    catalog: list[Path] | None,
    calibration: list[Path] | None,
) -> None:
    """Search GPU x precision x tp x engine x batch x offer; recommend, compare, explain.

    Without a file: `fleetplan plan --model llama-3.1-8b --qps 20 --input-tokens 900
    --output-tokens 300 --ttft-p95-ms 1500 --tpot-p95-ms 50 [--gpu h100] [--provider aws]`.
    The same options override a scenario file's fields. Exits 3 (after printing the report)
    when no candidate meets the SLOs and constraints.

    SCENARIO: Scenario file (YAML or TOML; its fields: `fleetplan docs scenario`); without it,
    the built-in example."""
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
        "allow": allow, "serve_model": serve_model,
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
    if emit is not None and p.recommended is None:  # the report still comes, and exit 3
        print(f"wrote nothing to {emit}: no deployment to emit files for", file=sys.stderr)
    elif emit is not None:
        from fleetplan.render.deploy import write

        files = write(p, emit, cat)
        print(f"wrote {len(files)} files to {emit}", file=sys.stderr)
    if output is not None:
        from fleetplan.files import write_text_atomic

        write_text_atomic(output, text or "")
    elif text is not None:
        print(text)
    if p.recommended is None:
        raise click.exceptions.Exit(EXIT_NO_CANDIDATE)


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
        # the checkpoint's own format ("auto": gpt-oss's MXFP4, DeepSeek's FP8) and the usual ones
        "precisions": ["auto", "bf16", "fp8", "awq"],
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
        # a new average: the absolute rates set beside the old one go (the peak is --peak-qps,
        # else the average); growth, arrivals and a forecast stay, as every field not named
        traffic = {k: v for k, v in traffic.items() if k not in ("peak_qps", "hourly_qps")}
        traffic["avg_qps"] = flags["qps"]
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
    if flags.get("serve_model") is not None:
        out["serve_model"] = flags["serve_model"]
    out.update(traffic=traffic, slo=slo, constraints=cons)
    return out
