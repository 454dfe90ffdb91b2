"""The pydantic schema of an engine release family's catalog entry (engines.toml and users'
override files): unknown fields rejected, every bad value named (`schema.parse_entry`). A valid
entry becomes the frozen `EngineProfile`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.gpu_batch_defaults import GpuBatchDefaults
from fleetplan.catalog.schema import VERSION_PATTERN, Fraction, _Entry


class GpuBatchDefaultsEntry(_Entry):
    min_memory_gib: float = Field(ge=0)
    max_num_seqs: int = Field(gt=0)
    max_num_batched_tokens: int = Field(gt=0)
    exclude: list[str] = []
    reserved_memory_gib: float = Field(default=0.0, ge=0)


class EngineEntry(_Entry):
    name: str
    aliases: list[str] = []
    mbu: float = Fraction
    mfu_prefill: float = Fraction
    gemm_half_tokens: float = Field(ge=0)
    attention_mbu: float = Fraction
    step_overhead_ms: float = Field(ge=0)
    per_layer_overhead_us: float = Field(ge=0)
    allreduce_latency_us: float = Field(ge=0)
    runtime_overhead_gib: float = Field(ge=0)
    gpu_memory_utilization: float = Fraction
    max_num_seqs: int = Field(gt=0)
    max_num_batched_tokens: int = Field(gt=0)
    precisions: list[str]
    architecture_scale: dict[str, dict[str, Annotated[float, Field(gt=0, le=100)]]] = {}
    format_scale: dict[str, dict[str, Annotated[float, Field(gt=0, le=100)]]] = {}
    gqa_kv_reread: float = Field(default=0.0, ge=0, le=1)
    attention_mfu_scale: float = Field(default=1.0, gt=0, le=10)
    calibrated_architectures: list[
        Literal["turing", "ampere", "ada", "hopper", "blackwell", "cdna3", "cdna4"]
    ] = []
    sources: dict[str, str]
    notes: str = ""
    # the release family this profile describes
    engine: str = ""  # the engine it is a family of (default: the entry's id)
    family: str = ""  # e.g. "vLLM V1"
    version_min: str = Field(default="0", pattern=r"^\d+(\.\d+)*$")
    version_max: str = Field(default="", pattern=VERSION_PATTERN)  # "" = open
    released: str = ""  # release date of the family's first version
    current: bool = True  # `--engine <engine>` without a version selects the current family
    memory_semantics: Literal["total", "free_after_weights", "static", "kv_of_total"] = "total"
    chunked_prefill: bool = True
    prefix_caching_default: bool = False
    # unset: vLLM V0's block-manager default (BlockSpaceManager watermark=0.01), which the
    # engines the simulator schedules like vLLM without a value of their own (TGI, llama.cpp) keep
    admission_watermark: float = Field(default=0.01, ge=0, lt=1)
    cuda_graphs: bool = True
    host_loop: Literal["python", "native"] = "python"
    eager_backend: str = ""
    eager_before: str = Field(default="", pattern=VERSION_PATTERN)
    eager_layer_us: float = Field(default=0.0, ge=0, le=10_000)
    eager_moe_layer_us: float = Field(default=0.0, ge=0, le=10_000)
    generation_scales_from: str = ""
    moe_gemm_half_tokens: float = Field(default=0.0, ge=0)
    moe_stream_scale: float = Field(default=1.0, gt=0, le=1)
    experts_stream_at_mbu: bool = False
    block_fp8_triton_before: str = Field(default="", pattern=VERSION_PATTERN)
    block_fp8_blockwise_on: list[str] = []
    mla_whole_prompts: bool = False
    mla_profile_hidden_vectors: float = Field(default=0.0, ge=0, le=64)
    mla_kv_align_bytes: int = Field(default=0, ge=0, le=4096)
    mla_kv_align_from: str = Field(default="", pattern=VERSION_PATTERN)
    moe_expert_overhead_us: float = Field(default=0.0, ge=0, le=100)
    expert_parallel: bool = False
    uniform_sliding_window: bool = True
    mxfp4_moe_marlin: bool = False
    sink_attention_triton_on: list[str] = []
    marlin_weight_only_on: list[str] = []
    prefill_kv_reread_bandwidth_scale: float = Field(default=1.0, ge=1, le=8)
    swa_full_tokens_ratio: float = Field(default=0.0, ge=0, le=1)
    swa_pool_families: list[str] = []
    max_num_seqs_per_attention_dp_rank: bool = False
    api_server_ms_per_request: float = Field(default=0.0, ge=0, le=1_000)
    api_server_latency_ms: float = Field(default=0.0, ge=0, le=10_000)
    api_server_queued_hand_off: bool = False
    chat_template_latency_ms: float = Field(default=0.0, ge=0, le=10_000)
    chat_template_ms_per_request: float = Field(default=0.0, ge=0, le=1_000)
    native_chat_families: list[str] = []
    attention_dp_replicates_mlp: bool = False
    attention_dp_rank_schedulers: bool = False
    attention_dp_half_chunk_before: str = Field(default="", pattern=VERSION_PATTERN)
    attention_dp_pads_decode_before: str = Field(default="", pattern=VERSION_PATTERN)
    mla_absorbed_prefill_before: str = Field(default="", pattern=VERSION_PATTERN)
    mla_absorbed_weights_before: str = Field(default="", pattern=VERSION_PATTERN)
    api_server_us_per_output_token: float = Field(default=0.0, ge=0, le=10_000)
    gpu_batch_defaults: list[GpuBatchDefaultsEntry] = []
    long_context_chunk_tokens: int = Field(default=0, ge=0)
    long_context_min_tokens: int = Field(default=32768, gt=0)
    whole_prompts_before: str = Field(default="", pattern=VERSION_PATTERN)
    kv_total_share_before: str = Field(default="", pattern=VERSION_PATTERN)
    kv_total_share: float = Field(default=0.0, ge=0, le=1)

    def to_spec(self, engine_id: str) -> EngineProfile:
        data = self.model_dump(
            exclude={
                "aliases",
                "precisions",
                "calibrated_architectures",
                "block_fp8_blockwise_on",
                "swa_pool_families",
                "sink_attention_triton_on",
                "marlin_weight_only_on",
                "native_chat_families",
                "engine",
                "gpu_batch_defaults",
            }
        )
        return EngineProfile(
            id=engine_id,
            aliases=tuple(a.lower() for a in self.aliases),
            precisions=tuple(self.precisions),
            calibrated_architectures=tuple(self.calibrated_architectures),
            block_fp8_blockwise_on=tuple(self.block_fp8_blockwise_on),
            swa_pool_families=tuple(self.swa_pool_families),
            sink_attention_triton_on=tuple(a.lower() for a in self.sink_attention_triton_on),
            marlin_weight_only_on=tuple(a.lower() for a in self.marlin_weight_only_on),
            native_chat_families=tuple(self.native_chat_families),
            engine=self.engine or engine_id,
            gpu_batch_defaults=tuple(
                GpuBatchDefaults(
                    min_memory_gib=r.min_memory_gib,
                    max_num_seqs=r.max_num_seqs,
                    max_num_batched_tokens=r.max_num_batched_tokens,
                    exclude=tuple(x.lower() for x in r.exclude),
                    reserved_memory_gib=r.reserved_memory_gib,
                )
                for r in self.gpu_batch_defaults
            ),
            **data,
        )

    @model_validator(mode="after")
    def _experts_stream(self) -> EngineEntry:
        if self.experts_stream_at_mbu and self.moe_stream_scale != 1.0:
            raise ValueError(
                f"moe_stream_scale = {self.moe_stream_scale} with experts_stream_at_mbu = true; "
                "the experts then stream at mbu: moe_stream_scale must be 1"
            )
        return self
