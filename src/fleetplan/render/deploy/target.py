"""From a plan to the facts its deployment files share: which model id to serve, on which GPU
vendor, with which engine image and arguments, how long a replica takes to start."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetplan.catalog import Catalog
from fleetplan.errors import InputError, UnsupportedError
from fleetplan.perf.memory import weights
from fleetplan.plan import Plan
from fleetplan.render.deploy.engines import ONLINE_PRECISIONS, EngineLaunch, ServeSpec, launch_for
from fleetplan.search.candidates import Candidate

# Start-up time model (seconds), stated in the emitted README and manifest annotations:
# container start and GPU runtime init, the weights read from the model-cache volume at
# STORAGE_GB_S (a network block volume's order; local NVMe reads several times faster), then
# the engine's warm-up (memory profiling, CUDA/HIP graph capture). Assumptions to adjust.
CONTAINER_START_S = 30.0
STORAGE_GB_S = 1.0
WARMUP_S = 60.0


@dataclass(frozen=True)
class Target:
    """One replica type of the plan, as the deployment files describe it."""

    name: str  # Kubernetes object name
    candidate: Candidate
    gpu: str
    vendor: str
    engine: EngineLaunch
    image: str
    serve: ServeSpec
    serve_model_basis: str
    load_time_s: int
    weights_gb: float
    min_replicas: int
    max_replicas: int
    ttft_slo_s: float | None
    tpot_slo_s: float | None

    @property
    def args(self) -> list[str]:
        return self.engine.args(self.serve)

    @property
    def gpu_resource(self) -> str:
        return "amd.com/gpu" if self.vendor == "amd" else "nvidia.com/gpu"


def serve_model(
    p: Plan, precision: str, online: frozenset[str] = ONLINE_PRECISIONS, engine: str = "vllm"
) -> tuple[str, str]:
    """The Hugging Face id the deployment serves, and where it came from. `online`: the
    precisions `engine` makes from a 16-bit checkpoint while loading it."""
    if p.scenario.serve_model:
        return p.scenario.serve_model, "the scenario's serve_model"
    # a 16-bit checkpoint the engine quantizes while loading, or the checkpoint as published
    if precision not in online and precision != p.model.checkpoint_precision:
        raise InputError(
            f"serve_model: the recommendation runs {p.model.id} at precision {precision!r}, "
            f"which needs a checkpoint exported in that format to serve on {engine}; give its "
            "Hugging Face id (owner/name) as serve_model in the scenario or `plan "
            "--serve-model`, or limit the plan's precisions (`--precision`) to formats the "
            f"server makes from the published checkpoint ({', '.join(sorted(online))})"
        )
    if p.model.serve_model:
        return p.model.serve_model, f"the catalog's serve_model of {p.model.id}"
    if p.model.hf_id:
        return p.model.hf_id, f"the catalog's hf_id of {p.model.id} (it lists no serve_model)"
    raise InputError(
        f"serve_model: model {p.model.id!r} has no Hugging Face id; set serve_model in the "
        "scenario (or `plan --serve-model`) to the id the server should download "
        "(owner/name), not a file path"
    )


def max_model_len(p: Plan) -> int:
    need = p.input.p99 + p.output.p99
    return int(min(p.model.max_context, math.ceil(need / 1024) * 1024))


def make_target(p: Plan, cat: Catalog) -> Target:
    c = p.recommended
    if c is None:
        raise UnsupportedError("no recommended deployment to emit files for")
    gpu = cat.gpu(c.gpu)
    recipe, image = launch_for(c.engine, gpu.vendor, gpu.architecture)
    model_id, basis = serve_model(p, c.precision, recipe.online_precisions, c.engine)
    if c.engine == "llama.cpp" and not p.scenario.serve_model:
        raise InputError(
            "serve_model: llama.cpp loads GGUF files; set serve_model in the scenario (or "
            "`plan --serve-model`) to a Hugging Face repository holding the GGUF export"
        )
    prec = cat.precision(c.precision)
    length = max_model_len(p)
    spec = ServeSpec(
        model=model_id,
        tp=c.tp,
        max_batch=c.max_batch,
        max_model_len=length,
        max_input_len=int(min(length - 1, math.ceil(p.input.p99))),
        gpu_memory_utilization=cat.engine(c.engine).gpu_memory_utilization,
        precision=c.precision,
        vllm_quantization=prec.vllm_quantization,
        kv_fp8=p.scenario.kv_precision == "fp8",
        prefix_caching=p.scenario.prefix_caching,
    )
    # the server reads the checkpoint as published (16-bit, or the format it ships in: DeepSeek's
    # FP8, gpt-oss's MXFP4) and quantizes it while loading, or the export the scenario names,
    # stored at the plan's precision
    exported = p.scenario.serve_model or c.precision not in recipe.online_precisions
    stored = prec if exported else cat.precision(p.model.native_precision)
    w_gb = weights(p.model, stored).total_bytes / 1e9
    load_s = math.ceil(CONTAINER_START_S + w_gb / STORAGE_GB_S + WARMUP_S)
    grown = [h.candidate.replicas for h in p.horizons if h.candidate and h.candidate.gpu == c.gpu]
    min_replicas = p.scenario.slo.min_replicas
    slo = p.scenario.slo
    return Target(
        name=slug(p.model.id),
        candidate=c,
        gpu=gpu.id,
        vendor=gpu.vendor,
        engine=recipe,
        image=image,
        serve=spec,
        serve_model_basis=basis,
        load_time_s=load_s,
        weights_gb=w_gb,
        min_replicas=min_replicas,
        max_replicas=max([c.replicas * 2, min_replicas, *grown]),
        ttft_slo_s=slo.ttft_p95_ms / 1e3 if slo.ttft_p95_ms else None,
        tpot_slo_s=slo.tpot_p95_ms / 1e3 if slo.tpot_p95_ms else None,
    )


def slug(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out[:50].strip("-") or "llm"
