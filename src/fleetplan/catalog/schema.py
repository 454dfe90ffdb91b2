"""Pydantic schemas for catalog entries (packaged TOML and users' override files).

Unknown fields are rejected, and every bad value gets a message that names the entry, the field,
the value and what is accepted. Valid entries become the frozen specs of `specs.py` (an engine
family's entry, in `engine_schema.py`, becomes an `engine_profile.EngineProfile`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from fleetplan.catalog.specs import GpuSpec, ModelSpec, Offer, Precision
from fleetplan.validation import Count, PositiveUsd, hf_repo_id, validate_mapping

FORMATS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4")
PRICING_MODELS = (
    "on-demand",
    "spot",
    "reserved-1y",
    "reserved-3y",
    "savings-plan-1y",
    "savings-plan-3y",
)
PRICING_LITERAL = Literal[PRICING_MODELS]  # type: ignore[valid-type]

Positive = Field(gt=0)
# a release number ("0.4.3"; "": unbounded / unset)
VERSION_PATTERN = r"^(\d+(\.\d+)*)?$"
MAX_SIZE = 100_000_000  # no layer count, width, vocabulary or context is larger


class _Entry(BaseModel):
    # finite and strict: a "20" string is not 20, inf and NaN are never a figure
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, strict=True, defer_build=True
    )


class GpuEntry(_Entry):
    name: str
    aliases: list[str] = []
    vendor: Literal["nvidia", "amd", "intel"]
    architecture: Literal["turing", "ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4"]
    form_factor: Literal["sxm", "pcie", "oam", "nvl"] = "pcie"
    segment: Literal["datacenter", "workstation", "consumer"] = "datacenter"
    memory_label: str = ""
    memory_gib: float = Field(gt=0)
    memory_bandwidth_gb_s: float = Field(gt=0)
    dense_tflops_fp32: float | None = Field(default=None, gt=0)
    dense_tflops_tf32: float | None = Field(default=None, gt=0)
    dense_tflops_bf16: float | None = Field(default=None, gt=0)
    dense_tflops_fp16: float | None = Field(default=None, gt=0)
    dense_tflops_fp8: float | None = Field(default=None, gt=0)
    dense_tops_int8: float | None = Field(default=None, gt=0)
    dense_tflops_fp4: float | None = Field(default=None, gt=0)
    native_formats: list[Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"]]
    interconnect: Literal["nvlink", "pcie", "infinity-fabric"]
    interconnect_gb_s: float = Field(gt=0)
    interconnect_latency_us: float = Field(default=5.0, ge=0)
    pcie_gen: int | None = None
    tdp_w: float = Field(gt=0)
    purchase_price_usd: PositiveUsd | None = None  # at most $1e12, as every price
    price_source: str = ""
    price_as_of: str = ""
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)
    notes: str = ""
    measured_gemm_share: float = Field(default=0.0, ge=0, le=1)
    measured_bandwidth_share: float = Field(default=0.0, ge=0, le=1)
    measured: str = ""

    @model_validator(mode="after")
    def _native_formats_have_figures(self) -> GpuEntry:
        for fmt in self.native_formats:
            if self._figure(fmt) is None:
                raise ValueError(
                    f"native format {fmt!r} is listed but its dense figure "
                    f"({_figure_key(fmt)}) is missing"
                )
        return self

    def _figure(self, fmt: str) -> float | None:
        return getattr(self, _figure_key(fmt))

    def to_spec(self, gpu_id: str) -> GpuSpec:
        dense = {f: v for f in FORMATS if (v := self._figure(f)) is not None}
        return GpuSpec(
            id=gpu_id,
            name=self.name,
            vendor=self.vendor,
            architecture=self.architecture,
            form_factor=self.form_factor,
            segment=self.segment,
            memory_label=self.memory_label,
            memory_gib=self.memory_gib,
            memory_bandwidth_gb_s=self.memory_bandwidth_gb_s,
            dense_tflops=dense,
            native_formats=tuple(self.native_formats),
            interconnect=self.interconnect,
            interconnect_gb_s=self.interconnect_gb_s,
            interconnect_latency_us=self.interconnect_latency_us,
            tdp_w=self.tdp_w,
            purchase_price_usd=self.purchase_price_usd,
            source=self.source,
            as_of=self.as_of,
            price_source=self.price_source,
            price_as_of=self.price_as_of,
            aliases=tuple(a.lower() for a in self.aliases),
            notes=self.notes,
            measured_gemm_share=self.measured_gemm_share,
            measured_bandwidth_share=self.measured_bandwidth_share,
            measured=self.measured,
        )


def _figure_key(fmt: str) -> str:
    return "dense_tops_int8" if fmt == "int8" else f"dense_tflops_{fmt}"


class ModelEntry(_Entry):
    name: str
    aliases: list[str] = []
    hf_id: str = ""
    serve_model: str = ""

    @field_validator("serve_model")
    @classmethod
    def _serve_model_is_hf_id(cls, v: str) -> str:
        return hf_repo_id(v) if v else v

    family: str = ""
    params_total_b: float = Field(gt=0)
    params_active_b: float = Field(gt=0)
    layers: int = Field(gt=0, le=MAX_SIZE)
    hidden_size: int = Field(gt=0, le=MAX_SIZE)
    intermediate_size: int = Field(gt=0, le=MAX_SIZE)
    attention_heads: int = Field(gt=0, le=MAX_SIZE)
    kv_heads: int = Field(gt=0, le=MAX_SIZE)
    head_dim: int = Field(gt=0, le=MAX_SIZE)
    vocab_size: int = Field(gt=0, le=MAX_SIZE)
    tie_word_embeddings: bool = False
    max_context: int = Field(gt=0, le=MAX_SIZE)
    mlp: Literal["gated", "plain"] = "gated"
    moe_experts: int = Field(default=0, ge=0)
    moe_experts_per_token: int = Field(default=0, ge=0)
    moe_shared_experts: int = Field(default=0, ge=0)
    moe_intermediate_size: int = Field(default=0, ge=0)
    moe_dense_layers: int = Field(default=0, ge=0)
    kv_lora_rank: int = Field(default=0, ge=0)
    q_lora_rank: int = Field(default=0, ge=0)
    qk_rope_head_dim: int = Field(default=0, ge=0)
    qk_nope_head_dim: int = Field(default=0, ge=0)
    v_head_dim: int = Field(default=0, ge=0)
    fp8_block_scaled: bool = False
    checkpoint_precision: str = ""
    sliding_window: int = Field(default=0, ge=0)
    sliding_window_layers: int = Field(default=0, ge=0)
    attention_sinks: bool = False
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        if self.params_active_b > self.params_total_b:
            raise ValueError("params_active_b exceeds params_total_b")
        if self.attention_heads % self.kv_heads:
            raise ValueError("attention_heads must be a multiple of kv_heads")
        if self.moe_experts and not (0 < self.moe_experts_per_token <= self.moe_experts):
            raise ValueError("moe_experts_per_token must be between 1 and moe_experts")
        if self.sliding_window_layers > self.layers:
            raise ValueError("sliding_window_layers exceeds layers")
        return self

    def to_spec(self, model_id: str) -> ModelSpec:
        data = self.model_dump(exclude={"aliases"})
        return ModelSpec(id=model_id, aliases=tuple(a.lower() for a in self.aliases), **data)


class PrecisionEntry(_Entry):
    name: str
    aliases: list[str] = []
    weight_bits: float = Field(gt=0, le=32)
    compute_format: Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4"]
    emulated_compute_format: Literal["", "bf16", "fp16"] = ""
    emulated_on: list[str] = []
    quantizes_embeddings: bool = False
    experts_only: bool = False
    block_scaled: bool = False
    engines: list[str]
    vllm_quantization: str = ""
    quality_note: str = ""
    source: str = Field(min_length=1)
    notes: str = ""

    def to_spec(self, precision_id: str) -> Precision:
        data = self.model_dump(exclude={"aliases", "emulated_on", "engines"})
        return Precision(
            id=precision_id,
            aliases=tuple(a.lower() for a in self.aliases),
            emulated_on=tuple(self.emulated_on),
            engines=tuple(self.engines),
            **data,
        )


Fraction = Field(gt=0, le=1)


class OfferEntry(_Entry):
    """An offer as sold: an instance type of `gpus_per_instance` GPUs, priced per instance-hour
    (`usd_per_instance_hour`) or per GPU-hour (`usd_per_gpu_hour`, x GPUs per instance), or a
    per-GPU price range (`usd_per_gpu_hour_low`/`_high`, only planned when a scenario allows
    `price-range`)."""

    provider: str = Field(min_length=1)
    gpu: str = Field(min_length=1)
    pricing: PRICING_LITERAL  # type: ignore[valid-type]
    # the shared vocabulary's bounds: a price of 1e300 $/h reached every $ figure (and made
    # a month of it inf)
    usd_per_instance_hour: PositiveUsd | None = None
    usd_per_gpu_hour: PositiveUsd | None = None
    usd_per_gpu_hour_low: PositiveUsd | None = None
    usd_per_gpu_hour_high: PositiveUsd | None = None
    instance_type: str = ""
    gpus_per_instance: Count = 1
    gpu_counts: list[Count] = []
    region: str = ""
    regions: list[str] = []
    billing: Literal["per-second", "per-minute", "per-hour", "monthly"] = "per-hour"
    interconnect: Literal["", "nvlink", "pcie", "infinity-fabric"] = ""
    tier: Literal["secure", "community", "marketplace", "serverless"] = "secure"
    source: str = Field(min_length=1)
    as_of: str = Field(min_length=1)
    notes: str = ""

    @model_validator(mode="after")
    def _price_given(self) -> OfferEntry:
        lo, hi = self.usd_per_gpu_hour_low, self.usd_per_gpu_hour_high
        given = [x is not None for x in (self.usd_per_instance_hour, self.usd_per_gpu_hour)].count(
            True
        )
        if given > 1:
            raise ValueError("give usd_per_instance_hour or usd_per_gpu_hour, not both")
        if given == 0 and (lo is None or hi is None):
            raise ValueError(
                "give usd_per_instance_hour (or usd_per_gpu_hour), or both "
                "usd_per_gpu_hour_low and usd_per_gpu_hour_high"
            )
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"usd_per_gpu_hour_low {lo} is above usd_per_gpu_hour_high {hi}")
        if any(n < 1 for n in self.gpu_counts):
            raise ValueError(f"gpu_counts {self.gpu_counts} must be positive")
        return self

    def to_spec(self) -> Offer:
        lo = self.usd_per_gpu_hour_low
        hi = self.usd_per_gpu_hour_high
        point = self.usd_per_gpu_hour
        if self.usd_per_instance_hour is not None:
            point = self.usd_per_instance_hour / self.gpus_per_instance
        if point is None:
            assert lo is not None and hi is not None
            point = (lo + hi) / 2
        regions = [*self.regions, *([self.region] if self.region else [])]
        return Offer(
            provider=self.provider.lower(),
            gpu=self.gpu.lower(),
            pricing=self.pricing,
            usd_per_gpu_hour=point,
            usd_per_gpu_hour_low=lo if lo is not None else point,
            usd_per_gpu_hour_high=hi if hi is not None else point,
            source=self.source,
            as_of=self.as_of,
            instance_type=self.instance_type,
            gpus_per_instance=self.gpus_per_instance,
            regions=tuple(dict.fromkeys(regions)),
            notes=self.notes,
            billing=self.billing,
            interconnect=self.interconnect,
            tier=self.tier,
            gpu_counts=tuple(sorted(set(self.gpu_counts))),
        )


def parse_entry(schema: type[_Entry], where: str, raw: Any) -> Any:
    """Validate one raw TOML table; raise InputError naming `where`, the field and the value."""
    return validate_mapping(schema, raw, where, f"a table, got {type(raw).__name__}")
