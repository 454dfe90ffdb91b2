"""GPU-generation scales borrowed across engine families in leave-one-source-out: a family
fitted on one generation takes another generation's bandwidth and GEMM ratios from the
reference family's fit without the held-out source."""

from __future__ import annotations

import dataclasses

import pytest

from fleetplan.accuracy import crossval, folds
from fleetplan.accuracy.calibrate import CEILING
from fleetplan.accuracy.predict import Prediction
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.catalog.generations import GEMM_PEAK_SHARE, PEAK_SHARE
from fleetplan.perf.roofline import setup


def test_borrowing_adds_only_the_generations_a_family_lacks(catalog):
    vllm = dataclasses.replace(
        catalog.engines["vllm"], architecture_scale={"ada": {"mbu": 0.9}}, mfu_prefill=0.3
    )
    trt = dataclasses.replace(
        catalog.engines["tensorrt-llm"],
        architecture_scale={"ampere": {"mbu": 0.95, "mfu_prefill": 1.3}, "ada": {"mbu": 1.1}},
    )
    out = folds.borrow_generations(vllm, "hopper", trt, "hopper")
    assert out.architecture_scale["ampere"] == {"mbu": 0.95, "mfu_prefill": 1.3}
    assert out.architecture_scale["ada"] == {"mbu": 0.9}  # its own scale stays
    assert out.factor("mfu_prefill", "ampere") == pytest.approx(0.39)
    assert out.factor("mfu_prefill", "hopper") == pytest.approx(0.3)
    # ratios to a different base generation would not mean the same thing: nothing borrowed
    assert folds.borrow_generations(vllm, "ampere", trt, "hopper") is vllm
    assert folds.borrow_generations(trt, "hopper", trt, "hopper") is trt


def test_a_borrowed_scale_stays_under_the_ceilings(catalog):
    vllm = dataclasses.replace(catalog.engines["vllm"].without_borrowed(), mfu_prefill=0.8, mbu=0.9)
    trt = dataclasses.replace(
        catalog.engines["tensorrt-llm"],
        architecture_scale={"ada": {"mbu": 1.2, "mfu_prefill": 1.5}},
    )
    out = folds.borrow_generations(vllm, "hopper", trt, "hopper")
    for name in ("mbu", "mfu_prefill"):
        assert out.factor(name, "ada") == pytest.approx(CEILING[name])


def _row(rid: str, engine: str, gpu: str, source: str) -> ValidationRow:
    kw = {"source_id": source, "engine_version": "1.0"}
    return ValidationRow(rid, engine, "llama-3.1-8b", "bf16", gpu, 128, 128, 8,
                         "output_tok_per_s", 1.0, **kw)  # fmt: skip


def test_a_fold_borrows_from_the_reference_fit_without_the_held_out_source(catalog, monkeypatch):
    """Source 'shared' has vLLM rows on A100 and TensorRT-LLM rows; holding it out, the vLLM fold
    borrows from TensorRT-LLM's fit without 'shared', never from a fit that saw it."""
    rows = [
        _row("v1", "vllm", "h100-sxm", "vllm-only"),
        _row("v2", "vllm", "a100-80gb", "shared"),
        _row("t1", "tensorrt-llm", "h100-sxm", "trt-only"),
        _row("t2", "tensorrt-llm", "a100-80gb", "shared"),
    ]

    def fake_fit(train, cat, prior):  # a profile that records what it was fitted on
        scales = {"ampere": {"mbu": 0.9}} if prior.id == "tensorrt-llm" else {}
        seen = ",".join(sorted({r.source_id for r in train}))
        return dataclasses.replace(prior, notes=seen, architecture_scale=scales)

    borrowed: list[tuple[str, str, str]] = []
    real = crossval.borrow_generations

    def spy(engine, base, reference, ref_base):
        borrowed.append((engine.id, engine.notes, reference.notes))
        return real(engine, base, reference, ref_base)

    monkeypatch.setattr(crossval, "fit_family", fake_fit)
    monkeypatch.setattr(crossval, "borrow_generations", spy)
    monkeypatch.setattr(crossval, "predict_row", lambda r, cat, eng=None: Prediction(r, 1.0))
    crossval.leave_one_source_out(rows, catalog)
    vllm_folds = {fold: ref for eng, fold, ref in borrowed if eng == "vllm"}
    # holding out 'shared' (vLLM fitted on 'vllm-only'): TensorRT-LLM's fit without 'shared'
    assert vllm_folds["vllm-only"] == "trt-only"
    # the in-sample fit borrows from the in-sample reference
    assert vllm_folds["shared,vllm-only"] == "shared,trt-only"


def test_packaged_current_families_borrow_the_reference_generations(catalog):
    """vLLM takes TensorRT-LLM's scales for the generations it has no rows of; SGLang takes
    vLLM's own (Ampere, from the A100 pages it ran on too) and, for the rest, TensorRT-LLM's:
    the chain nearest first."""
    trt, vllm = catalog.engines["tensorrt-llm"], catalog.engines["vllm"]
    assert catalog_chain(catalog, "vllm") == ["tensorrt-llm"]
    assert catalog_chain(catalog, "sglang") == ["vllm", "tensorrt-llm"]
    for fam in ("vllm", "sglang"):
        eng = catalog.engines[fam]
        own = set(eng.calibrated_architectures)
        assert set(eng.borrowed_generations) == set(trt.without_borrowed().architecture_scale) - own
        for gen, lender in eng.borrowed_from:
            assert eng.architecture_scale[gen] == catalog.engines[lender].architecture_scale[gen]
        # what is left is the family's own, fitted on its rows of that generation
        assert set(eng.without_borrowed().architecture_scale) <= own
    # vLLM's A100 rows (GPUStack's Qwen3-14B and Qwen3-32B pages) give it an Ampere scale of
    # its own; SGLang's few A100 rows do not, and it takes vLLM's
    assert "ampere" in vllm.without_borrowed().architecture_scale
    sglang = catalog.engines["sglang"]
    assert dict(sglang.borrowed_from) == {
        "ampere": "vllm",
        "ada": "tensorrt-llm",
        "blackwell": "tensorrt-llm",
    }
    assert (
        sglang.architecture_scale["ampere"] == vllm.without_borrowed().architecture_scale["ampere"]
    )
    assert catalog.engines["vllm-v0"].borrowed_generations == ()


def catalog_chain(catalog, fam: str) -> list[str]:
    from fleetplan.catalog import reference_chain

    return reference_chain(catalog.engines, fam)


def test_a_reference_chain_ends_at_a_loop(catalog):
    from fleetplan.catalog import reference_chain

    engines = {
        "a": dataclasses.replace(catalog.engines["vllm"], generation_scales_from="b"),
        "b": dataclasses.replace(catalog.engines["sglang"], generation_scales_from="a"),
        "c": dataclasses.replace(catalog.engines["sglang"], generation_scales_from="gone"),
    }
    assert reference_chain(engines, "a") == ["b"]
    assert reference_chain(engines, "c") == []


def test_a_fold_borrows_along_the_family_chain_without_the_held_out_source(catalog, monkeypatch):
    """SGLang's fold holding out a source takes Ampere from vLLM's fold without it, and the
    generations vLLM's own fit lacks from TensorRT-LLM's fold without it."""
    rows = [
        _row("s1", "sglang", "h100-sxm", "sg-only"),
        _row("s2", "sglang", "a100-80gb", "shared"),
        _row("v1", "vllm", "h100-sxm", "vllm-only"),
        _row("v2", "vllm", "a100-80gb", "shared"),
        _row("t1", "tensorrt-llm", "h100-sxm", "trt-only"),
        _row("t2", "tensorrt-llm", "l40s", "shared"),
    ]
    own = {
        "vllm": {"ampere": {"mbu": 1.1}},
        "tensorrt-llm": {"ampere": {"mbu": 0.9}, "ada": {"mbu": 1.05}},
    }

    def fake_fit(train, cat, prior):
        seen = ",".join(sorted({r.source_id for r in train}))
        return dataclasses.replace(prior, notes=seen, architecture_scale=own.get(prior.id, {}))

    borrowed: list[tuple[str, str, str, str]] = []
    real = crossval.borrow_generations

    def spy(engine, base, reference, ref_base):
        borrowed.append((engine.id, engine.notes, reference.id, reference.notes))
        return real(engine, base, reference, ref_base)

    monkeypatch.setattr(crossval, "fit_family", fake_fit)
    monkeypatch.setattr(crossval, "borrow_generations", spy)
    monkeypatch.setattr(crossval, "predict_row", lambda r, cat, eng=None: Prediction(r, 1.0))
    crossval.leave_one_source_out(rows, catalog)
    held_out_shared = [
        (ref, seen) for eng, fold, ref, seen in borrowed if eng == "sglang" and fold == "sg-only"
    ]
    assert held_out_shared == [("vllm", "vllm-only"), ("tensorrt-llm", "trt-only")]


def test_packaged_profiles_take_the_measured_gemm_ratio_for_generations_nothing_else_covers(
    catalog,
):
    """An MI300X's best GEMM reaches 60.1 % of its spec peak, an H100's 80.1 % (ml-engineering's
    MAMF table): a Hopper-calibrated family with no CDNA3 rows or borrowed scale runs an MI300X
    prefill at 0.75 of its Hopper share of the MI300X's peak, not at the same share; a
    generation the family has a scale for keeps it, and a fold's prior drops the ratio as it
    drops borrowed scales."""
    ratio = GEMM_PEAK_SHARE["cdna3"] / GEMM_PEAK_SHARE["hopper"]
    for fam in ("vllm", "sglang", "tensorrt-llm", "vllm-v0"):
        eng = catalog.engines[fam]
        assert "cdna3" in eng.measured_generations
        assert eng.factor("mfu_prefill", "cdna3") == pytest.approx(eng.mfu_prefill * ratio)
        assert eng.factor("mbu", "cdna3") == eng.mbu  # no HBM figure measured the same way
        assert "cdna3" not in eng.without_borrowed().architecture_scale
    trt = catalog.engines["tensorrt-llm"]
    assert "ampere" not in trt.measured_generations  # fitted on its own A100 rows
    assert "ampere" in catalog.engines["sglang"].borrowed_generations  # vLLM V1's own scale
    mi300x = catalog.gpu("mi300x")
    s = setup(
        catalog.model("llama-3.1-8b"), mi300x, catalog.precision("bf16"), catalog.engine("vllm")
    )
    assert s.mfu == pytest.approx(catalog.engines["vllm"].mfu_prefill * ratio)
    assert any("measured ratio" in n for n in s.notes)


def test_a_fold_starts_from_the_packaged_profile_without_its_borrowed_scales(catalog, monkeypatch):
    """The packaged borrowed scales come from TensorRT-LLM's fit on every source: a fold's prior
    drops them (its own borrowing comes from the reference's fold)."""
    priors = []

    def fake_fit(train, cat, prior):
        priors.append(prior)
        return prior

    monkeypatch.setattr(crossval, "fit_family", fake_fit)
    monkeypatch.setattr(crossval, "predict_row", lambda r, cat, eng=None: Prediction(r, 1.0))
    crossval.leave_one_source_out([_row("v1", "vllm", "a100-80gb", "s")], catalog)
    assert priors and all(p.borrowed_generations == () for p in priors)
    assert all(set(p.architecture_scale) <= set(p.calibrated_architectures) for p in priors)


def test_sglang_on_an_a100_says_whose_generation_ratios_it_uses(catalog):
    from fleetplan.perf.roofline import setup

    s = setup(catalog.model("llama-3.1-8b"), catalog.gpu("a100-80gb"),
              catalog.precision("bf16"), catalog.engines["sglang"])  # fmt: skip
    assert any("vllm's ampere ratios" in n for n in s.notes)
    assert s.mfu == pytest.approx(
        catalog.engines["sglang"].mfu_prefill
        * catalog.engines["vllm"].architecture_scale["ampere"]["mfu_prefill"]
    )
    # on an L40S (Ada), which vLLM has no rows of either, TensorRT-LLM's
    ada = setup(catalog.model("llama-3.1-8b"), catalog.gpu("l40s"),
                catalog.precision("bf16"), catalog.engines["sglang"])  # fmt: skip
    assert any("tensorrt-llm's ada ratios" in n for n in ada.notes)
    # vLLM runs an A100 at the scale fitted on its own A100 rows, and says nothing borrowed
    v = setup(catalog.model("llama-3.1-8b"), catalog.gpu("a100-80gb"),
              catalog.precision("bf16"), catalog.engines["vllm"])  # fmt: skip
    assert not any("ratios" in n for n in v.notes)
    vllm = catalog.engines["vllm"]
    assert v.mfu == pytest.approx(
        vllm.mfu_prefill * vllm.architecture_scale["ampere"]["mfu_prefill"]
    )


def test_an_unknown_generation_source_is_one_line_naming_the_field(tmp_path):
    from fleetplan.catalog import load_catalog
    from fleetplan.errors import InputError

    f = tmp_path / "cat.toml"
    f.write_text('[engines.vllm]\ngeneration_scales_from = "nope"\n')
    with pytest.raises(InputError, match=r"engines\.vllm\.generation_scales_from = 'nope'"):
        load_catalog(f)


def test_a_vendor_neutral_fold_takes_the_references_of_its_engines_era(catalog):
    """A fold with no dense-model row on a GPU vendor predicts that vendor's rows with the
    reference factors, not the ones its other vendor's rows set jointly: the kernels' shares,
    the all-reduce (each vendor's build has its own collectives) and a step's host work of the
    engine's era and loop (a Python loop that does not overlap the GPU before 2024: ~4 ms a
    decode step in vLLM V0, per-layer time included; a current engine's or a C++ loop's 0.5 ms
    plus its kernel boundaries every layer)."""
    v0 = dataclasses.replace(
        catalog.engines["vllm-v0"].without_borrowed(),
        mbu=0.6,
        step_overhead_ms=10.0,
        allreduce_latency_us=50.0,
        architecture_scale={"cdna3": {"mbu": 0.5}},
    )
    out = folds.vendor_neutral(v0)
    assert out.mbu == crossval.PRIOR["mbu"][0]
    assert out.allreduce_latency_us == crossval.PRIOR["allreduce_latency_us"][0]
    assert out.step_overhead_ms == folds.LEGACY_STEP_OVERHEAD_MS
    assert out.per_layer_overhead_us == v0.per_layer_overhead_us == 0.0
    # the fitted AMD scale is gone; each generation takes the references at the same share of
    # what its best kernels reach as where they were measured (a B200's GEMMs, an H100's HBM)
    assert out.architecture_scale["cdna3"] != {"mbu": 0.5}
    for gen, shares in PEAK_SHARE.items():
        for name, share in shares.items():
            eff = getattr(out, name) * out.architecture_scale[gen][name]
            assert eff / share == pytest.approx(
                crossval.PRIOR[name][0] / crossval.PRIOR_MEASURED_SHARE[name]
            )
    assert out.mfu_prefill * out.architecture_scale["ampere"]["mfu_prefill"] > 0.65  # 86 % GEMMs
    assert out.mfu_prefill * out.architecture_scale["cdna3"]["mfu_prefill"] < 0.55  # 60 %
    for fam in ("vllm", "tensorrt-llm-0x"):  # current; a 2023 family stepping in C++
        prof = dataclasses.replace(
            catalog.engines[fam].without_borrowed(), step_overhead_ms=10.0, per_layer_overhead_us=0
        )
        out = folds.vendor_neutral(prof)
        assert out.step_overhead_ms == crossval.PRIOR["step_overhead_ms"][0]
        assert out.per_layer_overhead_us == crossval.PRIOR["per_layer_overhead_us"][0]


def test_a_fold_drops_the_packaged_scales_its_own_rows_do_not_fit_again(catalog):
    """The packaged TensorRT-LLM scales were fitted on every source: a fold whose rows hold no
    Blackwell row (all of them are in the held-out source) must not predict Blackwell with a
    scale fitted on those very rows; a generation the fold's rows fit again keeps its start."""
    trt = catalog.engines["tensorrt-llm"].without_borrowed()
    assert {"blackwell", "ampere"} <= set(trt.architecture_scale)
    train = [_row(f"h{k}", "tensorrt-llm", "h100-sxm", "s") for k in range(14)]
    train += [_row(f"a{k}", "tensorrt-llm", "a100-80gb", "s") for k in range(12)]
    out = folds.fold_prior(trt, train, catalog)
    assert "blackwell" not in out.architecture_scale
    assert out.architecture_scale["ampere"] == trt.architecture_scale["ampere"]


def test_a_family_with_one_source_is_predicted_from_the_references_when_it_is_held_out(
    catalog, monkeypatch
):
    """With its only source held out a family has nothing left to fit on: its rows are
    predicted with the references (`vendor_neutral`), never its packaged, in-sample profile."""
    used = {}
    real = crossval.predict_row

    def spy(row, cat, engine=None):
        used.setdefault(row.row_id, engine)  # the out-of-sample profile comes first
        return real(row, cat, engine)

    monkeypatch.setattr(crossval, "predict_row", spy)
    rows = [_row("l1", "lmdeploy", "a100-80gb", "only")]
    crossval.leave_one_source_out(rows, catalog)
    eng = used["l1"]
    packaged = catalog.engines["lmdeploy"]
    assert eng.mbu == crossval.PRIOR["mbu"][0] != packaged.mbu
    # TurboMind steps in C++: no Python bubble, but every layer's kernel boundaries
    assert packaged.host_loop == "native"
    assert eng.step_overhead_ms == crossval.PRIOR["step_overhead_ms"][0]
    assert eng.per_layer_overhead_us == crossval.PRIOR["per_layer_overhead_us"][0]
    assert eng.gemm_half_tokens == 0.0


def test_a_generation_no_fit_covers_gets_its_measured_gemm_share_relative_to_the_base(catalog):
    """A100s reach 85.9 % of their dense BF16 peak in a large GEMM, H100s 80.1 % (ml-engineering's
    MAMF table), and 83.4 % and 88.7 % of their HBM bandwidth in the STREAM triad (Azure's
    benchmarks): with no fitted or borrowed Ampere scale, a Hopper-based fit runs an A100's
    prefill and weight stream at those ratios of its Hopper shares of spec; an MI300X (60.1 %
    in the same table, no HBM figure) its prefill only; a fitted scale is never replaced, and a
    CDNA3-based fit (no HBM share to take a ratio to) gives Hopper a GEMM scale alone."""
    trt = dataclasses.replace(
        catalog.engines["tensorrt-llm"].without_borrowed(),
        mfu_prefill=0.5,
        architecture_scale={"blackwell": {"mbu": 1.1}},
    )
    out = folds.physical_generations(trt, "hopper")
    assert out.factor("mfu_prefill", "ampere") == pytest.approx(0.5 * 0.859 / 0.801, rel=1e-3)
    assert out.factor("mbu", "ampere") == pytest.approx(trt.mbu * 0.834 / 0.887, rel=1e-3)
    assert out.architecture_scale["blackwell"] == {"mbu": 1.1}
    assert out.architecture_scale["cdna3"] == {"mfu_prefill": pytest.approx(0.601 / 0.801, 1e-3)}
    assert "ada" not in out.architecture_scale  # no measurement, no prior
    fitted = dataclasses.replace(trt, architecture_scale={"ampere": {"mbu": 0.9}})
    assert folds.physical_generations(fitted, "hopper").architecture_scale["ampere"] == {"mbu": 0.9}
    on_cdna3 = folds.physical_generations(trt, "cdna3").architecture_scale
    assert on_cdna3["hopper"] == {"mfu_prefill": pytest.approx(0.801 / 0.601, 1e-3)}
    high = dataclasses.replace(trt, mfu_prefill=0.84)
    assert folds.physical_generations(high, "hopper").factor(
        "mfu_prefill", "ampere"
    ) == pytest.approx(CEILING["mfu_prefill"])


def test_a_fold_without_a100_rows_predicts_them_with_the_physical_prior(catalog, monkeypatch):
    """Holding out the source with every A100 row of the reference family, nothing fits or lends
    an Ampere scale: the fold predicts the A100 row at the measured GEMM-share ratio, not at the
    Hopper share of spec."""
    rows = [
        _row("t1", "tensorrt-llm", "h100-sxm", "hopper-only"),
        _row("t2", "tensorrt-llm", "a100-80gb", "ampere-table"),
    ]
    monkeypatch.setattr(
        crossval, "fit_family",
        lambda train, cat, prior: dataclasses.replace(prior, architecture_scale={}),
    )  # fmt: skip
    used = {}

    def spy(row, cat, engine=None):
        used.setdefault(row.row_id, engine)  # the out-of-sample profile comes first
        return Prediction(row, 1.0)

    monkeypatch.setattr(crossval, "predict_row", spy)
    crossval.leave_one_source_out(rows, catalog)
    eng = used["t2"]
    assert eng.factor("mfu_prefill", "ampere") == pytest.approx(
        eng.mfu_prefill
        * folds.PEAK_SHARE["ampere"]["mfu_prefill"]
        / folds.PEAK_SHARE["hopper"]["mfu_prefill"]
    )


def test_engines_says_whose_generation_scales_a_family_takes(cli):
    out = cli("engines").out
    assert (
        "sglang: GPU-generation scales taken from other families: ampere from vllm; "
        "ada, blackwell from tensorrt-llm" in out
    )
    assert "tensorrt-llm: GPU-generation scales taken" not in out  # its rows cover them
