"""Config loading and pricing, strategies, overflow, token buckets, breaker, simulation, CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
from pathlib import Path

import pytest
import yaml

from fleetplan.cli import main
from fleetplan.errors import InputError
from fleetplan.router.config import HealthIn, OverflowIn, parse_config
from fleetplan.router.health import Breaker
from fleetplan.router.simulate import parse_profile, simulate
from fleetplan.router.state import Bucket, MemoryState
from fleetplan.router.strategies import Candidate, order, with_overflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PRICE = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}


def _p(name: str, **over):
    d = {"name": name, "base_url": "http://127.0.0.1:9/v1", "models": {"m": "x"}, "price": PRICE}
    d.update(over)
    return d


def test_self_hosted_priced_from_reserved_gpu_hours():
    cfg = parse_config(
        {
            "providers": [
                _p(
                    "own",
                    kind="self_hosted",
                    price=None,
                    reserved={
                        "gpus": 2,
                        "usd_per_gpu_hour": 1.5,
                        "expected_tokens_per_month": 2.19e9,
                    },
                )
            ]
        }
    )
    price = cfg.providers[0].prices["m"]
    # 2 x 1.5 $/h x 730 h = 2,190 $/month over 2,190 Mtok = 1 $/Mtok, never $0
    assert price.input_usd_per_mtok == pytest.approx(1.0)
    assert price.cost_usd(1000, 1000) == pytest.approx(0.002)
    with pytest.raises(InputError, match="never priced at \\$0"):
        parse_config({"providers": [_p("own", kind="self_hosted", price=None)]})


def test_unpriced_model_is_an_error_at_load():
    with pytest.raises(InputError, match="no price"):
        parse_config({"providers": [_p("api", price=None, models={"m": "no-such-model-xyz"})]})


def test_validation_names_the_field():
    with pytest.raises(InputError, match=r"providers\.0\.base_url"):
        parse_config({"providers": [_p("a", base_url="ftp://x")]})
    with pytest.raises(InputError, match="unique"):
        parse_config({"providers": [_p("a"), _p("a")]})
    with pytest.raises(InputError, match=r"providers\.0\.weigth"):
        parse_config({"providers": [_p("a", weigth=2)]})


def test_gateway_key_is_required(monkeypatch):
    monkeypatch.delenv("FLEETPLAN_GATEWAY_KEY", raising=False)
    cfg = parse_config({"providers": [_p("a")]})
    with pytest.raises(InputError, match="never runs open"):
        cfg.gateway_key()


def _c(name, **kw):
    base = dict(
        self_hosted=False,
        weight=1.0,
        priority=0,
        cost_usd=1.0,
        ttft_ema_s=None,
        in_flight=0,
        max_concurrent=None,
    )
    base.update(kw)
    return Candidate(name=name, **base)


def test_strategies_order():
    rng = random.Random(0)
    cs = [
        _c("a", cost_usd=3, priority=2, ttft_ema_s=0.1, in_flight=5, max_concurrent=10),
        _c("b", cost_usd=1, priority=1, ttft_ema_s=0.3, in_flight=1, max_concurrent=10),
        _c("c", cost_usd=2, priority=0, ttft_ema_s=None, in_flight=3, max_concurrent=4),
    ]
    names = lambda s: [c.name for c in order(s, cs, rng)]  # noqa: E731
    assert names("cost") == ["b", "c", "a"]
    assert names("quality") == ["c", "b", "a"]
    assert names("latency") == ["c", "a", "b"]  # unmeasured first, then fastest
    assert names("least_busy") == ["b", "a", "c"]  # 0.1, 0.5, 0.75 of max_concurrent
    firsts = [
        order("weighted", [_c("x", weight=3), _c("y", weight=1)], rng)[0].name for _ in range(4000)
    ]
    assert firsts.count("x") / 4000 == pytest.approx(0.75, abs=0.03)


def test_overflow_prefers_fleet_until_threshold():
    cfg = OverflowIn(max_in_flight=8)
    own = _c("own", self_hosted=True, in_flight=7, cost_usd=9)
    api = _c("api")
    got, over = with_overflow([api, own], cfg)
    assert [c.name for c in got] == ["own", "api"] and not over
    got, over = with_overflow([api, _c("own", self_hosted=True, in_flight=8)], cfg)
    assert [c.name for c in got] == ["api", "own"] and over
    slow = OverflowIn(max_ttft_ms=500)
    busy = _c("own", self_hosted=True, in_flight=1, ttft_ema_s=0.9)
    assert with_overflow([busy, api], slow)[1]
    idle = _c("own", self_hosted=True, in_flight=0, ttft_ema_s=0.9)  # stale average
    assert not with_overflow([idle, api], slow)[1]


def test_token_bucket_and_breaker_with_a_clock():
    now = [1000.0]
    st = MemoryState(clock=lambda: now[0])

    async def take() -> bool:
        return await st.admit([Bucket("k", 1.0, 3, 1, 1)], None) == 0

    async def run():
        got = [await take() for _ in range(5)]
        assert got == [True, True, True, False, False]
        now[0] += 2.0
        assert [await take() for _ in range(3)] == [True, True, False]
        assert await st.set_nx("lock", 1.0) and not await st.set_nx("lock", 1.0)
        now[0] += 1.5
        assert await st.set_nx("lock", 1.0)  # expired

    asyncio.run(run())


def test_breaker_lets_one_probe_through(monkeypatch):
    import fleetplan.router.health as health

    now = [1000.0]
    monkeypatch.setattr(health.time, "time", lambda: now[0])
    b = Breaker(MemoryState(clock=lambda: now[0]), HealthIn(failure_threshold=2, cooldown_s=5))

    async def run():
        await b.failure("p")
        assert await b.allow("p")
        await b.failure("p")
        assert not await b.allow("p") and await b.status("p") == "open"
        now[0] += 5.1
        assert await b.allow("p") and not await b.allow("p")  # one probe only
        await b.failure("p")  # the probe failed: open again
        assert await b.status("p") == "open"
        now[0] += 5.1
        assert await b.allow("p")
        await b.success("p")
        assert await b.status("p") == "closed" and await b.allow("p") and await b.allow("p")
        await b.failure("p", retry_after_s=2)
        assert not await b.allow("p")
        now[0] += 2.1
        assert await b.allow("p")

    asyncio.run(run())


def _sim_cfg(overflow=None, strategy="cost"):
    gw = {"strategy": strategy}
    if overflow:
        gw["overflow"] = overflow
    own = _p(
        "own",
        kind="self_hosted",
        price=None,
        reserved={"gpu_hours_usd_per_month": 1000, "expected_tokens_per_month": 1e9},
    )
    return parse_config({"gateway": gw, "providers": [own, _p("api")]})


def _profile(rate=20.0, capacity=8, api_fail=0.0):
    return parse_profile(
        {
            "traffic": {
                "model": "m",
                "requests_per_s": rate,
                "duration_s": 60,
                "input_tokens": 500,
                "output_tokens": 100,
                "seed": 3,
            },
            "providers": {
                "own": {"ttft_ms": 100, "tpot_ms": 10, "capacity": capacity},
                "api": {"ttft_ms": 300, "tpot_ms": 5, "failure_rate": api_fail},
            },
        }
    )


def test_simulated_overflow_and_cost_split():
    no = simulate(_sim_cfg(), _profile())
    assert no["served"] == no["requests"] and no["overflow_share"] == 0
    ovf = simulate(_sim_cfg({"max_in_flight": 8}), _profile())
    # 20 req/s x 1.1 s each = 22 in service on average, 8 on the fleet: the excess overflows
    assert 0.4 < ovf["overflow_share"] < 0.8
    assert ovf["ttft"]["p99_ms"] < no["ttft"]["p99_ms"]  # no queueing behind the fleet
    shares = {p["name"]: p["share"] for p in ovf["providers"]}
    assert shares["api"] == pytest.approx(ovf["overflow_share"], abs=0.01)
    assert sum(p["cost_usd"] for p in ovf["providers"]) == pytest.approx(ovf["cost_usd"])
    failing = simulate(_sim_cfg({"max_in_flight": 8}), _profile(api_fail=0.5))
    assert failing["retries"] > 0 and failing["served"] == failing["requests"]


def test_cli_route_simulate_example(capsys):
    rc = main(
        [
            "route",
            "simulate",
            "--config",
            str(EXAMPLES / "router.yaml"),
            "--traffic",
            str(EXAMPLES / "router-traffic.yaml"),
            "--json",
        ]
    )
    assert rc == 0
    rep = yaml.safe_load(capsys.readouterr().out)
    assert rep["requests"] == 4800 and rep["served"] + sum(rep["errors"].values()) == 4800


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "r.yaml"
    bad.write_text(yaml.safe_dump({"providers": [_p("a", price=None, models={"m": "nope-x"})]}))
    rc = main(["route", "simulate", "--config", str(bad), "--traffic", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("fleetplan: error:") and err.count("\n") == 1
    monkeypatch.delenv("FLEETPLAN_GATEWAY_KEY", raising=False)
    rc = main(["gateway", "--config", str(EXAMPLES / "router.yaml")])
    assert rc == 2 and "no gateway key" in capsys.readouterr().err


def test_simulate_honours_max_attempts():
    cfg = _sim_cfg({"max_in_flight": 8})
    many = simulate(cfg, _profile(api_fail=0.5))
    g = cfg.gateway.model_copy(update={"max_attempts": 1})
    one = simulate(dataclasses.replace(cfg, gateway=g), _profile(api_fail=0.5))
    assert many["retries"] > 0 and one["retries"] == 0
    assert one["errors"]["no provider available"] > 0  # a failed attempt is not retried


def test_simulator_and_gateway_admit_the_same(upstream, gateway):
    """The simulator runs the gateway's limit code: a burst of 30 against 10 requests/min on
    the preferred provider splits 10/20 in both."""
    pytest.importorskip("openai")
    from conftest import MSG, client, provider

    a, sa = upstream("a")
    b, sb = upstream("b")
    provs = [
        provider("a", sa.url, priority=0, limits={"requests_per_min": 10}),
        provider("b", sb.url, priority=1),
    ]
    g, gs = gateway(provs, state=MemoryState(clock=lambda: 1_000.0), strategy="quality")
    c = client(gs.url)
    for _ in range(30):
        c.chat.completions.create(model="m", messages=MSG)
    prof = parse_profile(
        {
            "traffic": {
                "model": "m",
                "requests_per_s": 3000,
                "duration_s": 0.01,
                "input_tokens": 10,
                "output_tokens": 5,
            },
            "providers": {"a": {"ttft_ms": 1, "tpot_ms": 0}, "b": {"ttft_ms": 1, "tpot_ms": 0}},
        }
    )
    rep = simulate(g.cfg, prof)
    sim = {p["name"]: p["served"] for p in rep["providers"]}
    assert (a.requests, b.requests) == (10, 20)
    assert sim == {"a": 10, "b": 20}


def _traffic(**over):
    d = {
        "model": "m",
        "requests_per_s": 1,
        "duration_s": 10,
        "input_tokens": 10,
        "output_tokens": 5,
    }
    d.update(over)
    return d


@pytest.mark.parametrize(
    ("traffic", "behaviour", "field"),
    [
        ({"output_tokens": "300"}, {}, "traffic.output_tokens"),  # a string was read as 300
        ({"seed": -1}, {}, "traffic.seed"),  # accepted
        ({}, {"tpot_ms": float("inf")}, "providers.a.tpot_ms"),  # printed nan, exit 0
        ({}, {"capacity": 1e12}, "providers.a.capacity"),  # accepted
        ({}, {"capacity": 10**12}, "providers.a.capacity"),
    ],
)
def test_profile_numbers_are_the_shared_types(traffic, behaviour, field):
    how = {"ttft_ms": 1, "tpot_ms": 0, **behaviour}
    with pytest.raises(InputError, match=rf"^traffic profile: {re.escape(field)}: .* \(got "):
        parse_profile({"traffic": _traffic(**traffic), "providers": {"a": how}})


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"priority": -1}, "providers.0.priority"),  # accepted
        ({"priority": "1"}, "providers.0.priority"),
        ({"weight": float("inf")}, "providers.0.weight"),
        (
            {"kind": "self_hosted", "price": None,
             "reserved": {"gpus": 1, "usd_per_gpu_hour": 2, "expected_tokens_per_month": 1e400}},
            "providers.0.reserved.expected_tokens_per_month",  # priced at $0/Mtok, 'inf' tokens
        ),
        ({"limits": {"requests_per_min": float("inf")}}, "providers.0.limits.requests_per_min"),
    ],
)  # fmt: skip
def test_config_numbers_are_the_shared_types(over, field):
    with pytest.raises(InputError, match=rf"^router config: {re.escape(field)}: "):
        parse_config({"providers": [_p("a", **over)]})


def test_cli_route_simulate_refuses_an_infinite_time_per_token(tmp_path, capsys):
    """tpot_ms: .inf ran, exited 0 and printed `nan` (with a RuntimeWarning)."""
    prof = yaml.safe_load((EXAMPLES / "router-traffic.yaml").read_text())
    prof["providers"]["fleet-vllm"]["tpot_ms"] = float("inf")
    bad = tmp_path / "t.yaml"
    bad.write_text(yaml.safe_dump(prof))
    cfg = str(EXAMPLES / "router.yaml")
    rc = main(["route", "simulate", "--config", cfg, "--traffic", str(bad)])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert "providers.fleet-vllm.tpot_ms: Input should be a finite number (got inf)" in err
