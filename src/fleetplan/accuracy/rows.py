"""Validation rows: one published (or user-measured) number with the conditions it was taken in.

The columns are those of `benchmarks/accuracy/measurements.csv`; `fleetplan calibrate` reads
the same columns from a user's CSV. Names are catalog ids (or aliases) so that a row can be
predicted by `fleetplan.accuracy.predict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fleetplan.errors import InputError
from fleetplan.files import read_csv_records

# metric -> (unit, summary group). Groups are the three figures the accuracy report quotes.
METRICS: dict[str, tuple[str, str]] = {
    "output_tok_per_s": ("tok/s", "output tok/s"),
    "output_tok_per_s_per_gpu": ("tok/s/GPU", "output tok/s"),
    "decode_tok_per_s": ("tok/s", "output tok/s"),
    "batch_latency_s": ("s", "output tok/s"),
    "ttft_ms": ("ms", "TTFT"),
    "prefill_tok_per_s": ("tok/s", "TTFT"),
    "tpot_ms": ("ms", "TPOT"),
    # inter-token latency: every gap between two tokens of a request weighs the same, so long
    # requests weigh more than in TPOT's per-request (e2e - TTFT) / (output - 1)
    "itl_ms": ("ms", "TPOT"),
    "total_tok_per_s": ("tok/s", "output tok/s"),
}
GROUPS = ("output tok/s", "TTFT", "TPOT")
# static: a batch prefilled and decoded together; continuous: a steady closed loop of `batch`
# in flight; concurrency: a benchmark run of `requests` requests, `batch` in flight at a time;
# offline: `batch` requests queued at once; rate: an open loop at `rate_per_s` (`batch` requests)
SCHEDULES = ("static", "continuous", "concurrency", "offline", "rate")
# request lengths of a run: "fixed" (every request at the row's lengths: random datasets with
# no range, fixed-length tables) or "sharegpt" (sampled from ShareGPT conversations: they vary
# from request to request around the row's means, see `rows.row_lengths`)
LENGTHS = ("fixed", "sharegpt")
REQUIRED = ("engine", "model", "precision", "gpu", "input_len", "output_len", "batch")


@dataclass(frozen=True)
class ValidationRow:
    """One measured number. `batch` is the static batch size or the continuous concurrency."""

    row_id: str
    engine: str
    model: str
    precision: str
    gpu: str
    input_len: int
    output_len: int
    batch: int
    metric: str
    value: float
    schedule: str = "static"
    tp: int = 1
    pp: int = 1
    gpu_count: int = 1
    kv_precision: str = "auto"
    source_id: str = ""
    source_url: str = ""
    engine_version: str = ""
    trust: str = ""
    notes: str = ""
    rate_per_s: float = 0.0  # schedule "rate": arrivals per second
    requests: int = 0  # schedule "concurrency": requests sent in the run
    stat: str = "value"  # mean, median, or value (a throughput)
    gpu_gen: str = ""  # GPU generation, for the report's breakdown
    attention_dp: int = 1  # data-parallel attention groups (SGLang --enable-dp-attention)
    ep: int = 1  # expert-parallel groups (TensorRT-LLM --ep_size, vLLM --enable-expert-parallel)
    lengths: str = "fixed"  # one of LENGTHS: how the run's request lengths vary
    max_model_len: int = 0  # the run's --max-model-len (0: the model's own context window)
    # the KV cache the run set, in tokens (LMDeploy cache_max_entry_count in blocks x the block
    # length); 0: the engine's own memory split (`perf.memory.fit`)
    kv_cache_tokens: int = 0
    # the run's own KV-cache memory setting (TensorRT-LLM kv_cache_free_gpu_mem_fraction, vLLM
    # --gpu-memory-utilization), read by the engine's memory semantics; 0: the engine's default
    kv_cache_fraction: float = 0.0
    # measured by a client through the engine's own HTTP server (vllm serve, sglang
    # launch_server, trtllm-serve), whose serial work the simulator's API-server stage adds
    api_server: bool = False
    # the executor backend the launch command names (`--backend pytorch`; "": the release's
    # default), for defaults that differ by backend (EngineProfile.on_backend)
    backend: str = ""
    # the scheduler limits the launch command sets (`--max_num_tokens` / `--max-num-batched-tokens`,
    # tokens a step; `--max_batch_size` / `--max-num-seqs`, sequences at once; 0: the defaults)
    max_num_tokens: int = 0
    max_batch_size: int = 0
    # `vllm serve --async-scheduling`: the host's work between steps overlaps the GPU's
    async_scheduling: bool = False

    @property
    def group(self) -> str:
        return METRICS[self.metric][1]

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InputError(
                f"row {self.row_id}: metric {self.metric!r}; accepted: {', '.join(METRICS)}"
            )
        if self.schedule not in SCHEDULES:
            raise InputError(
                f"row {self.row_id}: schedule {self.schedule!r}; accepted: {', '.join(SCHEDULES)}"
            )
        if not self.value > 0:
            raise InputError(f"row {self.row_id}: value {self.value!r}; expected a positive number")
        if self.lengths not in LENGTHS:
            raise InputError(
                f"row {self.row_id}: lengths {self.lengths!r}; accepted: {', '.join(LENGTHS)}"
            )
        for name in (
            "input_len",
            "output_len",
            "batch",
            "tp",
            "pp",
            "gpu_count",
            "attention_dp",
            "ep",
        ):
            if getattr(self, name) < 1:
                raise InputError(f"row {self.row_id}: {name} must be a positive integer")
        if not 0.0 <= self.kv_cache_fraction <= 1.0:
            raise InputError(
                f"row {self.row_id}: kv_cache_fraction {self.kv_cache_fraction!r}; expected a "
                "fraction in (0, 1], or 0 for the engine's default"
            )


def _int(row: dict[str, str], key: str, where: str, default: int | None = None) -> int:
    text = (row.get(key) or "").strip()
    if not text and default is not None:
        return default
    try:
        return int(float(text))
    except ValueError:
        raise InputError(f"{where}: column {key} = {text!r}; expected an integer") from None


def row_from_dict(row: dict[str, str], where: str) -> ValidationRow:
    """A row from CSV-like string fields; raises InputError naming `where` on bad input."""
    missing = [k for k in (*REQUIRED, "metric", "value") if not (row.get(k) or "").strip()]
    if missing:
        raise InputError(f"{where}: missing column(s) {', '.join(missing)}")
    try:
        value = float(row["value"])
    except ValueError:
        raise InputError(f"{where}: value = {row['value']!r}; expected a number") from None
    tp = _int(row, "tp", where, 1)
    return ValidationRow(
        row_id=(row.get("row_id") or where).strip(),
        engine=row["engine"].strip(),
        model=row["model"].strip(),
        precision=row["precision"].strip(),
        gpu=row["gpu"].strip(),
        input_len=_int(row, "input_len", where),
        output_len=_int(row, "output_len", where),
        batch=_int(row, "batch", where),
        metric=row["metric"].strip(),
        value=value,
        schedule=(row.get("schedule") or "static").strip(),
        tp=tp,
        pp=_int(row, "pp", where, 1),
        gpu_count=_int(row, "gpu_count", where, tp),
        kv_precision=(row.get("kv_precision") or "auto").strip(),
        source_id=(row.get("source_id") or "").strip(),
        source_url=(row.get("source_url") or "").strip(),
        engine_version=(row.get("engine_version") or "").strip(),
        trust=(row.get("trust") or "").strip(),
        notes=(row.get("notes") or "").strip(),
        attention_dp=_int(row, "attention_dp", where, 1),
        ep=_int(row, "ep", where, 1),
        lengths=(row.get("lengths") or "fixed").strip().lower(),
        api_server=_yes(row, "api_server", where),
    )


def _yes(row: dict[str, str], key: str, where: str) -> bool:
    text = (row.get(key) or "no").strip().lower()
    if text not in ("yes", "no"):
        raise InputError(f"{where}: column {key} = {text!r}; accepted: yes, no")
    return text == "yes"


def read_rows_csv(path: Path | str, *, only_used: bool = True) -> list[ValidationRow]:
    """Rows of a CSV in the validation columns; rows whose `use` column is not 'yes' (an
    exclusion reason) are skipped when `only_used`."""
    records = read_csv_records(path, "measurements CSV")
    rows = []
    for n, rec in enumerate(records, start=2):
        use = (rec.get("use") or "yes").strip().lower()
        if only_used and use != "yes":
            continue
        rows.append(row_from_dict(rec, f"{Path(path).name}:{n}"))
    return rows


def accuracy_file(name: str) -> Path:
    """A file of the repository's benchmarks/accuracy/ folder (a source checkout)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "benchmarks" / "accuracy" / name
        if candidate.exists():
            return candidate
    raise InputError(f"benchmarks/accuracy/{name} not found (run from a source checkout)")


def validation_set_path() -> Path:
    """The repository's older validation set (benchmarks/accuracy/measurements.csv)."""
    return accuracy_file("measurements.csv")


# `vllm bench serve` (and benchmark_serving.py before it) samples ShareGPT conversations whose
# prompt has 4-1024 tokens, output at least 4 and prompt + output at most 2048
# (is_valid_sequence in https://github.com/vllm-project/vllm/blob/v0.11.0/vllm/benchmarks/datasets.py)
SHAREGPT_MIN, SHAREGPT_PROMPT_MAX, SHAREGPT_TOTAL_MAX = 4, 1024, 2048


def row_lengths(row: ValidationRow) -> dict[str, dict[str, object]]:
    """The simulator's request lengths for a row: every request at the row's lengths, or for a
    ShareGPT run lengths that vary around the row's means. ShareGPT's conversation lengths are
    long-tailed (Kwon et al., PagedAttention, https://arxiv.org/abs/2309.06180, Fig. 11); they
    are drawn here from exponentials at the row's means (a coefficient of variation of 1: the
    rows state only means), cut to the benchmark sampler's limits. The spread matters for
    latency: equal requests sent together stay in step (a closed loop of N users prefills N
    prompts back to back, then decodes them together), varying ones spread out, so a request
    rarely queues behind the prompts of all the others."""
    if row.lengths == "fixed":
        return {"input": {"mean": row.input_len}, "output": {"mean": row.output_len}}
    out_max = max(SHAREGPT_TOTAL_MAX - row.input_len, row.output_len)
    return {
        "input": {
            "mean": row.input_len,
            "dist": "exponential",
            "min": SHAREGPT_MIN,
            "max": max(SHAREGPT_PROMPT_MAX, row.input_len),
        },
        "output": {
            "mean": row.output_len,
            "dist": "exponential",
            "min": SHAREGPT_MIN,
            "max": out_max,
        },
    }
