"""How each inference engine is launched in a container: image per GPU vendor, command, server
arguments, health path and the Prometheus metrics the monitoring files read.

One table, `ENGINES`; an engine missing from it is an error, never a silent vLLM. Images are
public and pinned where the project publishes version tags; change them to the release you run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fleetplan.errors import UnsupportedError

PORT = 8000


@dataclass(frozen=True)
class ServeSpec:
    """What the engine's server needs to know about the plan."""

    model: str  # Hugging Face id
    tp: int
    max_batch: int
    max_model_len: int
    max_input_len: int
    gpu_memory_utilization: float
    precision: str
    vllm_quantization: str  # the catalog's vLLM name of the precision's scheme, or ""
    kv_fp8: bool
    prefix_caching: bool


@dataclass(frozen=True)
class Metrics:
    """Prometheus series an engine exports (empty string: none we can cite)."""

    queue: str = ""  # gauge: requests waiting for a batch slot
    running: str = ""  # gauge: requests in the running batch
    ttft: str = ""  # histogram, seconds
    tpot: str = ""  # histogram, seconds between output tokens
    kv_usage: str = ""  # gauge, fraction of the KV cache in use (0-1)
    source: str = ""


@dataclass(frozen=True)
class EngineLaunch:
    name: str
    images: dict[str, str]  # GPU architecture or, failing that, vendor -> image
    image_source: str
    command: tuple[str, ...]
    args: Callable[[ServeSpec], list[str]]
    metrics: Metrics
    cache_dir: str = "/root/.cache/huggingface"  # where the image looks for downloaded weights
    health_path: str = "/health"
    args_source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    # precisions the server makes from a 16-bit checkpoint while loading it; the others need a
    # checkpoint exported in that format (the scenario's serve_model)
    online_precisions: frozenset[str] = frozenset({"fp32", "bf16", "fp16", "fp8"})


def _vllm(s: ServeSpec) -> list[str]:
    args = [
        s.model,
        "--tensor-parallel-size", str(s.tp),
        "--max-model-len", str(s.max_model_len),
        "--max-num-seqs", str(s.max_batch),
        "--gpu-memory-utilization", f"{s.gpu_memory_utilization:g}",
        "--port", str(PORT),
    ]  # fmt: skip
    if s.vllm_quantization:
        args += ["--quantization", s.vllm_quantization]
    if s.kv_fp8:
        args += ["--kv-cache-dtype", "fp8"]
    if s.prefix_caching:
        args.append("--enable-prefix-caching")
    return args


# SGLang's --quantization names follow vLLM's for these schemes
_SGLANG_QUANT = {"fp8": "fp8", "awq": "awq", "gptq": "gptq", "int8": "w8a8_int8"}


def _sglang(s: ServeSpec) -> list[str]:
    args = [
        "--model-path", s.model,
        "--tp", str(s.tp),
        "--host", "0.0.0.0",
        "--port", str(PORT),
        "--context-length", str(s.max_model_len),
        "--max-running-requests", str(s.max_batch),
        "--mem-fraction-static", f"{s.gpu_memory_utilization:g}",
        "--enable-metrics",
    ]  # fmt: skip
    if s.precision in _SGLANG_QUANT:
        args += ["--quantization", _SGLANG_QUANT[s.precision]]
    if s.kv_fp8:
        args += ["--kv-cache-dtype", "fp8_e5m2"]
    if not s.prefix_caching:
        args.append("--disable-radix-cache")
    return args


_TGI_QUANT = {"fp8": "fp8", "awq": "awq", "gptq": "gptq"}


def _tgi(s: ServeSpec) -> list[str]:
    args = [
        "--model-id", s.model,
        "--num-shard", str(s.tp),
        "--port", str(PORT),
        "--max-input-tokens", str(s.max_input_len),
        "--max-total-tokens", str(s.max_model_len),
    ]  # fmt: skip
    if s.precision in _TGI_QUANT:
        args += ["--quantize", _TGI_QUANT[s.precision]]
    if s.kv_fp8:  # launcher --kv-cache-dtype: fp8_e4m3fn or fp8_e5m2 (TGI 2.3+)
        args += ["--kv-cache-dtype", "fp8_e4m3fn"]
    return args


def _trtllm(s: ServeSpec) -> list[str]:
    return [
        s.model,
        "--host", "0.0.0.0",
        "--port", str(PORT),
        "--tp_size", str(s.tp),
        "--max_batch_size", str(s.max_batch),
        "--max_seq_len", str(s.max_model_len),
        "--kv_cache_free_gpu_memory_fraction", f"{s.gpu_memory_utilization:g}",
    ]  # fmt: skip


def _lmdeploy(s: ServeSpec) -> list[str]:
    return [
        s.model,
        "--server-port", str(PORT),
        "--tp", str(s.tp),
        "--max-batch-size", str(s.max_batch),
        "--session-len", str(s.max_model_len),
        "--cache-max-entry-count", f"{s.gpu_memory_utilization:g}",
    ]  # fmt: skip


def _llama_cpp(s: ServeSpec) -> list[str]:
    return [
        "-hf", s.model,
        "--host", "0.0.0.0",
        "--port", str(PORT),
        "-np", str(s.max_batch),
        "-c", str(s.max_model_len * s.max_batch),  # the context is shared by the slots
        "-ngl", "999",
        "--metrics",
    ]  # fmt: skip


ENGINES: dict[str, EngineLaunch] = {
    "vllm": EngineLaunch(
        name="vLLM",
        images={
            "nvidia": "vllm/vllm-openai:v0.11.0",
            "amd": "rocm/vllm:rocm7.0.0_vllm_0.11.2_20251210",
        },
        image_source=(
            "https://docs.vllm.ai/en/stable/deployment/docker/ (CUDA); "
            "https://hub.docker.com/r/rocm/vllm (ROCm, AMD's build of vLLM)"
        ),
        command=("vllm", "serve"),
        args=_vllm,
        args_source="https://docs.vllm.ai/en/stable/cli/serve.html",
        metrics=Metrics(
            queue="vllm:num_requests_waiting",
            running="vllm:num_requests_running",
            ttft="vllm:time_to_first_token_seconds",
            # vLLM 0.11 renamed time_per_output_token to inter_token_latency (PR 24110)
            tpot="vllm:inter_token_latency_seconds",
            kv_usage="vllm:kv_cache_usage_perc",
            source="https://docs.vllm.ai/en/stable/design/metrics.html",
        ),
    ),
    "sglang": EngineLaunch(
        name="SGLang",
        images={
            "nvidia": "lmsysorg/sglang:latest",
            "cdna3": "lmsysorg/sglang:latest-rocm630-mi30x",  # MI300X/MI325X
            "cdna4": "lmsysorg/sglang:latest-rocm700-mi35x",  # MI350X/MI355X
        },
        image_source=(
            "https://hub.docker.com/r/lmsysorg/sglang/tags (CUDA `latest`; ROCm "
            "`latest-rocm630-mi30x`, `latest-rocm700-mi35x`); pin the version you test"
        ),
        command=("python3", "-m", "sglang.launch_server"),
        args=_sglang,
        args_source="https://docs.sglang.ai/advanced_features/server_arguments.html",
        metrics=Metrics(
            queue="sglang:num_queue_reqs",
            running="sglang:num_running_reqs",
            ttft="sglang:time_to_first_token_seconds",
            tpot="sglang:inter_token_latency_seconds",
            kv_usage="sglang:token_usage",
            source="https://docs.sglang.io/references/production_metrics.html",
        ),
    ),
    "tgi": EngineLaunch(
        name="Text Generation Inference",
        images={
            "nvidia": "ghcr.io/huggingface/text-generation-inference:3.3.4",
            "amd": "ghcr.io/huggingface/text-generation-inference:3.3.4-rocm",
        },
        image_source=(
            "https://huggingface.co/docs/text-generation-inference/quicktour (`-rocm` suffix "
            "for AMD); 3.3.4, since 3.3.5 was tagged without an image "
            "(https://github.com/huggingface/text-generation-inference/issues/3320)"
        ),
        command=("text-generation-launcher",),
        args=_tgi,
        cache_dir="/data",  # the image sets HF_HUB_CACHE=/data
        args_source="https://huggingface.co/docs/text-generation-inference/reference/launcher",
        metrics=Metrics(
            queue="tgi_queue_size",
            running="tgi_batch_current_size",
            tpot="tgi_request_mean_time_per_token_duration",
            source="https://huggingface.co/docs/text-generation-inference/reference/metrics",
        ),
        notes=(
            "TGI exports no time-to-first-token histogram; TTFT alerts are left out",
            "TGI sizes its batch from the memory left after loading (--max-batch-total-tokens "
            "inferred), not from the plan's max_batch",
        ),
    ),
    "tensorrt-llm": EngineLaunch(
        name="TensorRT-LLM",
        images={"nvidia": "nvcr.io/nvidia/tensorrt-llm/release:1.0.0"},
        image_source="https://nvidia.github.io/TensorRT-LLM/1.0.0/commands/trtllm-serve/",
        command=("trtllm-serve",),
        args=_trtllm,
        args_source="https://nvidia.github.io/TensorRT-LLM/commands/trtllm-serve.html",
        metrics=Metrics(),
        notes=(
            "trtllm-serve publishes iteration statistics as JSON, not Prometheus series: no "
            "queue-depth autoscaling or engine alerts are emitted, only GPU alerts",
        ),
        # its PyTorch backend loads FP8 weights from a quantized checkpoint (ModelOpt's, e.g.
        # nvidia/Llama-3.1-8B-Instruct-FP8) and has no server argument that quantizes a 16-bit
        # one: https://nvidia.github.io/TensorRT-LLM/features/quantization.html
        online_precisions=frozenset({"fp32", "bf16", "fp16"}),
    ),
    "lmdeploy": EngineLaunch(
        name="LMDeploy",
        images={"nvidia": "openmmlab/lmdeploy:latest"},
        image_source="https://lmdeploy.readthedocs.io/en/latest/get_started/installation.html",
        command=("lmdeploy", "serve", "api_server"),
        args=_lmdeploy,
        health_path="/v1/models",
        args_source="https://lmdeploy.readthedocs.io/en/latest/llm/api_server.html",
        metrics=Metrics(),
        notes=("no LMDeploy Prometheus series are cited here: only GPU alerts are emitted",),
        # quantized weights come from `lmdeploy lite` exports (--model-format awq/gptq); the
        # server takes no argument that quantizes a 16-bit checkpoint
        online_precisions=frozenset({"fp32", "bf16", "fp16"}),
    ),
    "llama.cpp": EngineLaunch(
        name="llama.cpp server",
        images={
            "nvidia": "ghcr.io/ggml-org/llama.cpp:server-cuda",
            "amd": "ghcr.io/ggml-org/llama.cpp:server-rocm",
        },
        image_source="https://github.com/ggml-org/llama.cpp/blob/master/docs/docker.md",
        command=("/app/llama-server",),
        args=_llama_cpp,
        cache_dir="/root/.cache/llama.cpp",
        args_source="https://github.com/ggml-org/llama.cpp/tree/master/tools/server",
        metrics=Metrics(
            queue="llamacpp:requests_deferred",
            running="llamacpp:requests_processing",
            source="https://github.com/ggml-org/llama.cpp/tree/master/tools/server",
        ),
    ),
}

# Precisions vLLM, SGLang and TGI apply to a 16-bit checkpoint when they load it; the others
# (AWQ, GPTQ, GGUF, ...) need a checkpoint exported in that format, named by the scenario.
# Each engine's own set: `EngineLaunch.online_precisions`.
ONLINE_PRECISIONS = ENGINES["vllm"].online_precisions


def platform_gap(engine: str, vendor: str, architecture: str) -> str:
    """Why `engine` does not run on GPUs of this vendor and architecture: its project publishes
    no build for them (TensorRT-LLM and LMDeploy's TurboMind are CUDA-only; SGLang's ROCm images
    are per Instinct generation). "" where it does, or where no template says."""
    recipe = ENGINES.get(engine)
    if recipe is None or recipe.images.get(architecture) or recipe.images.get(vendor):
        return ""
    return (
        f"engine {engine!r} publishes no image for {vendor} {architecture} GPUs; it has "
        f"images for {', '.join(sorted(recipe.images))}"
    )


def launch_for(engine: str, vendor: str, architecture: str) -> tuple[EngineLaunch, str]:
    """The engine's launch recipe and its image for GPUs of this vendor and architecture."""
    recipe = ENGINES.get(engine)
    if recipe is None:
        raise UnsupportedError(
            f"engine {engine!r} has no deployment template; templates exist for "
            f"{', '.join(sorted(ENGINES))}"
        )
    gap = platform_gap(engine, vendor, architecture)
    if gap:
        raise UnsupportedError(gap)
    return recipe, recipe.images.get(architecture) or recipe.images[vendor]
