"""Validation rows from dstack's DeepSeek-R1 MI300X/H200 raw result CSVs copied into sources/."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from validation_rows_common import SOURCES_DIR, number, row

DSTACK_BLOB = "https://github.com/dstackai/benchmarks/blob/7f37e6697725e58dd09b9ef190b62ce19f01d45e"
DSTACK_README = (
    "https://github.com/dstackai/benchmarks/blob/209ca6f9c2f940314362d3e8dab59bf129a1a9a9/"
    "Deepseek-R1/README.md"
)
# Engine versions and launch settings from the README's environment and dstack task sections.
DSTACK_ENGINES = {
    ("mi300x", "vllm"): (
        "vllm",
        "0.7.3.dev138+g21f6ca217",
        1,
        "vllm serve --tensor-parallel-size 8 --trust-remote-code --max-model-len 32768",
    ),
    ("h200", "vllm"): (
        "vllm",
        "0.7.4.dev181+gf35f8e22",
        1,
        "vllm serve --tensor-parallel-size 8, VLLM_ATTENTION_BACKEND=FLASHMLA",
    ),
    ("mi300x", "sglang"): ("sglang", "0.4.2.post4", 1, "sglang.launch_server --tp 8"),
    ("h200", "sglang"): (
        "sglang",
        "0.4.3.post2",
        1,
        "sglang.launch_server --tp 8 --enable-dp-attention",
    ),
    ("h200", "trt-llm"): (
        "tensorrt-llm",
        "0.17.post1.dev",
        4,
        "trtllm-serve --backend pytorch --tp_size 8 --ep_size 4 --pp_size 1 --max_batch_size 512 "
        "--max_num_tokens 16384 --max_seq_len 16384",
    ),
}
DSTACK_ONLINE_METRICS = (
    ("output_throughput", "output_tok_s", "value", "tok/s"),
    ("mean_ttft_ms", "ttft_ms", "mean", "ms"),
    ("median_ttft_ms", "ttft_ms", "median", "ms"),
    ("mean_tpot_ms", "tpot_ms", "mean", "ms"),
    ("median_tpot_ms", "tpot_ms", "median", "ms"),
    ("mean_itl_ms", "itl_ms", "mean", "ms"),
    ("mean_e2e_latency_ms", "e2e_ms", "mean", "ms"),
)
DSTACK_NORM = {
    "output_tok_s": "published output_throughput of the 8-GPU server; per GPU = value / 8",
    "total_tok_s": "published tokens_per_second = (input + output tokens) / elapsed of the 8-GPU "
    "engine; per GPU = value / 8",
}


# The offline runs: vLLM's benchmark_throughput.py (its LLM class, or SGLang's engine for
# --backend sglang) in-process, not the servers above (no --enable-dp-attention)
DSTACK_OFFLINE = (
    "benchmark_throughput.py --backend {backend} --tensor-parallel-size=8 --max-model-len=32768"
)


def _dstack_common(gpu: str, backend: str, offline: bool = False) -> dict[str, object]:
    engine, version, ep, launch = DSTACK_ENGINES[(gpu, backend)]
    if offline:
        launch = DSTACK_OFFLINE.format(backend=backend)
    return dict(
        source_title="dstack: DeepSeek R1 inference performance: MI300X vs. H200 (raw data)",
        source_date="2025-03",
        engine=engine,
        engine_version=version,
        model_hf="deepseek-ai/DeepSeek-R1",
        weight_precision="fp8",
        kv_precision="bf16",
        gpu=gpu,
        num_gpus=8,
        tp=8,
        pp=1,
        ep=ep,
        notes=(
            f"{launch}; no KV dtype flag (engine default = model dtype); versions from "
            f"{DSTACK_README}"
        ),
    )


def dstack_online() -> Iterator[dict[str, str]]:
    """SGLang bench_serving runs at fixed concurrency, 500 requests of 3200 in / fixed out."""
    with (SOURCES_DIR / "dstack_deepseek_r1_online_results.csv").open(newline="") as fh:
        for rec in csv.DictReader(fh):
            if rec["dataset_name"] != "random":  # shared-prefix runs depend on prefix caching
                continue
            assert rec["random_range_ratio"] == "1"  # fixed lengths
            common = _dstack_common(rec["GPU"], rec["backend"])
            common["notes"] = f"{rec['completed']} requests; " + str(common["notes"])
            for col, metric, stat, unit in DSTACK_ONLINE_METRICS:
                yield row(
                    source_id="dstack-deepseek-r1-mi300x-h200",
                    source_url=f"{DSTACK_BLOB}/Deepseek-R1/raw_data/online_results.csv",
                    **common,
                    input_tokens=rec["random_input_len"],
                    output_tokens=rec["random_output_len"],
                    load_kind="concurrency",
                    load_value=rec["max_concurrency"],
                    metric=metric,
                    stat=stat,
                    value=number(rec[col]),
                    unit=unit,
                    per="system",
                    normalization=DSTACK_NORM.get(metric, f"published {col}, as is"),
                )


def dstack_offline() -> Iterator[dict[str, str]]:
    """vLLM benchmark_throughput (also driving SGLang): all requests at once, total tok/s."""
    with (SOURCES_DIR / "dstack_deepseek_r1_offline_results.csv").open(newline="") as fh:
        for rec in csv.DictReader(fh):
            gpu = {"mi300": "mi300x", "h200": "h200"}[rec["GPU"]]
            if rec["backend"] == "trt-llm":  # engine built from an unversioned 'deepseek' branch
                continue
            common = _dstack_common(gpu, rec["backend"], offline=True)
            yield row(
                source_id="dstack-deepseek-r1-mi300x-h200",
                source_url=f"{DSTACK_BLOB}/Deepseek-R1/raw_data/offline_results.csv",
                **common,
                input_tokens=rec["input_len"],
                output_tokens=rec["output_len"],
                load_kind="offline",
                load_value=rec["num_requests"],
                metric="total_tok_s",
                stat="value",
                value=number(rec["tokens_per_second"]),
                unit="tok/s",
                per="system",
                normalization=DSTACK_NORM["total_tok_s"],
            )


MI300X_BLOB = "https://github.com/dstackai/benchmarks/blob/ac24b9d12d571bc785ec86ab18e4ffbf34e68f08"
MI300X_README = (
    "https://github.com/dstackai/benchmarks/blob/64fd53a7835c7bc3f2b996a8125331925ca42e60/"
    "amd/tgi_vs_vllm/README.md"
)
MI300X_METRICS = (
    ("Output token throughput (tok/s)", "output_tok_s", "value", "tok/s"),
    ("Total Token throughput (tok/s)", "total_tok_s", "value", "tok/s"),
    ("Mean TTFT (ms)", "ttft_ms", "mean", "ms"),
    ("Mean TPOT (ms)", "tpot_ms", "mean", "ms"),
    ("Mean ITL (ms)", "itl_ms", "mean", "ms"),
)


def dstack_mi300x_405b() -> Iterator[dict[str, str]]:
    """vLLM 0.6.3.dev on 8x MI300X, Llama 3.1 405B BF16: N sonnet prompts sent at once."""
    for name, remote in (("short", "result_vllm_short.csv"), ("long", "result_vllm_long.csv")):
        path = SOURCES_DIR / f"dstack_mi300x_vllm_405b_{name}.csv"
        with path.open(newline="") as fh:
            for rec in csv.DictReader(fh):
                n = int(rec["Successful requests"])
                for col, metric, stat, unit in MI300X_METRICS:
                    yield row(
                        source_id="dstack-mi300x-vllm-llama31-405b",
                        source_url=f"{MI300X_BLOB}/amd/tgi_vs_vllm/vllm/data/{remote}",
                        source_title="dstack: Benchmarking TGI vs vLLM on 8x MI300X with "
                        "Llama 3.1 405B (raw vLLM data)",
                        source_date="2024-10",
                        engine="vllm",
                        engine_version="0.6.3.dev116+g151ef4ef",
                        model_hf="meta-llama/Llama-3.1-405B-Instruct",
                        weight_precision="bf16",
                        kv_precision="bf16",
                        gpu="mi300x",
                        num_gpus=8,
                        tp=8,
                        pp=1,
                        ep=1,
                        input_tokens=round(int(rec["Total input tokens"]) / n),
                        output_tokens=round(int(rec["Total generated tokens"]) / n),
                        load_kind="offline",
                        load_value=n,
                        metric=metric,
                        stat=stat,
                        value=number(rec[col]),
                        unit=unit,
                        per="system",
                        normalization=f"published '{col}' of the 8-GPU server, as is",
                        notes=f"{n} requests of the sonnet dataset sent at once "
                        "(benchmark_serving, request rate inf, streamed; outputs end at EOS "
                        "under the script's 150-token cap); lengths are the run's "
                        "means; vllm serve --tensor-parallel-size=8 "
                        "--disable-frontend-multiprocessing, no --max-model-len: at Llama "
                        "3.1's 131,072-token window vLLM 0.6 turns chunked prefill on by "
                        "itself, 512 tokens a step (engines.toml vllm-v0 "
                        f"long_context_chunk_tokens); version from {MI300X_README}",
                    )
