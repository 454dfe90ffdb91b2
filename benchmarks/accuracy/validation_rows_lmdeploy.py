"""Validation rows from LMDeploy's TurboMind A100 static-inference table copied into sources/."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from validation_rows_common import SOURCES_DIR, cells, number, row, table_lines

LMDEPLOY_URL = (
    "https://github.com/InternLM/lmdeploy/blob/f44ba31cece50e28208c337238d9f903a4f66751/"
    "docs/en/benchmark/a100_fp16.md"
)


def _seconds_to_ms(cell: str) -> str:
    return str(Decimal(number(cell) or "0") * 1000).rstrip("0").rstrip(".")


def lmdeploy_a100_static() -> Iterator[dict[str, str]]:
    """Static batches of llama2-7b on one A100-80G: throughput, mean FTL, median per-token."""
    lines = list(table_lines(SOURCES_DIR / "lmdeploy_a100_fp16_v0.2.0.md"))
    for line in lines[1:]:
        cs = cells(line)
        batch, tp, isl, osl = cs[:4]
        common = dict(
            source_id="lmdeploy-turbomind-a100-fp16-v0.2.0",
            source_url=LMDEPLOY_URL,
            source_title="LMDeploy docs: TurboMind Benchmark on A100 (static inference, FP16)",
            source_date="2024-01",
            engine="lmdeploy",
            engine_version="0.2.0",
            model_hf="meta-llama/Llama-2-7b-hf",
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
            notes="TurboMind, A100-80G (SXM or PCIe not stated), CUDA 11.8; table label "
            "'llama2-7b' (base or chat checkpoint not stated)",
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
