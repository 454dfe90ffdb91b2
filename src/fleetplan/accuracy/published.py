"""The published validation set (`benchmarks/accuracy/validation.csv`) as predictable rows.

Its columns: row_id, source_id, source_url, source_title, source_date, engine, engine_version,
model_hf, weight_precision, kv_precision, gpu, num_gpus, tp, pp, ep, input_tokens,
output_tokens, load_kind (offline | batch | concurrency | request_rate), load_value, metric
(output_tok_s, total_tok_s, ttft_ms, tpot_ms, itl_ms, e2e_ms, request_s), stat, value, unit,
per (gpu | tp_group | system), normalization, notes.

Each row becomes a `ValidationRow` with catalog ids (a row whose notes name ShareGPT as its
dataset is replayed with request lengths that vary around its means), or is left out with the
reason (a model or GPU the catalog lacks, pipeline parallelism, a metric the model does not
predict).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from fleetplan.accuracy.rows import ValidationRow, accuracy_file
from fleetplan.catalog import Catalog
from fleetplan.catalog.specs import ModelSpec
from fleetplan.errors import FleetplanError, InputError
from fleetplan.files import read_csv_records
from fleetplan.perf.expert_parallel import check_ep

METRIC = {
    "output_tok_s": "output_tok_per_s",
    "total_tok_s": "total_tok_per_s",
    "ttft_ms": "ttft_ms",
    "tpot_ms": "tpot_ms",
    "itl_ms": "itl_ms",  # inter-token latency: over every gap, not per request (TPOT)
}
SCHEDULE = {"offline": "offline", "batch": "static", "concurrency": "concurrency"}
_DP_SIZE = re.compile(r"--dp(?:-size)?[ =](\d+)")
_MAJOR_MINOR = re.compile(r"(\d+)\.(\d+)")
# the engines' own OpenAI-compatible servers as a run's launch command names them (the row's
# notes), or the benchmark client that only talks to such a server: `vllm bench serve` sends
# its requests to a running server's HTTP endpoint (https://docs.vllm.ai/en/latest/cli/bench/serve.html),
# whichever engine serves them and however the notes abbreviate its launch command; a run
# through another server (Triton's TensorRT-LLM backend) or none (trtllm-bench, offline
# throughput scripts, static batches) has no API-server stage
_API_SERVER = re.compile(r"vllm serve|vllm bench serve|sglang\.launch_server|trtllm-serve")


@dataclass
class PublishedSet:
    rows: list[ValidationRow] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row_id, reason)


def _kv(rec: dict[str, str]) -> str:
    """KV dtype: as stated; 'unspecified' follows the checkpoint (FP8/FP4 recipes of
    TensorRT-LLM quantize the KV cache to FP8 too, others keep it 16-bit)."""
    kv = rec["kv_precision"].strip().lower()
    if kv in ("bf16", "fp16"):
        return "auto"
    if kv == "fp8":
        return "fp8"
    quantized = rec["weight_precision"].strip().lower() in ("fp8", "fp8-block", "fp4")
    return "fp8" if quantized and rec["engine"].strip() == "tensorrt-llm" else "auto"


_MAX_MODEL_LEN = re.compile(r"--max-model-len[ =](\d+)")
_KV_CACHE = re.compile(r"KV cache of (\d+) tokens")
# the executor backend a TensorRT-LLM launch command names (not a benchmark client's --backend,
# which names the server it talks to)
_BACKEND = re.compile(r"trtllm-(?:serve|bench)[^;]*?--backend[ =]([A-Za-z_]+)")


# the scheduler limits a launch command sets, as each engine's server spells them: tokens a step
# (trtllm-serve / trtllm-bench `--max_num_tokens`, `vllm serve --max-num-batched-tokens`) and
# sequences at once (`--max_batch_size`, `--max-num-seqs`)
_LIMIT_FLAGS = {
    "max_num_tokens": (
        ("trtllm-(?:serve|bench)", "max_num_tokens"),
        ("vllm serve", "max-num-batched-tokens"),
    ),
    "max_batch_size": (
        ("trtllm-(?:serve|bench)", "max_batch_size"),
        ("vllm serve", "max-num-seqs"),
    ),
}
# vLLM's --async-scheduling: the scheduler runs a step ahead of the GPU
_ASYNC_SCHEDULING = re.compile(r"vllm serve[^;]*?--async-scheduling\b")


def launch_limit(command: str, flag: str) -> int:
    """A scheduler limit the run's launch command sets (`flag`: "max_num_tokens", tokens a step;
    "max_batch_size", sequences at once), in TensorRT-LLM's spelling or vLLM's; 0 where it sets
    none (the release's default: 8,192 and 2,048 for trtllm-serve,
    https://nvidia.github.io/TensorRT-LLM/commands/trtllm-serve/trtllm-serve.html; vLLM's by GPU,
    `EngineProfile.for_gpu`)."""
    for server, spelled in _LIMIT_FLAGS[flag]:
        found = re.search(rf"{server}[^;]*?--{spelled}[ =](\d+)", command)
        if found:
            return int(found.group(1))
    return 0


def async_scheduling(command: str) -> bool:
    """Whether the run's `vllm serve` command turns async scheduling on: the scheduler works out
    the next step while the GPU runs this one (vLLM 0.10, https://github.com/vllm-project/vllm/pull/19970),
    and the model runner's input preparation and sampling overlap it too since
    https://github.com/vllm-project/vllm/pull/23569 (merged 2025-08-25), so the host's time
    between steps (`step_overhead_ms`) no longer adds to them."""
    return bool(_ASYNC_SCHEDULING.search(command))


def launch_backend(command: str) -> str:
    """The executor backend a TensorRT-LLM launch command names (`trtllm-serve --backend
    pytorch`), lower case; "" where it names none (the release's default backend)."""
    found = _BACKEND.search(command)
    return found.group(1).lower() if found else ""


_KV_FRACTION = re.compile(
    r"(?:kv_cache_free_gpu_mem_fraction|--gpu-memory-utilization)[ =]((?:0?\.\d+)|1(?:\.0*)?)\b"
)


def max_model_len(command: str) -> int:
    """The run's --max-model-len from its launch command (the row's notes), 0 if not given:
    vLLM sizes its scheduler by it (V0 without chunked prefill batches prompts up to it)."""
    found = _MAX_MODEL_LEN.search(command)
    return int(found.group(1)) if found else 0


def kv_cache_tokens(notes: str) -> int:
    """The KV cache a run set for itself, in tokens, as its notes state it ('a KV cache of N
    tokens'), 0 if they do not: the engine then splits the memory itself."""
    found = _KV_CACHE.search(notes)
    return int(found.group(1)) if found else 0


def kv_cache_fraction(command: str) -> float:
    """The run's KV-cache memory setting from its command (the row's notes), 0 if not given:
    TensorRT-LLM's kv_cache_free_gpu_mem_fraction (a share of the memory free after weights and
    activations) or vLLM's --gpu-memory-utilization (a share of the GPU's memory); the engine's
    memory semantics (perf.memory.fit) read it as they read their default. TensorRT-LLM's perf
    overview pages ran trtllm-bench with 0.95 'in majority of cases' (0.17) / 'in many cases'
    (1.0), falling back to 0.90 on an out-of-memory error
    (https://github.com/NVIDIA/TensorRT-LLM/blob/258c7540c03517def55d9a5aadfa9288af474e1b/docs/source/performance/perf-overview.md,
    https://github.com/NVIDIA/TensorRT-LLM/blob/00f37686aa854010d68bcbd0f4ab000221541ca6/docs/source/performance/perf-overview.md)."""
    found = _KV_FRACTION.search(command)
    return float(found.group(1)) if found else 0.0


def attention_dp(engine: str, version: str, command: str, tp: int) -> int:
    """Data-parallel attention groups of a run, from its launch command (the row's notes).

    TensorRT-LLM's enable_attention_dp makes every GPU of the tp group an attention rank of its
    own ("attention_dp_size = tensor_parallel_size", each rank with its own KV cache,
    https://docs.nvidia.com/dynamo/additional-resources/tensor-rt-llm-details/dp-rank-routing):
    a row whose notes say it ran with attention DP gets tp groups (the v1.0 perf overview runs
    its MoE models so: `trtllm-bench --tp $tp_size --ep $ep_size ...` with
    `enable_attention_dp: true`).

    SGLang's --enable-dp-attention: the 0.4 releases set the DP size to the TP size themselves
    (server_args: `if self.enable_dp_attention: self.dp_size = self.tp_size`; "we've
    automatically done this", https://github.com/sgl-project/sglang/issues/3359); later
    releases take it from --dp-size, whose default 1 turns DP attention off
    (server_args._handle_data_parallelism: `if self.dp_size == 1: self.enable_dp_attention =
    False`)."""
    if engine == "tensorrt-llm":
        return tp if "attention dp" in command.lower() else 1
    if engine != "sglang" or "--enable-dp-attention" not in command:
        return 1
    given = _DP_SIZE.search(command)
    if given:
        return int(given.group(1))
    ver = _MAJOR_MINOR.search(version)
    return tp if ver and (int(ver.group(1)), int(ver.group(2))) < (0, 5) else 1


def _unstated_ep(model: ModelSpec, engine: str, notes: str, tp: int, dp: int) -> int:
    """Expert-parallel groups of a row whose `ep` column is empty: 1 (experts tensor-parallel),
    except a TensorRT-LLM run with attention DP launched with `--ep $ep_size` (the size not
    stated): each attention rank then holds whole experts, ep = tp (TensorRT-LLM requires
    moe_tp_size x moe_ep_size = tp; attention DP leaves no tensor-parallel attention to align the
    experts' split with), where tp divides the routed experts."""
    if engine != "tensorrt-llm" or dp <= 1 or "--ep" not in notes or not model.is_moe:
        return 1
    return tp if model.moe_experts % tp == 0 else 1


def _row(rec: dict[str, str], catalog: Catalog) -> ValidationRow:
    rid = rec["row_id"].strip()
    metric = METRIC.get(rec["metric"].strip())
    if metric is None:
        raise ValueError(f"metric {rec['metric']} is not predicted")
    per = rec["per"].strip()
    if per == "gpu" and metric == "output_tok_per_s":
        metric = "output_tok_per_s_per_gpu"  # the whole replica's rate over its GPUs
    elif per == "gpu" and metric not in ("ttft_ms", "tpot_ms", "itl_ms"):
        raise ValueError(f"metric {rec['metric']} per GPU is not predicted")
    if int(rec["pp"] or 1) > 1:
        raise ValueError("pipeline parallelism (pp > 1) is not modelled")
    try:
        model = catalog.model(rec["model_hf"]).id
        gpu = catalog.gpu(rec["gpu"])
        precision = catalog.precision(rec["weight_precision"]).id
    except FleetplanError as exc:
        raise ValueError(f"not in the catalog: {exc}") from None
    kind = rec["load_kind"].strip()
    load = float(rec["load_value"])
    schedule, rate, batch = SCHEDULE.get(kind, "rate"), 0.0, int(load)
    sent = re.search(r"(\d+) requests", rec["notes"])
    requests = int(sent.group(1)) if sent else 0
    if kind == "request_rate":
        rate = load
        if not requests:
            raise ValueError("request-rate row does not say how many requests were sent")
        batch = requests
    if kind == "concurrency" and not requests:
        requests = 20 * batch  # runs of a few minutes: the steady state dominates
    num = int(rec["num_gpus"] or 1)
    tp = int(rec["tp"] or 1)
    engine, version = rec["engine"].strip(), rec["engine_version"].strip()
    dp = attention_dp(engine, version, rec["notes"], tp)
    ep = int(rec["ep"] or 0) or _unstated_ep(catalog.model(model), engine, rec["notes"], tp, dp)
    check_ep(catalog.model(model), tp, ep)
    return ValidationRow(
        row_id=rid,
        engine=engine,
        model=model,
        precision=precision,
        gpu=gpu.id,
        input_len=max(round(float(rec["input_tokens"])), 1),
        output_len=max(round(float(rec["output_tokens"])), 1),
        batch=max(batch, 1),
        metric=metric,
        value=float(rec["value"]),
        schedule=schedule,
        tp=tp,
        gpu_count=num,
        kv_precision=_kv(rec),
        source_id=rec["source_id"].strip(),
        source_url=rec["source_url"].strip(),
        engine_version=version,
        notes=rec["notes"].strip(),
        rate_per_s=rate,
        requests=requests,
        stat=rec["stat"].strip(),
        gpu_gen=gpu.architecture,
        attention_dp=dp,
        ep=ep,
        lengths="sharegpt" if "sharegpt" in rec["notes"].lower() else "fixed",
        max_model_len=max_model_len(rec["notes"]),
        kv_cache_tokens=kv_cache_tokens(rec["notes"]),
        kv_cache_fraction=kv_cache_fraction(rec["notes"]),
        api_server=schedule != "static" and bool(_API_SERVER.search(rec["notes"])),
        backend=launch_backend(rec["notes"]),
        max_num_tokens=launch_limit(rec["notes"], "max_num_tokens"),
        max_batch_size=launch_limit(rec["notes"], "max_batch_size"),
        async_scheduling=async_scheduling(rec["notes"]),
    )


def read_published(path: Path | str, catalog: Catalog) -> PublishedSet:
    """Every row of the published set that the model can predict, and why the others cannot."""
    records = read_csv_records(path, "validation CSV")
    out = PublishedSet()
    for rec in records:
        try:
            out.rows.append(_row(rec, catalog))
        except (ValueError, InputError) as exc:
            out.skipped.append((rec.get("row_id", "?"), str(exc)))
    return out


def published_set_path() -> Path:
    """The repository's published validation set (benchmarks/accuracy/validation.csv)."""
    return accuracy_file("validation.csv")
