"""Validation rows from TensorRT-LLM's perf-overview tables copied into sources/."""

from __future__ import annotations

import re
from collections.abc import Iterator

from validation_rows_common import SOURCES_DIR, cells, number, row, table_lines

TRT_REPO = "https://github.com/NVIDIA/TensorRT-LLM/blob"
TRT_V017_URL = (
    f"{TRT_REPO}/258c7540c03517def55d9a5aadfa9288af474e1b/docs/source/performance/perf-overview.md"
)
TRT_V10_URL = (
    f"{TRT_REPO}/00f37686aa854010d68bcbd0f4ab000221541ca6/docs/source/performance/perf-overview.md"
)

# Requests per (input, output) in trtllm-bench's dataset ("$num_requests" table of both docs).
TRT_NUM_REQUESTS = {
    (128, 128): 30000,
    (128, 2048): 3000,
    (128, 4096): 1500,
    (1000, 2000): 1500,
    (2048, 128): 3000,
    (2048, 2048): 1500,
    (5000, 500): 1500,
    (1000, 1000): 3000,
    (500, 2000): 3000,
    (20000, 2000): 1000,
}

GPU_IDS = {
    "H200 141GB HBM3": "h200",
    "H200 131GB HBM3": "h200",
    "H100 80GB HBM3": "h100-sxm",
    "L40S": "l40s",
    "A100-SXM4-80GB": "a100-80gb",
    "H200": "h200",
    "H100": "h100-sxm",
    "B200": "b200",
    "GB200": "gb200",
}

V017_MODELS = {
    "LLaMA v3.1 8B": "meta-llama/Llama-3.1-8B-Instruct",
    "LLaMA v3.1 70B": "meta-llama/Llama-3.1-70B-Instruct",
    "LLaMA v3.1 405B": "meta-llama/Llama-3.1-405B-Instruct",
    "Mistral 7B": "mistralai/Mistral-7B-v0.1",
    "Mixtral 8x7B": "mistralai/Mixtral-8x7B-v0.1",
    "Mixtral 8x22B": "mistralai/Mixtral-8x22B-v0.1",
}

V10_MODELS = {
    "Llama 4 Scout": ("meta-llama/Llama-4-Scout-17B-16E-Instruct", True),
    "Llama 3.3 70B": ("meta-llama/Llama-3.3-70B-Instruct", False),
    "Qwen3-235B-A22B": ("Qwen/Qwen3-235B-A22B", True),
    "Qwen3-30B-A3B": ("Qwen/Qwen3-30B-A3B", True),
    "Llama 4 Maverick": ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", True),
    "Llama 3.1 405B": ("meta-llama/Llama-3.1-405B-Instruct", False),
    "Llama 3.1 8B": ("meta-llama/Llama-3.1-8B-Instruct", False),
}

SERVING_MODELS = {
    "LLaMA 3.1 70B": "meta-llama/Llama-3.1-70B-Instruct",
    "LLaMA 3.1 8B": "meta-llama/Llama-3.1-8B-Instruct",
}


def trtllm_v017() -> Iterator[dict[str, str]]:
    """TensorRT-LLM 0.17 trtllm-bench offline throughput (C++ engines built with FP8)."""
    lines = list(table_lines(SOURCES_DIR / "trtllm_perf_overview_v0.17.md"))
    header = cells(lines[0])[3:]
    precisions = cells(lines[1])[3:]
    model = tp = ""
    for line in lines[3:]:
        cs = cells(line)
        model = cs[0] or model
        tp = cs[1] or tp
        isl, osl = (int(x) for x in cs[2].split(","))
        for gpu_label, prec, cell in zip(header, precisions, cs[3:], strict=True):
            value = number(cell)
            if value is None or gpu_label not in GPU_IDS:  # GH200 is not in the catalog
                continue
            fp8 = prec == "FP8"
            yield row(
                source_id="trtllm-perf-overview-v0.17",
                source_url=TRT_V017_URL,
                source_title="TensorRT-LLM docs: Performance Overview (data generated with 0.17)",
                source_date="2025-02",
                engine="tensorrt-llm",
                engine_version="0.17.0",
                model_hf=V017_MODELS[model],
                weight_precision="fp8" if fp8 else "fp16",
                kv_precision="fp8" if fp8 else "fp16",
                gpu=GPU_IDS[gpu_label],
                num_gpus=tp,
                tp=tp,
                pp=1,
                ep=1 if "Mixtral" not in model else "",
                input_tokens=isl,
                output_tokens=osl,
                load_kind="offline",
                load_value=TRT_NUM_REQUESTS[(isl, osl)],
                metric="output_tok_s",
                stat="value",
                value=value,
                unit="tok/s",
                per="system",
                normalization=(
                    "published trtllm-bench token throughput = output tokens/s of the whole "
                    "TP group (num_gpus GPUs); per GPU = value / num_gpus"
                ),
                notes=(
                    f"table label '{model}', exact HF checkpoint not stated; engine built by "
                    "trtllm-bench build (--quantization FP8 sets FP8 KV cache); "
                    "kv_cache_free_gpu_mem_fraction 0.95 in most runs; requests at infinite rate, "
                    "load_value = number of requests"
                ),
            )


def trtllm_v10() -> Iterator[dict[str, str]]:
    """TensorRT-LLM 1.0 trtllm-bench offline throughput (PyTorch backend), FP8 and NVFP4."""
    model = ""
    columns: list[tuple[str, int, int, str]] = []
    path = SOURCES_DIR / "trtllm_perf_overview_v1.0.md"
    for line in path.read_text().splitlines():
        if line.startswith("#### "):
            model = line[5:].strip()
            continue
        if not line.startswith("|") or re.match(r"^\|[-| :]+\|$", line):
            continue
        cs = cells(line)
        if cs[0].startswith("Sequence Length"):
            columns = []
            for head in cs[1:]:
                m = re.match(r"(\w+)<br/>TP(\d+) \((FP\d)\)", head)
                if not m:
                    raise ValueError(f"unexpected header {head!r} in {path.name}")
                columns.append((m[1], int(m[2]), 1, m[3].lower()))
            continue
        isl, osl = (int(x) for x in cs[0].split("/"))
        model_hf, moe = V10_MODELS[model]
        for (gpu_label, tp, pp, prec), cell in zip(columns, cs[1:], strict=True):
            value = number(cell)
            if value is None:
                continue
            checkpoint = model_hf.split("/")[1] + ("-FP4" if prec == "fp4" else "-FP8")
            yield row(
                source_id="trtllm-perf-overview-v1.0",
                source_url=TRT_V10_URL,
                source_title="TensorRT-LLM docs: Performance Overview (v1.0)",
                source_date="2025-09",
                engine="tensorrt-llm",
                engine_version="1.0.0",
                model_hf=model_hf,
                weight_precision=prec,
                kv_precision="unspecified",
                gpu=GPU_IDS[gpu_label],
                num_gpus=tp * pp,
                tp=tp,
                pp=pp,
                ep="" if moe else 1,
                input_tokens=isl,
                output_tokens=osl,
                load_kind="offline",
                load_value=TRT_NUM_REQUESTS[(isl, osl)],
                metric="output_tok_s",
                stat="value",
                value=value,
                unit="tok/s",
                per="system",
                normalization=(
                    "published 'Total Output Throughput (tokens/sec)' of the whole TP group "
                    "(num_gpus GPUs); per GPU = value / num_gpus"
                ),
                notes=(
                    f"checkpoint nvidia/{checkpoint} (ModelOpt); trtllm-bench throughput, "
                    "PyTorch backend, CUDA graphs with padding; kv_cache_free_gpu_mem_fraction "
                    "0.95 in many runs (0.90 or lower on out-of-memory)"
                    + (
                        "; MoE run with --ep $ep_size and attention DP, EP size not stated"
                        if moe
                        else ""
                    )
                    + "; KV dtype not stated; requests at infinite rate, load_value = number of "
                    "requests"
                ),
            )


# The page names no dataset for its 202/214 case. Those means are ShareGPT's as vLLM's
# benchmark samples it (prompts of 4-1,024 tokens and references of at least 4, 2,048 at most
# together): GPUStack's ShareGPT runs in this set average 215-219 prompt and 194-202 output
# tokens under Qwen3's, DeepSeek's and gpt-oss's tokenizers. Its bursts also finish at the
# 467/256 bursts' 16 requests a second on the 70B (39-43 against 37-40 on the 8B), which
# equal lengths 2.2x shorter could not do: a few long outputs decode at a small batch to the
# end. The rows are replayed with ShareGPT's spread of lengths around the means.
SERVING_202_214_NOTE = (
    "; dataset not named on the page: lengths 202/214 are ShareGPT's means as vLLM's "
    "benchmark samples it (GPUStack's ShareGPT runs here: 215-219 / 194-202), replayed as "
    "ShareGPT lengths"
)


def trtllm_serving_v014() -> Iterator[dict[str, str]]:
    """TensorRT-LLM 0.14 behind Triton, BF16, 500 requests at a fixed QPS (or infinite)."""
    lines = list(table_lines(SOURCES_DIR / "trtllm_serving_v0.14.md"))
    model = gpu = tp = isl = osl = ""
    for line in lines[1:]:
        cs = cells(line)
        model, gpu, tp, isl, osl = (
            new or old for new, old in zip(cs[:5], (model, gpu, tp, isl, osl), strict=True)
        )
        qps, _req_s, ttft, itl, _total, out = cs[5:11]
        if qps == "INF":
            load_kind, load_value = "offline", "500"
        else:
            load_kind, load_value = "request_rate", qps
        for metric, stat, value, unit, per, norm in (
            ("ttft_ms", "mean", ttft, "ms", "system", "published mean TTFT in ms, as is"),
            (
                "itl_ms",
                "mean",
                itl,
                "ms",
                "system",
                "published mean inter-token latency in ms, as is",
            ),
            (
                "output_tok_s",
                "value",
                out,
                "tok/s",
                "system",
                "published output token throughput of the TP group; per GPU = value / num_gpus",
            ),
        ):
            yield row(
                source_id="trtllm-perf-overview-serving-v0.14",
                source_url=TRT_V017_URL,
                source_title=(
                    "TensorRT-LLM docs: Performance Overview, Online Serving Measurements (0.14.0)"
                ),
                source_date="2024-11",
                engine="tensorrt-llm",
                engine_version="0.14.0",
                model_hf=SERVING_MODELS[model],
                weight_precision="bf16",
                kv_precision="bf16",
                gpu=GPU_IDS[gpu],
                num_gpus=tp,
                tp=tp,
                pp=1,
                ep=1,
                input_tokens=isl,
                output_tokens=osl,
                load_kind=load_kind,
                load_value=load_value,
                metric=metric,
                stat=stat,
                value=number(value),
                unit=unit,
                per=per,
                normalization=norm,
                notes=(
                    "TensorRT-LLM backend for Triton, 500 requests, BF16; QPS INF = all requests "
                    "at once (load_value = number of requests)"
                    + (SERVING_202_214_NOTE if (isl, osl) == ("202", "214") else "")
                ),
            )


TRT_PERF_V061_URL = (
    f"{TRT_REPO}/77d24b5fa178f11ed7fafdd9833b7245e075f721/docs/source/performance.md"
)
V061_MODELS = {
    "GPT-J 6B": "EleutherAI/gpt-j-6b",
    "LLaMA 7B": "meta-llama/Llama-2-7b-hf",
    "LLaMA 70B": "meta-llama/Llama-2-70b-hf",
    "Falcon 180B": "tiiuae/falcon-180B",
}
V061_GPUS = {"H100": "h100-sxm", "L40S": "l40s", "A100": "a100-80gb"}


def trtllm_v061() -> Iterator[dict[str, str]]:
    """TensorRT-LLM 0.5 / 0.6.1 static-batch tables (gptSessionBenchmark): per-GPU tok/s, TTFT."""
    gpu = version = kind = ""
    fp8 = False
    for line in (SOURCES_DIR / "trtllm_performance_v0.5_v0.6.1.md").read_text().splitlines():
        if line.startswith("### "):
            m = re.match(r"### (\w+) GPUs \((FP\d+)\) (throughput|latency) v([\d.]+)$", line)
            if not m:
                raise ValueError(f"unexpected heading {line!r}")
            gpu, fp8, kind = V061_GPUS[m[1]], m[2] == "FP8", m[3]
            version = m[4] if m[4].count(".") == 2 else m[4] + ".0"
            continue
        if not line.startswith("|") or line.startswith("| Model"):
            continue
        cs = cells(line)
        batch, tp, isl = int(cs[1]), int(cs[2]), int(cs[3])
        common = dict(
            source_id="trtllm-performance-md-v0.5-v0.6.1",
            source_url=TRT_PERF_V061_URL,
            source_title="TensorRT-LLM docs: Performance of TensorRT-LLM (v0.5 / v0.6.1 data)",
            source_date="2023-12" if version == "0.6.1" else "2023-10",
            engine="tensorrt-llm",
            engine_version=version,
            model_hf=V061_MODELS[cs[0]],
            weight_precision="fp8" if fp8 else "fp16",
            kv_precision="fp8" if fp8 else "fp16",
            gpu=gpu,
            num_gpus=tp,
            tp=tp,
            pp=1,
            ep=1,
            input_tokens=isl,
            load_kind="batch",
            load_value=batch,
            stat="value",
        )
        if kind == "throughput":
            yield row(
                **common,
                output_tokens=int(cs[4]),
                metric="output_tok_s",
                value=number(cs[5]),
                unit="tok/s",
                per="gpu",
                normalization=(
                    "published 'Throughput (out tok/s/GPU)' of a static batch (output tokens / "
                    "whole batch time / TP); system = value x num_gpus"
                ),
                notes="static batch, gptSessionBenchmark; FP8 engines with --enable_fp8 "
                "--fp8_kv_cache; GQA XQA kernels enabled where they helped",
            )
        else:
            yield row(
                **common,
                output_tokens=1,
                metric="ttft_ms",
                value=number(cs[4]),
                unit="ms",
                per="system",
                normalization="published '1st Token Latency (ms)' at batch 1, as is",
                notes="measured by running with a single output token (batch 1)",
            )
