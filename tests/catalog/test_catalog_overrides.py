"""A user's catalog file cannot push an engine's factor past its physical ceiling, adds to an
engine's scales and sources instead of replacing them, and says where the values it sets come
from; `perf --explain` shows the scale a factor takes on the GPU's generation."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetplan.catalog import load_catalog
from fleetplan.cli import EXIT_BAD_INPUT


def test_a_catalog_file_cannot_push_a_factor_past_its_ceiling(cli, tmp_path: Path) -> None:
    f = tmp_path / "fast.toml"
    f.write_text('[engines."vllm"]\nmbu = 0.90\n')
    r = cli("perf", "llama-3.1-8b", "--gpu", "h100", "--catalog", str(f))
    assert r.code == EXIT_BAD_INPUT and "Traceback" not in r.err
    line = r.err.strip()
    scale = load_catalog().engine("vllm").architecture_scale["ampere"]["mbu"]
    assert f"engines.vllm.mbu on ampere GPUs is 0.9 x architecture_scale.ampere {scale:g}" in line
    assert "accepted: at most 0.92" in line


def test_a_catalog_file_adds_to_an_engines_scales_and_names_itself(tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(
        '[engines."vllm"]\nmbu = 0.75\n\n[engines."vllm".architecture_scale.hopper]\nmbu = 1.1\n'
    )
    base, mine = load_catalog().engine("vllm"), load_catalog(f).engine("vllm")
    assert mine.architecture_scale["ampere"] == base.architecture_scale["ampere"]
    assert mine.architecture_scale["hopper"]["mbu"] == 1.1
    assert mine.sources["mbu"] == f"set in catalog file {str(f)!r}"
    said = mine.sources["architecture_scale"]
    assert said.startswith(f"hopper set in catalog file {str(f)!r}; the rest as before: ")
    assert said.endswith(base.sources["architecture_scale"])
    assert mine.sources["mfu_prefill"] == base.sources["mfu_prefill"]  # not set: as packaged


def test_explain_shows_the_scale_a_factor_takes_on_this_generation(cli) -> None:
    out = cli("perf", "llama-3.1-8b", "--gpu", "a100", "--explain").out
    eng = load_catalog().engine("vllm")
    x = eng.architecture_scale["ampere"]["mfu_prefill"]
    assert f" = {eng.mfu_prefill:.3g} x architecture_scale ampere x{x:.3g}" in out
    h100 = cli("perf", "llama-3.1-8b", "--gpu", "h100", "--explain").out
    assert f"mfu {eng.mfu_prefill:.2g} (" in h100  # no scale on the calibrated base generation


def test_an_engine_s_sources_of_the_wrong_kind_get_one_line(cli, tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[engines."vllm"]\nsources = 3\nmbu = 0.7\n')
    r = cli("perf", "llama-3.1-8b", "--gpu", "h100", "--catalog", str(f))
    assert r.code == EXIT_BAD_INPUT and "Traceback" not in r.err + r.out
    assert "engines.vllm: field 'sources' = 3" in r.err.strip()


def test_a_borrowed_scale_stops_at_the_borrowers_ceiling(tmp_path: Path) -> None:
    """SGLang takes its Ampere scales from vLLM V1 (`generation_scales_from`): a user's faster
    SGLang prefill keeps vLLM's Ampere GEMM scale only up to the ceiling, as a fold's borrowed
    scale does (accuracy.folds.borrow_generations), instead of failing to load."""
    base = load_catalog()
    x = base.engine("vllm").architecture_scale["ampere"]["mfu_prefill"]
    mfu = 0.8 / x + 0.1  # past the 0.85 ceiling at the lent scale
    f = tmp_path / "sglang.toml"
    f.write_text(f'[engines."sglang"]\nmfu_prefill = {mfu:.4f}\n')
    eng = load_catalog(f).engine("sglang")
    assert eng.architecture_scale["ampere"]["mfu_prefill"] == pytest.approx(
        0.85 / float(f"{mfu:.4f}")
    )
    assert eng.factor("mfu_prefill", "ampere") == pytest.approx(0.85)
    assert base.engine("sglang").architecture_scale["ampere"]["mfu_prefill"] == pytest.approx(x)
