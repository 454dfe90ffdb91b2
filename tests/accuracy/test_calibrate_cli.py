"""Readers of real-format result files and the calibrate / measure commands."""

from __future__ import annotations

import csv
import importlib.util

import pytest

from fleetplan.accuracy.readers import Context, read_results
from fleetplan.accuracy.rows import validation_set_path
from fleetplan.catalog import load_catalog

from ..conftest import DATA

CAL = DATA / "calibration"


def test_vllm_result_json():
    res = read_results([CAL / "vllm_bench_serve_c16.json"])
    rows = {r.metric: r for r in res.rows}
    assert set(rows) == {"output_tok_per_s", "ttft_ms", "tpot_ms"}
    r = rows["ttft_ms"]
    assert (r.input_len, r.output_len, r.batch) == (1024, 256, 16)  # 327680/320, 81920/320
    assert r.schedule == "continuous" and r.engine == "vllm" and r.gpu == "h100"
    assert r.model == "meta-llama/Llama-3.1-8B-Instruct" and r.value == 104.9
    assert rows["output_tok_per_s"].value == 1956.5 and rows["tpot_ms"].value == 7.61


def test_vllm_open_loop_run_is_skipped_with_reason():
    res = read_results([CAL / "vllm_bench_serve_rate4.json"], Context(gpu="h100"))
    assert res.rows == [] and "open loop" in res.skipped[0]


def test_guidellm_report_json():
    res = read_results([CAL / "guidellm_report.json"])
    batches = sorted({r.batch for r in res.rows})
    assert batches == [1, 16]  # synchronous and concurrent; the constant-rate run is skipped
    assert any("constant" in s for s in res.skipped)
    c16 = {r.metric: r for r in res.rows if r.batch == 16}
    assert c16["ttft_ms"].value == 104.9 and c16["tpot_ms"].value == 7.61
    assert c16["output_tok_per_s"].value == 1956.5
    assert (c16["ttft_ms"].input_len, c16["ttft_ms"].output_len) == (1024, 256)
    # the model comes from the worker's backend_model, GPU/engine from --output-extras
    assert c16["ttft_ms"].model == "meta-llama/Llama-3.1-8B-Instruct"
    assert c16["ttft_ms"].gpu == "h100" and c16["ttft_ms"].engine == "vllm"


def _subset_csv(tmp_path, engine):
    src = validation_set_path()
    with src.open(newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in reader if r["engine"] == engine and r["use"] == "yes"]
        fields = reader.fieldnames
    out = tmp_path / f"{engine}.csv"
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fields)
        w.writeheader()
        w.writerows(rows)
    return out, len(rows)


def test_calibrate_writes_a_catalog_override(cli, tmp_path):
    """From a profile off by 2x the fit predicts better out of sample: it is written, and it
    says which factors moved and by how much."""
    data, n = _subset_csv(tmp_path, "vllm")
    off = tmp_path / "off.toml"
    off.write_text('[engines."vllm-v0"]\nmbu = 0.46\nmfu_prefill = 0.215\n', encoding="utf-8")
    prof = tmp_path / "profile.toml"
    r = cli("calibrate", str(data), "--out", str(prof), "--catalog", str(off), "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert d["rows"] == n and d["engine"] == "vllm-v0" and "vLLM V0" in d["engine_family"]
    assert d["abs_error_pct_after"]["median"] <= d["abs_error_pct_before"]["median"]
    assert d["cv_abs_error_pct_after"]["median"] < d["cv_abs_error_pct_before"]["median"]
    assert d["moved"]["mbu"]["before"] == pytest.approx(0.46)
    assert d["moved"]["mbu"]["change_pct"] > 20 and not d["refused"]
    eng = load_catalog(prof).engine("vllm-v0")
    assert eng.mbu == pytest.approx(d["factors_after"]["mbu"], rel=1e-4)
    assert "fleetplan calibrate" in eng.sources["mbu"] and "max_num_seqs" in eng.sources
    perf = cli("perf", "llama-3-8b", "--gpu", "h100", "--engine", "vllm@0.6", "--catalog",
               str(prof), "--json")  # fmt: skip
    assert perf.code == 0, perf.err


def test_calibrate_refuses_a_profile_that_predicts_worse(cli, tmp_path):
    """The packaged profile is already fitted on these rows: refitting on folds of them
    predicts the held-out folds worse, so nothing is written without --force."""
    data, _n = _subset_csv(tmp_path, "vllm")
    prof = tmp_path / "profile.toml"
    r = cli("calibrate", str(data), "--out", str(prof))
    assert r.code == 1
    assert "not written" in r.out and "--force" in r.out and "out of sample" in r.out
    assert "change" in r.out and "fitted" in r.out  # the table of moved factors
    assert not prof.exists()
    forced = cli("calibrate", str(data), "--out", str(prof), "--force", "--json")
    assert forced.code == 0 and prof.exists() and not forced.json()["refused"]


def test_calibrate_from_json_needs_the_model(cli):
    r = cli("calibrate", str(CAL / "vllm_bench_serve_c16.json"), "--model", "nope-7b")
    assert r.code == 2 and r.err.startswith("fleetplan: error:") and "Traceback" not in r.err


def test_calibrate_from_vllm_and_guidellm_files(cli):
    files = [str(CAL / f) for f in ("vllm_bench_serve_c16.json", "guidellm_report.json")]
    r = cli("calibrate", *files, "--model", "llama-3.1-8b", "--json")
    assert r.code == 0, r.err
    assert r.json()["rows"] == 9


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch installed")
def test_measure_without_torch_says_so(cli):
    r = cli("measure", "--gpu", "h100")
    assert r.code == 2
    assert r.err.strip().startswith("fleetplan: error:") and "PyTorch" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_calibrating_on_one_generation_leaves_the_others_as_they_were(cli, tmp_path):
    """The fixtures' H100 runs push vLLM's weight-stream share to its 0.92 ceiling: the profile
    keeps an A100 (whose packaged scale is x1.189) and every other generation where it was,
    under the ceilings, so the file loads and predicts an H100 as fitted."""
    files = [str(CAL / f) for f in ("vllm_bench_serve_c16.json", "guidellm_report.json")]
    prof = tmp_path / "cal.toml"
    r = cli("calibrate", *files, "--model", "llama-3.1-8b", "--out", str(prof), "--force")
    assert r.code == 0, r.err
    base, mine = load_catalog().engine("vllm"), load_catalog(prof).engine("vllm")
    assert mine.mbu > base.mbu * 1.1  # moved on the H100 rows
    assert mine.factor("mbu", "hopper") == pytest.approx(mine.mbu)
    for arch in ("ampere", "ada", "blackwell", "cdna3"):
        for name in ("mbu", "attention_mbu", "mfu_prefill"):
            assert mine.factor(name, arch) == pytest.approx(base.factor(name, arch), rel=1e-5)
    assert "rows on hopper" in mine.sources["architecture_scale"]
    assert cli("perf", "llama-3.1-8b", "--gpu", "a100", "--catalog", str(prof)).code == 0


def _catalog_gpu(device_name: str) -> str:
    name = device_name.lower()
    return next(g for g in ("h200", "h100", "b200", "a100", "l40s", "mi300x") if g in name)


def test_measure_on_a_gpu(cli, tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    gpu = _catalog_gpu(torch.cuda.get_device_name())
    prof = tmp_path / "measured.toml"
    r = cli("measure", "--gpu", gpu, "--out", str(prof), "--json")
    assert r.code == 0, r.err
    d = r.json()
    assert 0.3 < d["gemm_share_of_spec"] <= 1 and 0.5 < d["bandwidth_share_of_spec"] <= 1
    spec = load_catalog(prof).gpu(gpu)
    assert spec.measured_gemm_share == pytest.approx(d["gemm_share_of_spec"], abs=1e-4)
    assert cli("perf", "llama-3.1-8b", "--gpu", gpu, "--catalog", str(prof)).code == 0


@pytest.mark.parametrize("factors", [",", " , ", ""])
def test_calibrate_refuses_an_empty_factor_list(cli, factors):
    """--factors , fitted no factor and printed a table of unchanged errors (exit 0)."""
    r = cli("calibrate", str(CAL / "vllm_bench_serve_c16.json"), "--factors", factors)
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, r.err
    assert "--factors" in r.err
