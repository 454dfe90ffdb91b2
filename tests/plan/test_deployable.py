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
