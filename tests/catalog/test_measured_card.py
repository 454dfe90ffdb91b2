"""`fleetplan measure` writes how the user's card compares with its generation's reference card,
and a catalog file carrying it scales every engine's efficiency on that GPU alone."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.catalog.generations import GEMM_PEAK_SHARE, HBM_PEAK_SHARE
from fleetplan.cli import EXIT_BAD_INPUT
from fleetplan.perf.roofline import setup


def _fake_torch(monkeypatch: pytest.MonkeyPatch, tflops: float, gb_s: float) -> None:
    from fleetplan.cli import measure as measure_cmd

    cuda = types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda: "Fake GPU")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    results = {
        "gemm_tflops": {"8192x8192x8192": tflops * 0.97, "4096x4096x16384": tflops},
        "bandwidth_gb_s": gb_s,
        "layer_bytes": 4e8,
        "decode_s_per_layer": {1: 2e-4, 8: 2.1e-4},
        "attention": {1024: (1e-4, 2e8)},
    }
    monkeypatch.setattr(measure_cmd, "run_microbenchmarks", lambda *a: results)


def _measure(cli, tmp_path: Path, monkeypatch, gpu: str, tflops: float, gb_s: float):
    _fake_torch(monkeypatch, tflops, gb_s)
    out = tmp_path / f"{gpu}.toml"
    return cli("measure", "--gpu", gpu, "--out", str(out), "--json"), out


def _setup(cat, gpu: str, engine: str = "vllm"):
    return setup(cat.model("llama-3.1-8b"), cat.gpu(gpu), cat.precision("bf16"), cat.engine(engine))


def test_a_measured_card_scales_every_engine_on_that_gpu_alone(cli, tmp_path, monkeypatch):
    r, out = _measure(cli, tmp_path, monkeypatch, "h100", 700.0, 3000.0)
    assert r.code == 0, r.err
    got = r.json()
    gemm, bw = 700.0 / 989.0, 3000.0 / 3350.0  # the best shape's rate over the H100 SXM spec
    assert got["gemm_share_of_spec"] == pytest.approx(gemm, rel=1e-3)
    assert got["bandwidth_share_of_spec"] == pytest.approx(bw, rel=1e-3)
    assert got["factor_scale"]["gemm"] == pytest.approx(gemm / GEMM_PEAK_SHARE["hopper"], rel=1e-3)
    assert got["factor_scale"]["bandwidth"] == pytest.approx(
        bw / HBM_PEAK_SHARE["hopper"], rel=1e-3
    )
    base, mine = load_catalog(), load_catalog(out)
    assert mine.gpu("h100").measured_gemm_share == pytest.approx(gemm, rel=1e-3)
    for engine in ("vllm", "sglang", "tensorrt-llm"):
        before, after = _setup(base, "h100", engine), _setup(mine, "h100", engine)
        assert after.mfu == pytest.approx(before.mfu * got["factor_scale"]["gemm"], rel=1e-3)
        want_bw = min(before.mbu * got["factor_scale"]["bandwidth"], 0.92)
        assert after.mbu == pytest.approx(want_bw, rel=1e-3)
        assert any(
            "as measured on this card (fleetplan measure on Fake GPU" in n for n in after.notes
        )
    explain = cli("perf", "llama-3.1-8b", "--gpu", "h100", "--catalog", str(out), "--explain")
    gemm_x = got["factor_scale"]["gemm"]
    mfu = base.engine("vllm").mfu_prefill
    said = f"mfu {mfu * gemm_x:.2g} = {mfu:.3g} x this card as measured x{gemm_x:.3g} ("
    assert said in explain.out
    # another GPU of the same generation keeps its calibrated factors
    assert _setup(mine, "h200").mfu == _setup(base, "h200").mfu
    assert not any("measured on this card" in n for n in _setup(mine, "h200").notes)


def test_a_card_of_a_generation_without_a_reference_stays_as_calibrated(cli, tmp_path, monkeypatch):
    r, out = _measure(cli, tmp_path, monkeypatch, "l40s", 300.0, 800.0)
    assert r.code == 0, r.err
    assert r.json()["factor_scale"] == {"gemm": None, "bandwidth": None}
    assert _setup(load_catalog(out), "l40s").mfu == _setup(load_catalog(), "l40s").mfu
    text = cli("measure", "--gpu", "l40s", "--out", str(tmp_path / "t.toml")).out
    assert "as calibrated (no reference ada card measured the same way)" in text


def test_a_card_faster_than_the_spec_it_is_given_as_is_refused(cli, tmp_path, monkeypatch):
    r, out = _measure(cli, tmp_path, monkeypatch, "h100", 1200.0, 3000.0)
    assert r.code == EXIT_BAD_INPUT and "Traceback" not in r.err
    assert "--gpu = 'h100'" in r.err and "1.21x the h100-sxm spec" in r.err
    assert "Fake GPU" in r.err and not out.exists()


def test_the_written_file_is_a_catalog_file_and_json_names_it(cli, tmp_path, monkeypatch):
    r, out = _measure(cli, tmp_path, monkeypatch, "h200", 760.0, 4100.0)
    assert r.code == 0, r.err
    assert json.loads(r.out)["profile"] == str(out)
    text = out.read_text()
    assert text.count("[") == 1 and '[gpus."h200"]' in text
    assert 'measured = "fleetplan measure on Fake GPU, ' in text
