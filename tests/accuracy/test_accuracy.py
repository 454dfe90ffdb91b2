"""Accuracy of the performance model on the published validation set, and its calibration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fleetplan.accuracy.calibrate import fit_engine, relative_errors, summarize
from fleetplan.accuracy.predict import predict_rows
from fleetplan.accuracy.rows import GROUPS, read_rows_csv, validation_set_path

# in-sample absolute % error of the older set (2023-24 engines) per metric group: a regression
# guard a little above today's figures (output 3.0 / 14.3, TTFT 10.6 / 25.9, TPOT 10.2 / 22.7)
BOUNDS = {"output tok/s": (4.0, 16.0), "TTFT": (12.0, 29.0), "TPOT": (11.5, 25.0)}


@pytest.fixture(scope="module")
def rows():
    return read_rows_csv(validation_set_path())


def test_validation_set_is_normalized(rows):
    assert len(rows) >= 90
    assert {r.engine for r in rows} == {"tensorrt-llm", "lmdeploy", "vllm", "llama.cpp"}
    assert {r.group for r in rows} == set(GROUPS)
    assert all(r.source_url.startswith("https://") for r in rows)


@pytest.mark.parametrize("group", GROUPS)
def test_accuracy_thresholds(rows, catalog, group):
    preds = [p for p in predict_rows(rows, catalog) if p.row.group == group]
    assert preds
    s = summarize(np.array([p.error for p in preds]))
    median_max, p90_max = BOUNDS[group]
    assert s["median"] < median_max, s
    assert s["p90"] < p90_max, s


def test_static_rows_use_per_gpu_and_whole_batch_normalizations(rows, catalog):
    by_id = {r.row_id: r for r in rows}
    per_gpu = by_id["111"]  # TensorRT-LLM Llama-2-70B TP4: tok/s per GPU
    whole = dataclasses.replace(per_gpu, metric="output_tok_per_s")
    p_gpu, p_whole = predict_rows([per_gpu, whole], catalog)
    assert p_whole.predicted == pytest.approx(4 * p_gpu.predicted)
    lat = by_id["222"]  # Argonne: end-to-end latency of the whole batch of 64
    tput = dataclasses.replace(lat, metric="output_tok_per_s")
    p_lat, p_tput = predict_rows([lat, tput], catalog)
    assert p_lat.predicted == pytest.approx(64 * 128 / p_tput.predicted)


def test_calibration_on_half_lowers_error_on_the_other_half(rows, catalog):
    """Start from a profile off by 2x; fit on the even rows, check the odd rows improve."""
    eng = catalog.engine("lmdeploy")
    off = dataclasses.replace(
        eng, mbu=eng.mbu / 2, mfu_prefill=eng.mfu_prefill / 2, step_overhead_ms=4.0
    )
    mine = [r for r in rows if r.engine == "lmdeploy"]
    train, test = mine[0::2], mine[1::2]
    before = summarize(relative_errors(test, catalog, off))
    fit = fit_engine(train, catalog, off)
    after = summarize(relative_errors(test, catalog, fit.engine))
    assert after["median"] < before["median"] / 2
    assert after["p90"] < before["p90"]
    assert summarize(fit.errors_after)["median"] < summarize(fit.errors_before)["median"]


def test_a_prior_holds_a_factor_the_rows_do_not_constrain(rows, catalog):
    """Batch-1 decode of short prompts hardly depends on attention's bandwidth share: without
    a prior the fit leaves it where it starts; with one it moves to the reference."""
    eng = dataclasses.replace(catalog.engine("lmdeploy"), attention_mbu=0.3)
    mine = [r for r in rows if r.engine == "lmdeploy" and r.batch == 1 and r.input_len <= 128]
    assert mine
    free = fit_engine(mine, catalog, eng, ["attention_mbu"], keep_if_worse=False)
    held = fit_engine(mine, catalog, eng, ["attention_mbu"], prior={"attention_mbu": (0.8, 0.5)},
                      keep_if_worse=False)  # fmt: skip
    assert abs(held.factors["attention_mbu"] - 0.8) < abs(free.factors["attention_mbu"] - 0.8)
    assert held.factors["attention_mbu"] > 0.6


def test_cross_validation_never_falls_back_to_the_packaged_profile(catalog, monkeypatch):
    """The packaged profile was fitted on every source, the held-out one included: a fold's fit
    is kept even where its median error is worse than the packaged profile's."""
    from fleetplan.accuracy import calibrate, crossval

    seen = []
    real = calibrate.fit_engine

    def spy(*args, **kwargs):
        seen.append(kwargs.get("keep_if_worse", True))
        return real(*args, **kwargs)

    monkeypatch.setattr(crossval, "fit_engine", spy)
    mine = [r for r in read_rows_csv(validation_set_path()) if r.engine == "lmdeploy"]
    crossval.fit_family(mine[:12], catalog, catalog.engine("lmdeploy"))
    assert seen and not any(seen)


def test_the_moe_stage_is_fitted_again_with_the_servers_work_in_view(catalog, monkeypatch):
    """A family that models its API server fits the MoE stage, whose bursts went through the
    server, once more after the server's stage (and the server's after it); the dense stage,
    whose rows also pin the server's factors, once."""
    from types import SimpleNamespace

    from fleetplan.accuracy import crossval
    from fleetplan.accuracy.published import published_set_path, read_published

    calls = []

    def stub(rows, cat, eng, names, *args, **kwargs):
        moe = cat.model(rows[0].model).is_moe
        calls.append(("server" if "api_server_ms_per_request" in names else moe,
                      eng.api_server_ms_per_request))  # fmt: skip
        fitted = {n: 1.0 for n in names if n.startswith(("api_server", "chat_template"))}
        return SimpleNamespace(engine=dataclasses.replace(eng, **fitted))

    monkeypatch.setattr(crossval, "fit_engine", stub)
    pages = ("gpustack-perflab-qwen3-8b", "gpustack-perflab-gpt-oss-20b-h100")
    rows = [
        r
        for r in read_published(published_set_path(), catalog).rows
        if r.source_id.startswith(pages) and r.engine == "vllm"
    ]
    crossval.fit_family(rows, catalog, catalog.engine("vllm"))
    assert [kind for kind, _ in calls] == [False, True, "server", True, "server"]
    assert calls[1][1] == 0.0  # the MoE stage first without the server's work
    assert calls[3][1] == 1.0  # then with the server's fitted work in view
