"""What the tool prints never points at files users do not have or at internal labels.

Every command's `--help`, and every command's `--json` (where it has one) on a small valid
input, is searched for the project's internal references: the shared/ folder, source-document
numbers and sections, example labels like E7 or W4, the repository's benchmarks folder and its
docs/ folder (the documents the output points at ship in the package: `fleetplan docs TOPIC`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from fleetplan.cli import _register, app

EXAMPLES = Path(__file__).parents[2] / "examples"
CALIBRATION = Path(__file__).parents[1] / "data" / "calibration"
FORBIDDEN = [
    re.compile(r"shared/"),
    re.compile(r"seed[- ]?0\d\d", re.I),
    re.compile(r"seed-examples", re.I),
    re.compile(r"§\s*\d"),
    re.compile(r"(?<![\w.-])[EW]\d{1,2}(?![\w.-])"),
    re.compile(r"benchmarks/accuracy"),
    re.compile(r"(?<![\w/.-])docs/"),  # a repository path; URLs (".../docs/...") pass
]

# minimal valid arguments for every command with --json ("measure" needs a CUDA GPU)
JSON_RUNS: dict[str, list[str]] = {
    "gpus": [],
    "docs": [],
    "models": [],
    "offers": [],
    "engines": [],
    "precisions": [],
    "cost": ["--gpu", "l40s", "--model", "llama-3.1-8b"],
    "breakeven": [
        "--api",
        "gpt-4o-mini",
        "--gpu",
        "l40s",
        "--model",
        "llama-3.1-8b",
        "--input-tokens",
        "800",
        "--output-tokens",
        "300",
    ],
    "budget": [str(EXAMPLES / "budget-monthly.yaml")],
    "tco": ["--gpu", "h100"],
    "cache-roi": [
        "--prefix-tokens",
        "2000",
        "--suffix-tokens",
        "200",
        "--requests-per-hour",
        "1000",
        "--hit-rate",
        "0.8",
    ],
    "tenancy": ["--peak-gpus", "2,3,1", "--utilization", "0.3,0.5,0.2"],
    "fleet-mix": ["--demand-gpus", "2,2,4,8,4,2", "--gpu", "a100-80gb"],
    "fit": ["llama-3.1-8b", "--gpu", "a10g"],
    "perf": ["llama-3.1-8b", "--gpu", "h100"],
    "plan": [],
    "quantize": ["llama-3.1-8b", "--gpu", "l40s"],
    "lora": ["--loads", "100,200,50", "--capacity-req-per-hour", "1800", "--usd-per-hour", "2"],
    "simulate": [str(EXAMPLES / "sim-burst.yaml")],
    "calibrate": [str(CALIBRATION / "vllm_bench_serve_c16.json")],
    "api models": [],
    "api price": ["gpt-4o"],
    "autoscale simulate": [str(EXAMPLES / "autoscale-week.yaml"), "--policy", "reactive"],
    "forecast": [str(CALIBRATION.parent / "history" / "hourly-3-weeks.csv"), "--horizon", "30"],
    "sweep": [str(CALIBRATION.parent / "sweep-small.yaml"), "--workers", "1"],
    "keys list": ["--db", ":memory:"],  # an empty in-memory keys file
    "keys usage": ["--db", ":memory:"],
    "route simulate": [
        "--config",
        str(EXAMPLES / "router.yaml"),
        "--traffic",
        str(EXAMPLES / "router-traffic.yaml"),
    ],
}
JSON_RUNS["import-offers"] = [
    str(Path(__file__).parents[1] / "data" / "skypilot" / "vms.csv"),
    "--provider",
    "aws",
]
JSON_RUNS["keys create"] = ["--db", ":memory:", "--name", "someone"]
# measure needs a CUDA GPU, gateway and serve serve until stopped and keys revoke needs a
# stored key (tests/cli/test_json_output.py runs it); their --help is still checked
NO_JSON_RUN = {"measure", "gateway", "serve", "keys revoke"}


def _commands() -> list[tuple[str, Any]]:
    _register()
    root = app
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, cmd: Any) -> None:
        if getattr(cmd, "commands", None):  # a group
            for name, sub in cmd.commands.items():
                walk(f"{prefix} {name}".strip(), sub)
        else:
            out.append((prefix, cmd))

    walk("", root)
    return out


COMMANDS = _commands()
assert len(COMMANDS) > 20


def _clean(text: str, where: str) -> None:
    for pattern in FORBIDDEN:
        hit = pattern.search(text)
        assert hit is None, (
            f"{where}: {hit.group(0)!r} in ...{text[max(hit.start() - 60, 0) : hit.end() + 60]}..."
        )


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_help_has_no_internal_references(cli, name):
    r = cli(*name.split(), "--help")
    assert r.code == 0, r.err
    _clean(r.out, f"{name} --help")


def test_every_json_command_is_exercised():
    with_json = {n for n, c in COMMANDS if any("--json" in p.opts for p in c.params)}
    assert with_json - NO_JSON_RUN == set(JSON_RUNS)


@pytest.mark.parametrize("name", sorted(JSON_RUNS))
def test_json_has_no_internal_references(cli, name):
    r = cli(*name.split(), *JSON_RUNS[name], "--json")
    assert r.code == 0, f"{name}: {r.err}"
    _clean(r.out + r.err, f"{name} --json")


def test_explain_has_no_internal_references(cli):
    for args in (["perf", "llama-3.1-8b", "--gpu", "h100"], ["fit", "llama-3.1-8b", "--gpu", "l4"]):
        r = cli(*args, "--explain")
        assert r.code == 0, r.err
        _clean(r.out, " ".join(args))
