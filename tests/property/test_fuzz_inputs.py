"""Fuzzing every entry point: scenario schema, command options and file readers.

Whatever goes in, a command exits 0, 2 (bad input) or 3 (`plan`: no candidate), prints no
traceback, and its JSON holds no inf, NaN or negative count. Runs in-process through the real
entry point; derandomized (the same cases every run); each case under a hard time limit.
"""

from __future__ import annotations

import json
import math
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetplan.cli import main
from fleetplan.errors import FleetplanError
from fleetplan.files import parse_text

EXAMPLES = {"options": 450, "scenario": 500, "plan": 25, "parse": 300, "readers": 120}


def fuzz(key: str) -> settings:
    return settings(FUZZ, max_examples=EXAMPLES[key])


FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CASE_LIMIT_S = 30  # a hang, not a slow machine: the slowest case takes well under a second
COUNT_KEYS = ("replicas", "gpus", "gpus_total", "max_batch", "tp", "batch")


@contextmanager
def time_limit(seconds: int = CASE_LIMIT_S):
    def hang(*_: Any) -> None:
        raise TimeoutError(f"a case ran over {seconds} s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_json(value: Any, key: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            check_json(v, str(k))
    elif isinstance(value, list):
        for v in value:
            check_json(v, key)
    elif isinstance(value, float):
        assert math.isfinite(value), (key, value)
    if isinstance(value, int | float) and not isinstance(value, bool) and key in COUNT_KEYS:
        assert value >= 0, (key, value)


def run(capsys: pytest.CaptureFixture[str], *args: str, codes: tuple[int, ...] = (0, 2)) -> None:
    with time_limit():
        code = main(list(args))
    out, err = capsys.readouterr()
    assert code in codes, (args, code, err)
    assert "Traceback" not in out + err
    if code == 2:
        lines = [x for x in err.splitlines() if x.strip()]
        assert len(lines) == 1, (args, err)
    elif "--json" in args and out.strip():
        check_json(json.loads(out))


# numbers as a user might type them, good and bad
TEXT_NUMBERS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "1e308", "-1", "0", "1e-300", "0.5", "3", "1e9", "x"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
)
OPTION_CASES = [
    (["cost", "--gpu", "h100", "--tok-per-s", "100", "--json"], ["--usd-per-hour", "--gpus",
     "--utilization"]),
    (["cost", "--gpu", "h100", "--model", "llama-3.1-8b", "--json"], ["--input-tokens",
     "--output-tokens", "--utilization"]),
    (["fit", "llama-3.1-8b", "--gpu", "h100", "--json"], ["--tp", "--context",
     "--gpu-memory-utilization"]),
    (["perf", "llama-3.1-8b", "--gpu", "h100", "--json"], ["--input-tokens", "--output-tokens",
     "--batch", "--tp"]),
    (["tco", "--gpu", "h100", "--json"], ["--gpus", "--price-usd", "--life-years", "--load",
     "--pue", "--usd-per-kwh", "--ops-usd-per-month"]),
    (["cache-roi", "--prefix-tokens", "1000", "--suffix-tokens", "100", "--requests-per-hour",
      "500", "--hit-rate", "0.5", "--json"], ["--prefix-tokens", "--suffix-tokens",
     "--requests-per-hour", "--hit-rate", "--embedding-usd-per-mtok"]),
    (["lora", "--loads", "100,200", "--capacity-req-per-hour", "1000", "--usd-per-hour", "2",
      "--json"], ["--loads", "--capacity-req-per-hour", "--usd-per-hour", "--adapter-overhead",
     "--gpus-per-replica"]),
    (["tenancy", "--peak-gpus", "2,3", "--utilization", "0.5,0.2", "--json"], ["--peak-gpus",
     "--utilization", "--quantile"]),
    (["fleet-mix", "--demand-gpus", "1,2,3,4", "--gpu", "h100", "--json"], ["--demand-gpus",
     "--base-percentile", "--base-usd-per-hour", "--burst-usd-per-hour",
     "--spot-interruption"]),
]  # fmt: skip


@fuzz("options")
@given(case=st.sampled_from(OPTION_CASES), data=st.data())
def test_command_options(capsys, case, data):
    base, flags = case
    chosen = data.draw(st.lists(st.sampled_from(flags), min_size=1, max_size=3, unique=True))
    args = list(base)
    for flag in chosen:
        value = data.draw(TEXT_NUMBERS)
        if flag in {"--loads", "--peak-gpus", "--utilization", "--demand-gpus"}:
            value = ",".join([value, data.draw(TEXT_NUMBERS)])
        args += [flag, value]
    run(capsys, *args)


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "20", "llama-3.1-8b", "h100", "bf16", "vllm", "on-demand"]),
    st.lists(st.sampled_from(["bf16", "fp8", "h100", "runpod", 2, 1.5]), max_size=3),
)
LENGTHS = st.fixed_dictionaries(
    {},
    optional={
        "mean": VALUES,
        "p50": VALUES,
        "p95": VALUES,
        "p99": VALUES,
        "lognormal": st.fixed_dictionaries({"median": VALUES, "sigma": VALUES}),
    },
)
SCENARIOS = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["llama-3.1-8b", "qwen2.5-7b", "nope", ""]),
        "traffic": st.fixed_dictionaries(
            {"avg_qps": VALUES}, optional={"peak_qps": VALUES, "growth_per_month": VALUES}
        ),
        "input_tokens": LENGTHS,
        "output_tokens": LENGTHS,
    },
    optional={
        "precisions": VALUES,
        "engines": VALUES,
        "headroom": VALUES,
        "ops_usd_per_month": VALUES,
        "prefix_caching": VALUES,
        "slo": st.fixed_dictionaries(
            {}, optional={"ttft_p95_ms": VALUES, "tpot_p95_ms": VALUES, "min_replicas": VALUES}
        ),
        "constraints": st.fixed_dictionaries(
            {},
            optional={
                "gpus": VALUES,
                "providers": VALUES,
                "max_usd_per_month": VALUES,
                "tp": VALUES,
                "self_host_only": VALUES,
            },
        ),
    },
)


@fuzz("scenario")
@given(SCENARIOS)
def test_scenario_schema(data):
    from fleetplan.scenario import parse_scenario

    with time_limit():
        try:
            spec = parse_scenario(data)
        except FleetplanError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 5000
            return
    # what the schema accepts is finite and within its bounds
    assert 0.01 <= spec.headroom <= 1 and math.isfinite(spec.traffic.avg_qps)


@fuzz("plan")
@given(
    headroom=st.sampled_from([1.0, 0.7, 0.05, 0.01]),
    qps=st.sampled_from([0.01, 1.0, 50.0, 5000.0]),
    tpot=st.sampled_from([1.0, 20.0, 60.0, 1e6]),
    budget=st.sampled_from([None, 1.0, 1e4, 1e12]),
)
def test_plan_end_to_end(tmp_path_factory, capsys, headroom, qps, tpot, budget):
    constraints = {"providers": ["runpod", "lambda"]}
    if budget is not None:
        constraints["max_usd_per_month"] = budget
    data = {
        "model": "llama-3.1-8b",
        "traffic": {"avg_qps": qps},
        "input_tokens": {"mean": 700, "p95": 2000},
        "output_tokens": {"mean": 200},
        "slo": {"tpot_p95_ms": tpot},
        "constraints": constraints,
        "headroom": headroom,
    }
    path = tmp_path_factory.mktemp("fuzz") / "s.json.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    run(capsys, "plan", str(path), "--json", codes=(0, 2, 3))


TEXTS = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "a: &a [1,1]\nb: [*a,*a]\n",
            "a: 1\na: 2\n",
            "[" * 200 + "]" * 200,
            "x = 1\nx = 2\n",
            '{"a": 1, "a": 2}',
            "!!python/object/apply:os.system ['true']",
            "key: 1e-3\n",
        ]
    ),
)


@fuzz("parse")
@given(text=TEXTS, fmt=st.sampled_from(["yaml", "toml", "json"]))
def test_structured_file_parsing(text, fmt):
    with time_limit():
        try:
            parse_text(text, "fuzz file", fmt)
        except FleetplanError as exc:
            assert "\n" not in str(exc)


READERS = [
    ("plan", "s.yaml", ()),
    ("plan", "s.toml", ()),
    ("fit", "config.json", ("--gpu", "h100")),
    ("gpus", "c.toml", ()),
    ("simulate", "sim.yaml", ()),
    ("route", "r.yaml", ()),
    ("budget", "b.yaml", ()),
]


@fuzz("readers")
@given(reader=st.sampled_from(READERS), content=st.binary(max_size=300))
def test_file_readers(tmp_path_factory, capsys, reader, content):
    command, name, extra = reader
    path = tmp_path_factory.mktemp("reader") / name
    path.write_bytes(content)
    if command == "gpus":
        args = ["gpus", "--catalog", str(path), "--json"]
    elif command == "route":
        args = ["route", "simulate", "--config", str(path), "--traffic", str(path), "--json"]
    else:
        args = [command, str(path), *extra, "--json"]
    run(capsys, *args, codes=(0, 2, 3))


def test_fuzz_suite_size():
    """The suite runs at least 1,000 generated cases per run (the review's floor)."""
    assert sum(EXAMPLES.values()) >= 1000


def test_time_limit_fires(tmp_path: Path):
    import time

    with pytest.raises(TimeoutError), time_limit(1):
        time.sleep(3)
