"""What a plan recommends can be deployed as stated: an engine on a GPU it has a build for, and
deployment files that serve the precision the plan sized."""

from __future__ import annotations

from pathlib import Path

from fleetplan.plan import make_plan
from fleetplan.scenario import parse_scenario

SCENARIO = {
    "model": "mixtral-8x7b",
    "precisions": ["fp8"],
    "traffic": {"avg_qps": 5},
    "input_tokens": {"mean": 1000},
    "output_tokens": {"mean": 300},
    "slo": {"ttft_p95_ms": 2000, "tpot_p95_ms": 60, "min_replicas": 2},
}


def _plan(**changes):
    return make_plan(parse_scenario({**SCENARIO, **changes}), Path("."))


def test_a_cuda_only_engine_is_never_planned_on_an_amd_gpu():
    # TensorRT-LLM publishes no ROCm build: on an MI300X it was recommended, and --emit failed
    p = _plan(engines=["tensorrt-llm"], constraints={"gpus": ["mi300x", "h100-sxm"]})
    assert p.recommended is not None and p.recommended.gpu == "h100-sxm"
    for c in [*p.alternatives, *p.pareto, *p.by_provider, *(h.candidate for h in p.horizons)]:
        assert c is None or c.gpu != "mi300x"
    why = [r.reason for r in p.rejected if r.gpu == "mi300x" and r.engine == "tensorrt-llm"]
    assert why == [
        "unsupported: engine 'tensorrt-llm' publishes no image for amd cdna3 GPUs; it has "
        "images for nvidia"
    ]
    only_amd = _plan(engines=["tensorrt-llm"], constraints={"gpus": ["mi300x"]})
    assert only_amd.recommended is None


def test_an_engine_with_a_rocm_build_is_still_planned_on_amd():
    p = _plan(engines=["vllm"], constraints={"gpus": ["mi300x"]})
    assert p.recommended is not None and p.recommended.gpu == "mi300x"


def test_tensorrt_llm_at_fp8_serves_an_fp8_checkpoint_not_the_16_bit_one(tmp_path):
    """trtllm-serve has no argument that quantizes a 16-bit checkpoint: the FP8 plan's files
    served the bf16 weights (93 GB of Mixtral on one 80 GB H100) without a word."""
    import pytest

    from fleetplan.catalog import load_catalog
    from fleetplan.errors import InputError
    from fleetplan.render.deploy import build

    cat = load_catalog()
    spec = {**SCENARIO, "engines": ["tensorrt-llm"], "constraints": {"gpus": ["h100-sxm"]}}
    p = make_plan(parse_scenario(spec), Path("."), cat)
    assert p.recommended is not None and p.recommended.precision == "fp8"
    with pytest.raises(InputError, match=r"precision 'fp8', .* to serve on tensorrt-llm"):
        build(p, cat)
    named = make_plan(parse_scenario({**spec, "serve_model": "nvidia/Mixtral-8x7B-FP8"}))
    assert "nvidia/Mixtral-8x7B-FP8" in build(named, cat).files["serve-command.txt"]
    vllm = make_plan(parse_scenario({**spec, "engines": ["vllm"]}), Path("."), cat)
    assert "--quantization fp8" in build(vllm, cat).files["serve-command.txt"]


def test_emit_without_a_recommendation_still_reports_and_exits_3(tmp_path, cli):
    """With nothing to deploy, --emit ended the run with exit 2 and, under --json, no report:
    the report and exit 3 are what a plan without a candidate gives."""
    import yaml

    scenario = tmp_path / "s.yaml"
    data = {**SCENARIO, "engines": ["tensorrt-llm"], "constraints": {"gpus": ["mi300x"]}}
    scenario.write_text(yaml.safe_dump(data))
    out = tmp_path / "deploy"
    r = cli("plan", str(scenario), "--json", "--emit", str(out))
    assert r.code == 3, r.err
    assert r.json()["recommended"] is None
    assert f"wrote nothing to {out}: no deployment to emit files for" in r.err
    assert not out.exists()


def test_an_fp8_kv_cache_reaches_every_server_or_the_readme_says_it_does_not():
    """kv_precision fp8 set vLLM's and SGLang's flag; TGI's launcher was not told, and
    TensorRT-LLM's command cannot be: the replicas held half the KV cache sized, unsaid."""
    from fleetplan.catalog import load_catalog
    from fleetplan.render.deploy import build

    cat = load_catalog()
    data = {**SCENARIO, "model": "llama-3.1-8b", "kv_precision": "fp8",
            "serve_model": "nvidia/Llama-3.1-8B-Instruct-FP8",
            "constraints": {"gpus": ["h100-sxm"]}}  # fmt: skip
    for engine in ("vllm", "sglang", "tgi", "tensorrt-llm"):
        a = build(make_plan(parse_scenario({**data, "engines": [engine]}), Path("."), cat), cat)
        told = "--kv-cache-dtype" in a.files["serve-command.txt"]
        warned = any("sized an fp8 KV cache" in n for n in a.notes)
        assert told != warned, engine
        assert told == (engine != "tensorrt-llm"), engine
