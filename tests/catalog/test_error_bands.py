"""The out-of-sample error bands the tool prints beside its numbers (catalog.error_bands)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.catalog.error_bands import (
    METRICS,
    MIN_ROWS,
    BandTable,
    ErrorRecord,
    build_bands,
    expected_error,
    for_configuration,
    load_bands,
)
from fleetplan.estimate import estimate_perf

ROOT = Path(__file__).resolve().parents[2]
ACCURACY = ROOT / "benchmarks" / "accuracy"


def _records(family, generation, kind, metric, errors, source="s1"):
    return [ErrorRecord(family, generation, kind, metric, source, e) for e in errors]


def test_bands_summarize_each_group_at_every_level():
    recs = _records("vllm", "hopper", "dense", "TTFT", [0.1, -0.2, 0.3], "a")
    recs += _records("vllm", "ampere", "dense", "TTFT", [0.5], "b")
    bands = build_bands(recs)
    own = next(b for b in bands if b.generation == "hopper")
    assert (own.family, own.kind, own.rows, own.sources) == ("vllm", "dense", 3, 1)
    assert own.median_abs_pct == 20.0  # |10|, |-20|, |30|
    assert own.signed_median_pct == 10.0
    assert own.p90_abs_pct == pytest.approx(28.0)  # numpy's linear p90 of 10, 20, 30
    whole = next(b for b in bands if b.family is None and b.kind is None)
    assert (whole.rows, whole.sources, whole.median_abs_pct) == (4, 2, 25.0)
    # one group per level: (family, generation, kind) x2, (family, kind), family, kind, all
    assert len(bands) == 6


def test_lookup_widens_the_group_until_it_holds_enough_rows():
    recs = _records("sglang", "hopper", "moe", "TPOT", [0.05] * MIN_ROWS, "a")
    recs += _records("sglang", "cdna3", "moe", "TPOT", [0.5] * (MIN_ROWS - 1), "b")
    recs += _records("vllm", "hopper", "dense", "TPOT", [-0.1] * MIN_ROWS, "c")
    table = BandTable("now", "test", tuple(build_bands(recs)))
    own = table.lookup("TPOT", "sglang", "hopper", "moe")
    assert (own.generation, own.rows) == ("hopper", MIN_ROWS)
    # too few on CDNA3: SGLang's MoE rows on every generation
    wider = table.lookup("TPOT", "sglang", "cdna3", "moe")
    assert (wider.family, wider.generation, wider.kind) == ("sglang", None, "moe")
    assert wider.rows == 2 * MIN_ROWS - 1
    # a family without rows: every family's rows of the model kind
    other = table.lookup("TPOT", "tgi", "hopper", "dense")
    assert (other.family, other.kind, other.rows) == (None, "dense", MIN_ROWS)
    assert table.lookup("TTFT", "sglang", "hopper", "moe") is None


def test_packaged_bands_were_measured_on_the_validation_data_in_the_repository():
    data = json.loads((ROOT / "src/fleetplan/catalog/data/error_bands.json").read_text())
    h = hashlib.sha256()
    for name in ("validation.csv", "measurements.csv"):
        h.update((ACCURACY / name).read_bytes())
    assert data["data_sha256"] == h.hexdigest(), (
        "the validation data changed since the error bands were written: run "
        "python benchmarks/accuracy/report.py --no-cache"
    )
    table = load_bands()
    for metric in METRICS:
        assert table.lookup(metric, "any", "any", "dense") is not None


def test_the_readme_headline_figures_are_the_packaged_bands():
    """README's leave-one-source-out table and the bands the tool prints come from one run."""
    readme = (ROOT / "README.md").read_text()
    names = {"output tok/s": "output tok/s", "TTFT": "TTFT", "time per output token": "TPOT"}
    whole = {b.metric: b for b in load_bands().bands if b.family is None and b.kind is None}
    for label, metric in names.items():
        m = re.search(
            rf"^\| {re.escape(label)} \| (\d+) \| \**([\d.]+) %\** \| ([\d.]+) %", readme, re.M
        )
        assert m, label
        rows, median, p90 = int(m[1]), float(m[2]), float(m[3])
        band = whole[metric]
        assert band.rows == rows
        assert band.median_abs_pct == pytest.approx(median, abs=0.051)
        assert band.p90_abs_pct == pytest.approx(p90, abs=0.051)


def test_perf_prints_the_band_of_its_configuration():
    pe = estimate_perf("llama-3.1-8b", "h100", batches=[1])
    err = pe.expected_error
    assert err is not None
    assert [b.metric for b in err.bands] == list(METRICS)
    assert err == expected_error("vllm", "hopper", moe=False, family_name="vLLM V1")
    lines = err.lines()
    assert lines[0].startswith("expected error")
    assert all("vLLM V1" in line for line in lines[1:])


def test_a_changed_engine_profile_has_no_band(tmp_path):
    """The bands describe the packaged factors: a catalog file that changes vLLM's gets none."""
    extra = tmp_path / "mine.toml"
    extra.write_text("[engines.vllm]\nmbu = 0.5\n")
    cat = load_catalog(extra)
    model = cat.model("llama-3.1-8b")
    assert for_configuration(cat, "vllm", "h100-sxm", model) is None
    assert for_configuration(cat, "sglang", "h100-sxm", model) is not None
    pe = estimate_perf("llama-3.1-8b", "h100", batches=[1], catalog=cat)
    assert pe.expected_error is None


def test_plan_and_perf_give_the_same_band_for_the_recommendation():
    from importlib import resources

    from fleetplan.plan import make_plan
    from fleetplan.scenario import load_scenario

    spec, base = load_scenario(str(resources.files("fleetplan.examples") / "chat-8b.yaml"))
    p = make_plan(spec, base)
    rec = p.recommended
    pe = estimate_perf(p.model.id, rec.gpu, precision=rec.precision, tp=rec.tp, engine=rec.engine)
    assert p.expected_error == pe.expected_error


def test_engines_lists_each_family_error_where_it_has_rows(cli):
    r = cli("engines", "--json")
    assert r.code == 0, r.err
    by_id = {e["id"]: e for e in json.loads(r.out)}
    vllm = by_id["vllm"]["expected_error"]["metrics"]["output_tok_per_s"]
    whole = next(
        b
        for b in load_bands().bands
        if b.family == "vllm"
        and b.generation is None
        and b.kind is None
        and b.metric == "output tok/s"
    )
    assert (vllm["rows"], vllm["median_abs_pct"]) == (whole.rows, whole.median_abs_pct)
    assert by_id["tgi"]["expected_error"] is None  # no published TGI rows in the set
    text = cli("engines").out
    assert f"{whole.median_abs_pct:g} % ({whole.rows})" in text


def test_cost_and_breakeven_capacity_say_how_far_its_throughput_was():
    """The capacity the unit costs stand on carries perf's output tok/s band."""
    from fleetplan.economics.unit_cost import model_capacity

    cap = model_capacity("llama-3.1-8b", "h100", input_tokens=500, output_tokens=200)
    band = estimate_perf("llama-3.1-8b", "h100", batches=[1]).expected_error
    assert cap.error_basis == band.clause("output tok/s")
    assert "published measurements of vLLM V1, dense models, Hopper GPUs" in cap.error_basis


def test_simulate_gives_the_band_of_its_setup(cli, tmp_path):
    """The simulator's step times are the performance model's: the same band as perf's."""
    sc = tmp_path / "sim.yaml"
    sc.write_text(
        "model: llama-3.1-8b\ngpu: h100\nreplicas: 1\n"
        "arrivals: {kind: poisson, rate_per_s: 5, duration_s: 10}\n"
        "lengths: {input: {mean: 256}, output: {mean: 64}}\nseed: 1\n"
    )
    r = cli("simulate", str(sc), "--json")
    assert r.code == 0, r.err
    band = estimate_perf("llama-3.1-8b", "h100", batches=[1]).expected_error
    assert json.loads(r.out)["expected_error"] == band.record()
    text = cli("simulate", str(sc)).out
    assert band.lines()[1] in text
    sc.write_text(sc.read_text() + "service: {kind: exponential, mean_s: 0.5}\n")
    assert "expected_error" not in json.loads(cli("simulate", str(sc), "--json").out)
