"""Validation rows from LMDeploy's TurboMind A100 static-inference table copied into sources/."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from validation_rows_common import SOURCES_DIR, cells, number, row

LMDEPLOY_URL = (
    "https://github.com/InternLM/lmdeploy/blob/3e391df4673326f79363eebe030876861a9b7090/"
    "docs/en/benchmark/a100_fp16.md"
)


MODELS = {
    "llama2-7b": "meta-llama/Llama-2-7b-hf",
    "llama2-13b": "meta-llama/Llama-2-13b-hf",
    "llama2-70b": "meta-llama/Llama-2-70b-hf",
}
# The page runs `bash benchmark/benchmark-{7b,13b,70b}.sh`: each converts the model and sets
# config.ini's cache_max_entry_count to a number of KV blocks (TurboMind 2.x: an integer is a
# block count, a block cache_block_seq_len = 128 tokens; docs/en/inference/turbomind_config.md),
# max_batch_size and max_context_token_num 4, then runs profile_generation.py. The table's
# mem(GB) column agrees: weights + blocks (7B: 12.6 GiB + 1000 x 64 MiB = 75.1 of 76.6 GB; 13B:
# 24.2 + 500 x 100 MiB = 73.0 of 74.8; 70B TP4: 32.1 + 4000 x 10 MiB = 71.2 of 73.7 per GPU).
SCRIPTS = {
    "llama2-7b": (
        "https://github.com/InternLM/lmdeploy/blob/4818dac374874a05142ff3dbc686224cca2ba3be/"
        "benchmark/benchmark-7b.sh",
        1000,
        128,
    ),
    "llama2-13b": (
        "https://github.com/InternLM/lmdeploy/blob/05e6ef329cb77b3707b37550101550bfebf1534d/"
        "benchmark/benchmark_13b.sh",
        500,
        128,
    ),
    "llama2-70b": (
        "https://github.com/InternLM/lmdeploy/blob/05e6ef329cb77b3707b37550101550bfebf1534d/"
        "benchmark/benchmark_70b.sh",
        4000,
        256,
    ),
}
BLOCK_TOKENS = 128  # TurboMind 2.x cache_block_seq_len default
# profile_generation.py (v0.1.0): `--concurrency` threads, each sending `--test-round` (default
# 10) requests one after another; FTL averages over all of them
TEST_ROUNDS = 10
PROFILE_URL = "https://github.com/InternLM/lmdeploy/blob/v0.1.0/benchmark/profile_generation.py"


def _run_notes(label: str, batch: int) -> str:
    """What the run set and how the client sent its requests, for the row's notes."""
    url, blocks, max_batch = SCRIPTS[label]
    return (
        f"{url} sets cache_max_entry_count {blocks} (blocks of {BLOCK_TOKENS} tokens: a KV cache "
        f"of {blocks * BLOCK_TOKENS} tokens), max_batch_size {max_batch}, "
        f"max_context_token_num 4; {PROFILE_URL}: {batch} threads x {TEST_ROUNDS} rounds, "
        f"{batch * TEST_ROUNDS} requests"
    )


def _seconds_to_ms(cell: str) -> str:
    return str(Decimal(number(cell) or "0") * 1000).rstrip("0").rstrip(".")


def lmdeploy_a100_static() -> Iterator[dict[str, str]]:
    """Static batches of llama2-7b/13b (TP1) and 70b (TP4) on A100-80G: throughput, mean FTL,
    median per-token latency."""
    model = label = ""
    for line in (SOURCES_DIR / "lmdeploy_a100_fp16_v0.1.0a1.md").read_text().splitlines():
        if line.startswith("### "):
            label = line[4:].strip()
            model = MODELS[label]
            continue
        if not line.startswith("| ") or line.startswith("| batch"):
            continue
        cs = cells(line)
        batch, tp, isl, osl = cs[:4]
        common = dict(
            source_id="lmdeploy-turbomind-a100-fp16-v0.1.0a1",
            source_url=LMDEPLOY_URL,
            source_title="LMDeploy docs: Benchmark on A100 (FP16), static inference (v0.1.0a1)",
            source_date="2023-11",
            engine="lmdeploy",
            engine_version="0.1.0a1",
            model_hf=model,
            weight_precision="fp16",
            kv_precision="fp16",
            gpu="a100-80gb",
            num_gpus=tp,
            tp=tp,
            pp=1,
            ep=1,
            input_tokens=isl,
            output_tokens=osl,
            load_kind="batch",
            load_value=batch,
            per="system",
            notes="TurboMind, A100-80G (SXM or PCIe not stated), CUDA 11.8; table labels "
            "llama2-7b/13b/70b (base or chat checkpoint not stated); "
            + _run_notes(label, int(batch)),
        )
        yield row(
            **common,
            metric="output_tok_s",
            stat="value",
            value=number(cs[4]),
            unit="tok/s",
            normalization="published throughput = generated tokens / total time (prefill "
            "included) of the batch, as is",
        )
        yield row(
            **common,
            metric="ttft_ms",
            stat="mean",
            value=_seconds_to_ms(cs[6]),
            unit="ms",
            normalization="published FTL(ave) in seconds x 1000",
        )
        yield row(
            **common,
            metric="itl_ms",
            stat="median",
            value=_seconds_to_ms(cs[9]),
            unit="ms",
            normalization="published 50% per-token latency in seconds x 1000",
        )
