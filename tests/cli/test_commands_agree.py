"""Where two commands report the same quantity for the same inputs, they agree: the plan's
$/month and $/1M tokens and `cost`; the plan's API breakeven and `breakeven`; `budget`, `tco`
and `quantize` and `cost`; the plan's prices and `offers`; the KV capacity of `fit`, `perf` and
the plan; a plan replica's throughput and `perf` at its batch; `cost` and `breakeven` per
request; `autoscale`'s static policy and the plan's month; a verified recommendation and the
rest of its report. Each test fails when one side changes alone."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest
import yaml

from fleetplan.catalog import load_catalog
from fleetplan.plan import make_plan
from fleetplan.scenario import parse_scenario
from fleetplan.units import HOURS_PER_MONTH, SECONDS_PER_HOUR

EIGHT_GPU_ONLY = Path(__file__).parents[1] / "data" / "catalogs" / "eight-gpu-only.toml"

ACME = {
    "model": "llama-3.1-8b",
    "precisions": ["fp8"],
    "traffic": {"avg_qps": 5, "peak_qps": 12},
    "input_tokens": {"mean": 800, "p95": 2000, "p99": 3500},
    "output_tokens": {"mean": 250, "p95": 600},
    "slo": {"ttft_p95_ms": 2000, "tpot_p95_ms": 60, "min_replicas": 3},
    "constraints": {"gpus": ["h100-sxm"], "providers": ["acme"], "tp": [1]},
    "ops_usd_per_month": 500,
    "compare_apis": ["gpt-4o-mini", "gpt-4o"],
}


@pytest.fixture(scope="module")
def builtin_plan() -> dict:
    text = resources.files("fleetplan.examples").joinpath("chat-8b.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@pytest.fixture
def acme() -> Path:
    return EIGHT_GPU_ONLY


def _deployments(d: dict) -> list[dict]:
    """The recommendation and the cheapest per provider, each setup and offer once."""
    seen, out = set(), []
    for c in [d["recommended"], *d["by_provider"]]:
        key = (c["gpu"], c["tp"], c["gpus_total"], c["offer"]["id"], c["offer"]["instance_type"])
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _cost_of(cli, c: dict, tok_per_s: float, *extra: str) -> dict:
    o = c["offer"]
    r = cli("cost", "--gpu", c["gpu"], "--gpus", str(c["gpus_total"]), "--tp", str(c["tp"]),
            "--provider", o["provider"], "--pricing", o["pricing"], "--tok-per-s",
            repr(tok_per_s), "--json", *extra)  # fmt: skip
    assert r.code == 0, r.err
    return r.json()


def test_the_plans_dollars_are_what_cost_says_for_its_gpus(cli, acme) -> None:
    """$/month and $/1M tokens (at average traffic) of the plan's deployments are `cost` of
    their GPUs on their offer at the average traffic's tokens/s: three 1-GPU replicas on an
    offer also sold in 2-, 4- and 8-GPU sizes are three 1-GPU instances, not one 4-GPU one (the
    built-in plan's MI300X; `cost` had charged $7,270.80 against the plan's $5,453.10)."""
    scenario = acme.parent / "acme.yaml"
    scenario.write_text(yaml.safe_dump(ACME))
    for args in ([], [str(scenario), "--catalog", str(acme)]):
        d = cli("plan", *args, "--json").json()
        w = d["workload"]
        tok_per_s = w["avg_qps"] * (w["input_tokens"]["mean"] + w["output_tokens"]["mean"])
        deployments = _deployments(d)
        assert len(deployments) >= (1 if args else 5)
        for c in deployments:
            cost = _cost_of(cli, c, tok_per_s, *args[1:])
            assert cost["usd_per_month"] == pytest.approx(c["usd_per_month"], abs=0.06), c["offer"]
            assert cost["usd_per_mtok"] == pytest.approx(c["usd_per_million_tokens"], abs=6e-5)
            assert cost["usd_per_hour"] == pytest.approx(
                c["instances"] * c["usd_per_instance_hour"], rel=1e-9
            )


def test_the_plans_api_breakeven_is_what_breakeven_says(cli, builtin_plan, acme) -> None:
    """The plan's API table is `breakeven` with the recommendation's price, capacity, GPUs per
    replica, min_replicas, headroom and ops: the same breakeven volume, reason and curve.
    `breakeven` had no --min-replicas (the built-in plan's 2 replicas put gpt-4o-mini's
    breakeven at 13.1M requests/month, `breakeven` at 7.36M), and the two priced multi-GPU
    instances differently: the plan at the per-GPU rate as if GPUs were sold one at a time
    (3 H100s of an 8-GPU-only offer), `breakeven` a whole instance per replica."""
    cases = [
        (builtin_plan, load_catalog(), []),
        (ACME, load_catalog(acme), ["--catalog", str(acme)]),
    ]
    for data, cat, args in cases:
        spec = parse_scenario(data)
        p = make_plan(spec, catalog=cat)
        rec = p.recommended
        assert rec is not None and p.apis
        o = rec.offer
        req_month = spec.traffic.resolve().avg_qps * SECONDS_PER_HOUR * HOURS_PER_MONTH
        i, out = spec.input_tokens.mean, spec.output_tokens.mean
        api_args = [x for a in p.apis for x in ("--api", a.api)]
        r = cli("breakeven", *api_args, "--gpu", rec.gpu, "--provider", o.provider,
                "--pricing", o.pricing, "--tp", str(rec.tp),
                "--min-replicas", str(spec.slo.min_replicas),
                "--capacity-req-per-hour", repr(rec.replica_req_per_s * SECONDS_PER_HOUR),
                "--utilization", repr(spec.headroom),
                "--ops-usd-per-month", repr(spec.ops_usd_per_month),
                "--input-tokens", str(round(i)), "--output-tokens", str(round(out)),
                "--volume-max", repr(max(req_month * 2, 1.0)), "--json", *args)  # fmt: skip
        assert r.code == 0, r.err
        for a, b in zip(p.apis, r.json(), strict=True):
            assert b["self_hosted"]["usd_per_gpu_hour"] == o.usd_per_gpu_hour
            assert b["self_hosted"]["gpus_per_instance"] == rec.instance_gpus
            assert b["breakeven_requests_per_month"] == a.breakeven_requests_per_month
            assert b["reason"].replace(b["api"], a.api) == a.reason
            assert b["api_usd_per_request"] == pytest.approx(a.api_usd_per_request, rel=1e-12)
            assert tuple(b["curve"]["requests_per_month"]) == a.curve.requests_per_month
            assert b["curve"]["self_hosted_usd_per_month"] == pytest.approx(
                a.curve.self_hosted_usd_per_month, rel=1e-12
            )
            # at the volume the plan is sized for, the curve bills the plan's instances
            top = a.curve.self_hosted_usd_per_month[-1]
            assert top <= a.self_hosted_usd_per_month + 1e-6
        if args:  # whole 8-GPU instances: never 3 GPUs' worth
            assert all(g % 8 == 0 for a in p.apis for g in a.curve.gpus)
            assert min(a.curve.self_hosted_usd_per_month) == pytest.approx(
                40.0 * HOURS_PER_MONTH + 500
            )


def test_budget_lines_are_what_cost_says(cli, tmp_path: Path) -> None:
    """A budget GPU line costs what `cost` says for that many GPUs of the same offer: a line of
    8 B200s on AWS (sold as 8-GPU instances) is one instance, not eight (the budget had priced
    each GPU as a whole instance: $665,367.55 against `cost`'s $83,170.94)."""
    lines = [("b200", "aws", 8, 730.0), ("mi300x", "runpod", 3, 730.0),
             ("a100-40gb", "lambda", 8, 200.0), ("h100", "aws", 2, 730.0)]  # fmt: skip
    body = "\n".join(
        f"  - {{category: batch-inference, gpu: {g}, provider: {p}, count: {n}, "
        f"hours_per_month: {h}}}"
        for g, p, n, h in lines
    )
    path = tmp_path / "b.yaml"
    path.write_text(f"name: b\nlines:\n{body}\n")
    r = cli("budget", str(path), "--json")
    assert r.code == 0, r.err
    for line, (g, p, n, h) in zip(r.json()["lines"], lines, strict=True):
        cost = cli("cost", "--gpu", g, "--gpus", str(n), "--provider", p, "--tok-per-s", "1",
                   "--json").json()  # fmt: skip
        assert line["usd_per_gpu_hour"] == cost["usd_per_gpu_hour"]
        assert line["usd_per_month"] == pytest.approx(cost["usd_per_hour"] * h, rel=1e-12)
        if h == HOURS_PER_MONTH:
            assert line["usd_per_month"] == pytest.approx(cost["usd_per_month"], rel=1e-12)


def test_tco_rent_is_what_cost_says(cli) -> None:
    """`tco`'s cloud $/month for N GPUs is `cost --gpus N`'s $/month (the same offer, bought
    as whole instances)."""
    for gpu, n in (("mi300x", 3), ("b200", 1), ("a100-40gb", 8), ("h100", 5)):
        t = cli("tco", "--gpu", gpu, "--gpus", str(n), "--json").json()
        c = cli("cost", "--gpu", gpu, "--gpus", str(n), "--tok-per-s", "1", "--json").json()
        assert t["rent_usd_per_gpu_hour"] == c["usd_per_gpu_hour"], gpu
        assert t["rent_usd_per_month"] == pytest.approx(c["usd_per_month"], rel=1e-12)
        assert t["rent_basis"] == c["price_basis"]


def test_quantize_is_what_cost_says_for_each_row(cli) -> None:
    """A `quantize` row's $/hour and $/1M tokens are `cost --model` on its precision and GPUs:
    the cheapest offer for TP GPUs (one 8-GPU A100 instance), not 8x the cheapest single GPU
    (quantize had charged $11.84/h against `cost`'s $10.32)."""
    for model, gpu in (("llama-3.1-70b", "a100-40gb"), ("llama-3.1-8b", "l40s")):
        d = cli("quantize", model, "--gpu", gpu, "--precisions", "fp8,bf16", "--json").json()
        rows = [r for r in d["rows"] if r["runs"]]
        assert rows
        for r in rows:
            c = cli("cost", "--gpu", gpu, "--gpus", str(r["tp"]), "--tp", str(r["tp"]),
                    "--model", model, "--precision", r["precision"], "--utilization",
                    repr(d["utilization"]), "--json").json()  # fmt: skip
            assert r["usd_per_hour"] == pytest.approx(c["usd_per_hour"], rel=1e-12)
            assert r["usd_per_million_tokens"] == pytest.approx(c["usd_per_mtok"], rel=1e-9)
            assert c["price_basis"] in d["price_basis"]


def test_the_plans_prices_are_the_offers_listed(cli) -> None:
    """Each deployment of a plan is priced at its offer's row in `offers`: $/instance-hour is
    the row's $/GPU-hour times the instance size bought (a size the row sells), and $/month
    whole instances of it for 730 h."""
    d = cli("plan", "--json").json()
    rows = cli("offers", "--json").json()
    for c in _deployments(d) + d["alternatives"]:
        o = c["offer"]
        (row,) = [x for x in rows if (x["id"], x["instance_type"]) == (o["id"], o["instance_type"])]
        assert row["usd_per_gpu_hour"] == o["usd_per_gpu_hour"]
        assert c["gpus_per_instance"] in {row["gpus_per_instance"], *row["gpu_counts"]}
        hourly = row["usd_per_gpu_hour"] * c["gpus_per_instance"]
        assert c["usd_per_instance_hour"] == pytest.approx(hourly, abs=1e-4)
        assert c["usd_per_month"] == pytest.approx(
            c["instances"] * hourly * HOURS_PER_MONTH, abs=0.06
        )


def test_fit_perf_and_the_plan_report_one_kv_capacity(cli) -> None:
    """The KV capacity of a setup is one number in `fit`, `perf`'s KV room line and the plan
    (each sizes for its own context; the pool in tokens is the same)."""
    d = cli("plan", "--json").json()
    setups = {(c["gpu"], c["precision"], c["tp"], c["engine"]): c for c in _deployments(d)}
    assert len(setups) >= 3
    for (gpu, prec, tp, engine), c in setups.items():
        args = ["llama-3.1-8b", "--gpu", gpu, "--precision", prec, "--tp", str(tp),
                "--engine", engine]  # fmt: skip
        fit = cli("fit", *args, "--json").json()
        text = cli("perf", *args, "--input-tokens", "900", "--output-tokens", "300").out
        room = re.search(r"KV room: ([\d,]+) tokens", text)
        assert room is not None, text
        assert fit["kv_capacity_tokens"] == int(room[1].replace(",", ""))
        assert fit["kv_capacity_tokens"] == c["kv_capacity_tokens"], (gpu, prec, tp)


def test_a_plan_replicas_throughput_is_perf_at_its_batch(cli) -> None:
    """At fixed request lengths a plan replica's capacity (requests/s x output tokens) is
    `perf`'s output tok/s at the plan's batch limit: the same steady continuous-batching
    step. (Whether the batch fits is not compared: the plan's KV ceiling holds B sequences at
    their mean in-flight context 95 % of the time, `perf`'s `fits` B at full length.)"""
    data = {
        "model": "llama-3.1-8b",
        "precisions": ["fp8", "bf16"],
        "traffic": {"avg_qps": 5, "peak_qps": 5},
        "input_tokens": {"mean": 900},
        "output_tokens": {"mean": 300},
        "slo": {"ttft_p95_ms": 1500, "tpot_p95_ms": 50},
        "constraints": {"gpus": ["h100-sxm", "l40s"], "tp": [1, 2, 4, 8]},
    }
    p = make_plan(parse_scenario(data))
    cands = [c for c in [p.recommended, *p.alternatives] if c is not None]
    assert len({(c.gpu, c.tp, c.max_batch) for c in cands}) >= 3
    for c in cands:
        r = cli("perf", "llama-3.1-8b", "--gpu", c.gpu, "--precision", c.precision, "--tp",
                str(c.tp), "--engine", c.engine, "--input-tokens", "900", "--output-tokens",
                "300", "--batch", str(c.max_batch), "--json").json()[0]  # fmt: skip
        assert c.replica_req_per_s * 300 == pytest.approx(r["output_tok_per_s"], abs=0.051)


def test_autoscale_static_peak_costs_the_plans_month_pro_rata(cli, tmp_path: Path) -> None:
    """`autoscale simulate`'s static policy (the plan's replicas, always on) costs the plan's
    $/month for the hours it runs: the same replicas, offer and 730-hour month. (Autoscaling
    bills replicas, not instances: this holds where an instance holds one replica, as the
    example's does.)"""
    week = Path(__file__).resolve().parents[2] / "examples" / "autoscale-week.yaml"
    data = yaml.safe_load(week.read_text())
    data["traffic"].update(days=1, spikes=[])
    data["policies"] = [{"name": "static-peak", "kind": "static"}]
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(data))
    d = cli("autoscale", "simulate", str(path), "--json").json()
    rec = make_plan(parse_scenario(data["plan"])).recommended
    assert rec is not None and rec.instance_gpus == rec.tp
    (static,) = d["policies"]
    assert d["deployment"]["planned_replicas"] == rec.replicas
    assert d["deployment"]["usd_per_gpu_hour"] == rec.offer.usd_per_gpu_hour
    hours = d["traffic"]["duration_s"] / SECONDS_PER_HOUR
    assert static["usd"] == pytest.approx(rec.usd_per_month * hours / HOURS_PER_MONTH, abs=0.01)


def test_verify_resizes_the_recommendation_everywhere_the_report_shows_it() -> None:
    """`plan --verify` resizes the recommendation to the fewest replicas meeting the SLOs in
    simulation; its API table and its provider's entry follow. (88 L4s shrunk to 82: the API
    table had kept the 88's $27,623/month beside the recommendation's $25,740.)"""
    from fleetplan.plan.context import api_comparisons
    from fleetplan.plan.search import _workload
    from fleetplan.plan.verify import verify

    data = {
        "model": "llama-3.1-8b",
        "precisions": ["bf16"],
        "traffic": {"avg_qps": 20, "peak_qps": 40},
        "input_tokens": {"mean": 500, "p95": 1200},
        "output_tokens": {"mean": 200, "p95": 500},
        "slo": {"ttft_p95_ms": 2000, "tpot_p95_ms": 80},
        "constraints": {"gpus": ["l4"], "tp": [1]},
        "compare_apis": ["gpt-4o"],
        "ops_usd_per_month": 300,
    }
    cat = load_catalog()
    spec = parse_scenario(data)
    plan = make_plan(spec, catalog=cat)
    out = verify(plan, cat, requests=2000)
    rec = out.recommended
    assert plan.recommended is not None and rec is not None
    assert rec.replicas != plan.recommended.replicas  # the case: verification resized it
    assert out.by_provider[0] is rec
    (api,) = out.apis
    assert api.self_hosted_usd_per_month == pytest.approx(rec.usd_per_month + 300, rel=1e-12)
    assert out.apis == api_comparisons(rec, spec, _workload(spec, Path(".")))


def test_cost_per_request_is_breakevens_at_capacity(cli) -> None:
    """`cost --model`'s $/request and `breakeven --model`'s self-hosted $/request at capacity
    (no ops) are one replica's rent over its requests at the same SLO batch and utilization."""
    common = ["--gpu", "l40s", "--model", "llama-3.1-8b", "--input-tokens", "800",
              "--output-tokens", "300", "--utilization", "0.6", "--json"]  # fmt: skip
    for tp in ("1", "2"):
        c = cli("cost", "--gpus", tp, "--tp", tp, *common).json()
        (b,) = cli("breakeven", "--api", "gpt-4o", "--tp", tp, *common).json()
        assert b["self_hosted"]["usd_per_gpu_hour"] == c["usd_per_gpu_hour"]
        assert b["self_hosted_usd_per_request_at_capacity"] == pytest.approx(
            c["usd_per_request"], rel=1e-12
        )
