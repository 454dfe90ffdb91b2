"""`fleetplan breakeven` and `cost`: options are refused where they would be silently ignored
or replaced."""

from __future__ import annotations

import pytest

from fleetplan.economics.breakeven import SelfHosted, breakeven

ARGS = ["breakeven", "--api", "gpt-4o", "--gpu", "h100", "--usd-per-hour", "2", "--input-tokens",
        "1000", "--output-tokens", "300", "--capacity-req-per-hour", "10000"]  # fmt: skip
COST = ["cost", "--gpu", "h100", "--usd-per-hour", "2", "--tok-per-s", "1000"]


def test_volume_max_zero_is_refused_not_replaced(cli) -> None:
    """0 was taken as 'not given' and the default range drawn instead."""
    r = cli(*ARGS, "--volume-max", "0", "--json")
    assert r.code == 2 and "--volume-max = 0.0; accepted: a finite number in (0, " in r.err


def test_volume_max_without_json_is_refused(cli) -> None:
    r = cli(*ARGS, "--volume-max", "100")
    assert r.code == 2 and "--volume-max only adds to the --json output" in r.err
    d = cli(*ARGS, "--volume-max", "100", "--json").json()
    assert d[0]["curve"]["requests_per_month"][-1] == 100


def test_a_given_volume_max_is_kept() -> None:
    sh = SelfHosted(usd_per_gpu_hour=2.0, capacity_req_per_hour=10_000)
    assert breakeven("api", 0.005, sh, 1300, 0.0).curve.requests_per_month == (0,)


@pytest.mark.parametrize(
    ("command", "extra", "said"),
    [
        (ARGS, ["--precision", "fp8"], "--precision = fp8 applies with --model only"),
        (ARGS, ["--tpot-p95-ms", "0"], "--tpot-p95-ms = 0.0 applies with --model only"),
        (COST, ["--precision", "fp8"], "--precision = fp8 applies with --model only"),
        (COST, ["--input-tokens", "900"], "--input-tokens = 900 applies with --model only"),
        (COST, ["--ttft-p95-ms", "200"], "--ttft-p95-ms = 200.0 applies with --model only"),
    ],
)
def test_performance_model_options_need_the_model(cli, command, extra, said) -> None:
    """With a capacity or a throughput given, these shaped nothing and were dropped without a
    word; their defaults (what the web API sends) stay accepted."""
    r = cli(*command, *extra)
    assert r.code == 2 and said in r.err
    assert cli(*command, "--precision", "auto").code == 0


def test_breakeven_per_request_figures_keep_their_digits(cli) -> None:
    """An embedding model's $0.000001/request and a GPU's $0.00000043 read 0.000001 and
    0.000000 (a figure of nothing beside a breakeven)."""
    r = cli("breakeven", "--api", "openai:text-embedding-3-small", "--gpu", "l4",
            "--usd-per-hour", "0.43", "--input-tokens", "50", "--output-tokens", "1",
            "--capacity-req-per-hour", "1000000")  # fmt: skip
    assert r.code == 0, r.err
    row = next(line for line in r.out.splitlines() if line.startswith("openai:"))
    assert "0.00000100" in row and "0.000000430" in row and " 0.000000 " not in row
