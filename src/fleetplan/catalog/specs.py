"""Specs: frozen dataclasses for what the catalogs hold. Built by `schema.py` from TOML.

Every spec carries `source` and `as_of`, the basis of its figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetplan.units import GIB, TERA

ARCHITECTURE_ORDER = ("turing", "ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4")


@dataclass(frozen=True)
class GpuSpec:
    """One GPU model: memory, bandwidth, dense peak throughput per format, interconnect, power."""

    id: str
    name: str
    vendor: str
    architecture: str
    form_factor: str
    memory_label: str
    memory_gib: float
    memory_bandwidth_gb_s: float
    dense_tflops: dict[str, float]  # format -> dense TFLOPS (TOPS for int8); native formats only
    native_formats: tuple[str, ...]
    interconnect: str
    interconnect_gb_s: float
    interconnect_latency_us: float
    tdp_w: float
    purchase_price_usd: float | None
    source: str
    as_of: str
    price_source: str = ""
    price_as_of: str = ""
    aliases: tuple[str, ...] = ()
    notes: str = ""
    # what `fleetplan measure` read on the user's own card: its best 16-bit GEMM and its
    # device-to-device copy as shares of this spec's dense peak and bandwidth (0: not measured),
    # and where and when (`catalog.generations.measured_scale`)
    measured_gemm_share: float = 0.0
    measured_bandwidth_share: float = 0.0
    measured: str = ""
    # datacenter, workstation or consumer (GeForce: no ECC on HBM, datacenter-use terms in the
    # driver licence); plans leave consumer cards out unless a scenario allows them
    segment: str = "datacenter"

    @property
    def memory_bytes(self) -> float:
        return self.memory_gib * GIB

    @property
    def memory_bandwidth_bytes_s(self) -> float:
        return self.memory_bandwidth_gb_s * 1e9

    def peak_flops(self, fmt: str) -> float:
        """Dense peak in FLOP/s for a native format; KeyError if the GPU has no such format."""
        return self.dense_tflops[fmt] * TERA

    def runs_natively(self, fmt: str) -> bool:
        return fmt in self.native_formats and fmt in self.dense_tflops


@dataclass(frozen=True)
class ModelSpec:
    """Architecture facts of a transformer decoder, from the catalog or a config.json."""

    id: str
    name: str
    family: str
    params_total_b: float
    params_active_b: float
    layers: int
    hidden_size: int
    intermediate_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    max_context: int
    tie_word_embeddings: bool = False
    mlp: str = "gated"
    moe_experts: int = 0
    moe_experts_per_token: int = 0
    moe_shared_experts: int = 0
    moe_intermediate_size: int = 0
    moe_dense_layers: int = 0
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    # FP8 weights scaled per 128x128 block (DeepSeek-V3/R1, config.json quantization_config
    # weight_block_size): block-scaled GEMM kernels, not per-tensor FP8 ones (`--precision fp8`)
    fp8_block_scaled: bool = False
    # the precision its published weights ship in (a catalog precision id): what a command
    # runs when its precision is "auto" (`native_precision`); "" for 16-bit weights
    checkpoint_precision: str = ""
    # a config.json quantization_config quant_method fleetplan does not model ("" otherwise):
    # precision "auto" runs such a checkpoint as bf16 and says so
    unmodelled_quantization: str = ""
    sliding_window: int = 0
    sliding_window_layers: int = 0
    # a learned logit per attention head that every query also attends to (gpt-oss): an engine
    # runs it only through kernels that support it (perf.kernels.prefill_kv_reread)
    attention_sinks: bool = False
    source: str = ""
    as_of: str = ""
    hf_id: str = ""
    serve_model: str = ""  # the HF id deployment files serve (the instruct variant), or ""
    aliases: tuple[str, ...] = ()
    notes: str = ""

    @property
    def is_moe(self) -> bool:
        return self.moe_experts > 0

    @property
    def native_precision(self) -> str:
        """The precision its weights ship in: `checkpoint_precision`, bf16 when 16-bit."""
        return self.checkpoint_precision or "bf16"

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def queries_per_kv_head(self) -> int:
        """Query heads sharing one KV head (the GQA group; 1 for multi-head attention)."""
        return max(self.attention_heads // max(self.kv_heads, 1), 1)

    @property
    def moe_layers(self) -> int:
        return self.layers - self.moe_dense_layers if self.is_moe else 0


@dataclass(frozen=True)
class Precision:
    """A weight format: effective bits per parameter (scales included) and how matmuls run."""

    id: str
    name: str
    weight_bits: float
    compute_format: str  # the tensor-core format matmuls run in when the GPU supports it
    emulated_compute_format: str  # 16-bit fallback where an engine dequantizes (W8A16, W4A16)
    emulated_on: tuple[str, ...]  # architectures where the engine runs it by dequantizing
    quantizes_embeddings: bool
    engines: tuple[str, ...]
    vllm_quantization: str
    quality_note: str
    source: str
    aliases: tuple[str, ...] = ()
    notes: str = ""
    # only a MoE model's routed experts take this format; attention, dense MLPs, shared
    # experts and routers stay 16-bit (vLLM's MXFP4 quantizes FusedMoE layers only)
    experts_only: bool = False
    # weights scaled per 128x128 block (the publisher's FP8 checkpoints of DeepSeek-V3/R1 and
    # Qwen3): block-scaled GEMM kernels, not per-tensor ones (perf.kernels.block_fp8_gemm_scale)
    block_scaled: bool = False

    @property
    def weight_bytes_per_param(self) -> float:
        return self.weight_bits / 8.0


@dataclass(frozen=True)
class Offer:
    """One way to rent a GPU as the provider sells it: an instance type of `gpus_per_instance`
    GPUs at `usd_per_instance_hour`, under one pricing model, in some regions.

    `usd_per_gpu_hour` is the per-GPU equivalent (instance price / GPUs per instance), kept for
    figures quoted per GPU-hour; plans buy whole instances (`instance_for`)."""

    provider: str
    gpu: str
    pricing: str
    usd_per_gpu_hour: float  # per-GPU equivalent: point price, or the midpoint of a range
    usd_per_gpu_hour_low: float
    usd_per_gpu_hour_high: float
    source: str
    as_of: str
    instance_type: str = ""
    gpus_per_instance: int = 1
    regions: tuple[str, ...] = ()
    notes: str = ""
    billing: str = "per-hour"  # per-second, per-minute, per-hour or monthly
    interconnect: str = ""  # nvlink, pcie, infinity-fabric (empty: not stated)
    tier: str = "secure"  # secure, community, marketplace or serverless
    gpu_counts: tuple[int, ...] = ()  # sizes also sold at the same per-GPU price (1, 2, 4, 8)

    @property
    def is_range(self) -> bool:
        return self.usd_per_gpu_hour_low != self.usd_per_gpu_hour_high

    @property
    def usd_per_instance_hour(self) -> float:
        return self.usd_per_gpu_hour * self.gpus_per_instance

    @property
    def region(self) -> str:
        return ", ".join(self.regions)

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.gpu}/{self.pricing}"

    def instance_for(self, tp: int) -> tuple[int, int] | None:
        """(GPUs in the instance bought, replicas of `tp` GPUs packed on one) — the smallest
        size sold that holds one replica — or None when no size holds one (tensor parallelism
        across instances is not planned)."""
        sizes = sorted({self.gpus_per_instance, *self.gpu_counts})
        for size in sizes:
            if size >= tp:
                return size, size // tp
        return None
