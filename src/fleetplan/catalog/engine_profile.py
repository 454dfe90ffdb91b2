"""The engine profile: an inference engine release family's efficiency factors, scheduler
defaults and kernel facts, each with its source (built by `schema.py` from engines.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fleetplan.catalog.generations import (
    FACTOR_CEILINGS,
    GEMM_PEAK_SHARE,
    PEAK_SHARE,
    ratio_scales,
    under_ceilings,
)
from fleetplan.catalog.gpu_batch_defaults import GpuBatchDefaults
from fleetplan.catalog.specs import GpuSpec, ModelSpec
from fleetplan.catalog.versions import version_tuple


@dataclass(frozen=True)
class EngineProfile:
    """An inference engine's efficiency factors and scheduler defaults, each with its source."""

    id: str
    name: str
    mbu: float  # achieved fraction of peak memory bandwidth for weight/KV streaming
    mfu_prefill: float  # achieved fraction of dense peak FLOPs in prefill GEMMs
    gemm_half_tokens: float  # tokens per step at which GEMMs reach half of mfu_prefill
    attention_mbu: float  # achieved bandwidth fraction reading the KV cache in decode attention
    step_overhead_ms: float  # fixed CPU/scheduler/launch time per forward step
    per_layer_overhead_us: float  # launch/sync cost per layer per step (not hidden by graphs)
    allreduce_latency_us: float  # fixed cost of one tensor-parallel all-reduce
    runtime_overhead_gib: float  # CUDA context, graphs, allocator, comm buffers per GPU
    gpu_memory_utilization: float
    max_num_seqs: int
    max_num_batched_tokens: int
    precisions: tuple[str, ...]
    architecture_scale: dict[str, dict[str, float]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    notes: str = ""
    # share of a GQA group's query heads whose decode-attention kernel re-reads the group's KV
    # from memory (0: the KV head is read once per group; 1: once per query head)
    gqa_kv_reread: float = 0.0
    # the attention kernels' share of the attention peak over the GEMMs' (mfu_prefill): a
    # FlashAttention-class kernel runs at its own efficiency, not at the share the whole
    # model's GEMMs and glue reach (perf.roofline, capped at 0.85 of the peak)
    attention_mfu_scale: float = 1.0
    # precision id -> factor -> multiplier (kernel efficiency of a weight format, e.g. fp8 GEMMs
    # or GGUF dequantizing kernels), applied on top of architecture_scale
    format_scale: dict[str, dict[str, float]] = field(default_factory=dict)
    # GPU architectures with validation rows; elsewhere factors are extrapolated (outputs say so)
    calibrated_architectures: tuple[str, ...] = ()
    # release family: which engine, which versions (inclusive; "" = open), first release date
    engine: str = ""
    family: str = ""
    version_min: str = "0"
    version_max: str = ""
    released: str = ""
    current: bool = True
    # what gpu_memory_utilization is a share of: "total" memory (vLLM), the memory "free" after
    # weights and activations (TensorRT-LLM kv_cache_free_gpu_mem_fraction), "static" (SGLang
    # mem_fraction_static: weights + KV pool together as a share of total memory), or
    # "kv_of_total" (the KV cache alone as a share of total memory: LMDeploy TurboMind before
    # v0.2.1, `kv_total_share_before`)
    memory_semantics: str = "total"
    chunked_prefill: bool = True
    # whether the engine caches prefixes unless told not to (vLLM V1, SGLang): what a published
    # run had, and what keeps a preempted request's blocks (sim/policy.py)
    prefix_caching_default: bool = False
    # the share of the KV pool a vLLM-style scheduler keeps free when it admits a prompt (its
    # block manager's watermark: 1 % in V0, none in V1; families without their own, scheduled
    # like vLLM, keep V0's); sim/policy.py's "watermark" admission
    admission_watermark: float = 0.01
    # whether decode steps run as captured CUDA graphs; False: eagerly, every kernel launched
    # from Python, a step at least the host's launch time (perf.roofline.eager_floor_s)
    cuda_graphs: bool = True
    # where the scheduler's step loop runs: "python" (scheduling, input preparation and output
    # processing between GPU steps in the interpreter) or "native" (a C++ loop: TurboMind's
    # LlamaBatch, TensorRT-LLM's batch manager, llama.cpp's server); the reference of a fold
    # with no rows of its own charges a Python loop of a 2023 release its step bubble
    # (accuracy.folds.LEGACY_STEP_OVERHEAD_MS), a native one the current engines' host split
    # (accuracy.folds.vendor_neutral)
    host_loop: str = "python"
    # the executor backend (a run's `--backend`) whose releases below `eager_before` ran eagerly
    # by default, and that eager forward's host time per layer a step (dense layer; MoE layer),
    # microseconds (`on_backend`)
    eager_backend: str = ""
    eager_before: str = ""
    eager_layer_us: float = 0.0
    eager_moe_layer_us: float = 0.0
    # another family whose GPU-generation scales this one takes for the generations it has no
    # rows of (the share of a generation's peak kernels reach moves with the GPU), and those
    # generations with the family each came from, the nearest of the chain that has it (filled
    # in when the catalog is built: `catalog.reference_chain`)
    generation_scales_from: str = ""
    borrowed_from: tuple[tuple[str, str], ...] = ()
    # generations with neither a fitted nor a borrowed scale whose prefill GEMM share takes the
    # measured ratio of their best GEMM's share of spec to the base generation's (filled in when
    # the catalog is built: `with_measured_generations`)
    measured_generations: tuple[str, ...] = ()
    # tokens per expert at which a grouped MoE GEMM reaches half of mfu_prefill
    moe_gemm_half_tokens: float = 0.0
    # share of mbu that routed-expert weight reads reach (many small, scattered expert slices)
    moe_stream_scale: float = 1.0
    # whether the MoE kernels read the experts' weights at the dense weights' share (mbu):
    # moe_stream_scale then stays at 1 and no fit moves it (accuracy.fit_stages.moe_factors)
    experts_stream_at_mbu: bool = False
    # releases of the family below this version run block-scaled FP8 GEMMs (weights scaled per
    # 128x128 block: ModelSpec.fp8_block_scaled) as Triton kernels, slower than per-tensor FP8
    # ones ("": none; perf.kernels.block_fp8_gemm_scale)
    block_fp8_triton_before: str = ""
    # GPU architectures on which the family runs block-scaled FP8 linear layers through its own
    # blockwise kernel rather than DeepGEMM (perf.kernels.BLOCKWISE_FP8_MFU; (): none)
    block_fp8_blockwise_on: tuple[str, ...] = ()
    # the release a profile was picked for ('sglang@0.4.3' -> "0.4.3"; "": the family at large)
    version: str = ""
    # the family turns chunked prefill off for MLA models and batches whole prompts, up to the
    # model's context (at least 2,048 tokens) a step (`for_model`)
    mla_whole_prompts: bool = False
    # > 0: the peak memory of the profiling run of an MLA model, per token of that run, in
    # 16-bit vectors of the model's hidden size (perf.memory.activation_workspace_bytes)
    mla_profile_hidden_vectors: float = 0.0
    # > 0: from release `mla_kv_align_from` on, the family pads each layer's MLA latent-cache
    # entry of a token to a multiple of this many bytes on NVIDIA GPUs
    # (perf.kernels.mla_kv_padding)
    mla_kv_align_bytes: int = 0
    mla_kv_align_from: str = ""
    # fixed time per routed expert a GPU runs in a MoE layer of a step (the grouped GEMM's
    # per-expert work), microseconds on an H100 SXM's bandwidth, scaled by the GPU's
    # (perf.expert_parallel.expert_overhead_s)
    moe_expert_overhead_us: float = 0.0
    expert_parallel: bool = False  # MoE experts sharded across the TP group (all-to-all)
    # whether a model whose every layer has the config's sliding window (Mistral 7B v0.1) runs
    # windowed by default; False: the engine attends to (and caches) the whole context unless
    # told a window (TensorRT-LLM's max_attention_window); perf.memory.served_model
    uniform_sliding_window: bool = True
    # whether MXFP4 MoE experts run through a Marlin kernel on GPUs without FP4 tensor cores,
    # which holds and streams them padded to its tiles (perf.kernels.marlin_expert_padding)
    mxfp4_moe_marlin: bool = False
    # GPU architectures on which the engine runs a model with attention sinks
    # (ModelSpec.attention_sinks) through its Triton attention kernel, whose prefill reads a
    # prompt's context again for every few query tokens (perf.kernels.prefill_kv_reread)
    sink_attention_triton_on: tuple[str, ...] = ()
    # GPU architectures on which the engine runs weight-only quantized linear layers through
    # Marlin, whose MACs reach a share of a 16-bit GEMM's rate (perf.formats.weight_only_gemm_scale)
    marlin_weight_only_on: tuple[str, ...] = ()
    # those re-reads' bandwidth over the GPU's memory bandwidth share (attention_mbu): above 1
    # where the L2 cache serves part of them; fitted on the rows that run the kernel
    prefill_kv_reread_bandwidth_scale: float = 1.0
    # > 0: the sliding-window layers of a model that mixes them with full-attention ones get a
    # KV pool of their own, this many tokens per token of the full layers' pool, both carved
    # from one budget (SGLang's SWAKVPool); 0: they hold only the window inside one shared pool
    # (vLLM's hybrid KV-cache manager). perf.memory.kv_pool_layers
    swa_full_tokens_ratio: float = 0.0
    # the model families (ModelSpec.family) it gives that pool; its other window models run
    # every layer at full context (perf.memory.swa_pool_ratio)
    swa_pool_families: tuple[str, ...] = ()
    # whether max_num_seqs caps each data-parallel attention rank (its own scheduler and KV
    # cache: TensorRT-LLM attention DP) rather than the whole replica; perf.memory.scheduler_cap
    max_num_seqs_per_attention_dp_rank: bool = False
    # whether data-parallel attention ranks also run the dense MLPs and shared experts whole on
    # their own tokens, each rank holding a full copy (perf.attention_dp.attention_dp_weight_bytes)
    attention_dp_replicates_mlp: bool = False
    # whether each data-parallel attention rank runs a scheduler of its own that a controller
    # deals requests to round robin, with a prefill budget of its own (SGLang); the ranks step
    # in lockstep, so a step lasts as long as its busiest rank's prompts (sim/dp_ranks.py)
    attention_dp_rank_schedulers: bool = False
    # releases below this one give each such rank half the chunked-prefill budget (later ones
    # split it over the ranks); "": split
    attention_dp_half_chunk_before: str = ""
    # releases below this one run every rank's decode step at the largest rank's batch (their
    # CUDA graphs are captured per rank batch): the MoE and dense layers take attention_dp x
    # that many tokens (perf.dp_prefill.padded_decodes)
    attention_dp_pads_decode_before: str = ""
    # releases below this one prefill MLA prompts with any cached prefix (every prompt after
    # the first shares the BOS token in a radix cache; every chunk after the first) through
    # the absorbed attention kernel, at decode's FLOPs per context token (perf.kernels)
    mla_absorbed_prefill_before: str = ""
    # releases below this one keep the absorbed MLA decode matrices W_Q_UK and W_UV_O beside
    # the model's own weights (vLLM 0.7.1-0.7.x; perf.kernels.mla_absorbed_bytes)
    mla_absorbed_weights_before: str = ""
    # serial API-server time to take a request in (HTTP, chat template, tokenization) and per
    # output token streamed (detokenization, server-sent event), and a request's time on the
    # way to the engine that holds no server (hops between processes); 0: not modelled. The
    # simulator's API-server stage (sim/frontend.py) when a scenario asks
    api_server_ms_per_request: float = 0.0
    api_server_latency_ms: float = 0.0
    api_server_us_per_output_token: float = 0.0
    # whether the server hands a request to the engine only after the work queued on its one
    # event loop while the request's tokenizer call ran in a thread (vLLM's OpenAI server since
    # 0.6.5): a burst reaches the engine when its last request is taken in (sim/frontend.py)
    api_server_queued_hand_off: bool = False
    # a chat request's further time on the way, holding no server, where the API server renders
    # its prompt with the model's Hugging Face (Jinja) chat template and tokenizes it, and the
    # model families whose chat prompts it renders natively instead (vLLM: gpt-oss through
    # openai_harmony); `server_latency_ms` picks
    chat_template_latency_ms: float = 0.0
    # the serial time such a chat request further holds the server (rendering the template runs
    # in the request's coroutine, on the server's one event loop); `server_ms_per_request`
    chat_template_ms_per_request: float = 0.0
    native_chat_families: tuple[str, ...] = ()
    # per-GPU scheduler defaults (the first that applies wins); `for_gpu` resolves them
    gpu_batch_defaults: tuple[GpuBatchDefaults, ...] = ()
    # > 0: chunked prefill the engine turns on by itself, this many tokens a step, for a model
    # whose window exceeds `long_context_min_tokens` (vLLM V0 from 0.5.4; `for_model`)
    long_context_chunk_tokens: int = 0
    long_context_min_tokens: int = 32768
    # releases of the family below this version prefill whole prompts in passes of their own
    # (no chunked prefill: LMDeploy TurboMind before split-and-fuse); "": none (`at_version`)
    whole_prompts_before: str = ""
    # releases of the family below this version give the KV cache `kv_total_share` of the GPU's
    # total memory, whatever the weights take ("kv_of_total"); "": none (`at_version`)
    kv_total_share_before: str = ""
    kv_total_share: float = 0.0

    def for_gpu(self, gpu: GpuSpec) -> EngineProfile:
        """The profile as the engine configures itself on `gpu`: the first of
        `gpu_batch_defaults` that applies sets max_num_seqs and max_num_batched_tokens (and,
        where it reserves memory, gpu_memory_utilization). The result holds no rules any more,
        so resolving it again (for any GPU) changes nothing."""
        if not self.gpu_batch_defaults:
            return self
        for rule in self.gpu_batch_defaults:
            if rule.applies(gpu):
                util = self.gpu_memory_utilization
                if 0 < rule.reserved_memory_gib < gpu.memory_gib:
                    util = round(1.0 - rule.reserved_memory_gib / gpu.memory_gib, 3)
                return replace(
                    self,
                    max_num_seqs=rule.max_num_seqs,
                    max_num_batched_tokens=rule.max_num_batched_tokens,
                    gpu_memory_utilization=util,
                    gpu_batch_defaults=(),
                )
        return replace(self, gpu_batch_defaults=())

    def for_model(self, model: ModelSpec, context: int = 0) -> EngineProfile:
        """The profile as the engine configures itself for `model` at a context window of
        `context` tokens (--max-model-len; 0: the model's full window). vLLM V0 turns chunked
        prefill on, at `long_context_chunk_tokens` a step, when the window exceeds
        `long_context_min_tokens`, except for models with
        sliding-window or MLA attention, which it leaves unchunked; a family with
        `mla_whole_prompts` runs an MLA model without chunked prefill, whole prompts of up to
        max(context, 2048) tokens a step (vLLM 0.7's V0 engine logs 'MLA is enabled; forcing
        chunked prefill and prefix caching to be disabled' and its SchedulerConfig then sets
        max_num_batched_tokens = max(max_model_len, 2048)). The result holds no rule, so
        resolving it again changes nothing."""
        window = context or model.max_context
        if self.mla_whole_prompts and model.is_mla:
            budget = max(window, 2048)
            return replace(
                self,
                chunked_prefill=False,
                max_num_batched_tokens=budget,
                long_context_chunk_tokens=0,
                mla_whole_prompts=False,
            )
        if self.long_context_chunk_tokens <= 0:
            return self
        if window > self.long_context_min_tokens and not model.is_mla and not model.sliding_window:
            return replace(
                self,
                chunked_prefill=True,
                max_num_batched_tokens=self.long_context_chunk_tokens,
                long_context_chunk_tokens=0,
            )
        return replace(self, long_context_chunk_tokens=0)

    def server_ms_per_request(self, model: ModelSpec) -> float:
        """The API server's serial time to take a request for `model` in
        (`api_server_ms_per_request`), plus `chat_template_ms_per_request` unless the server
        renders the model's chat prompts natively (`native_chat_families`)."""
        if model.family in self.native_chat_families:
            return self.api_server_ms_per_request
        return self.api_server_ms_per_request + self.chat_template_ms_per_request

    def server_latency_ms(self, model: ModelSpec) -> float:
        """A request's time on the way through the API server that holds no server
        (`api_server_latency_ms`), plus `chat_template_latency_ms` unless the server renders
        the model's chat prompts natively (`native_chat_families`)."""
        if model.family in self.native_chat_families:
            return self.api_server_latency_ms
        return self.api_server_latency_ms + self.chat_template_latency_ms

    def at_version(self, version: str) -> EngineProfile:
        """The profile for one release of the family (kernel choices that changed within it;
        a release below `whole_prompts_before` runs without chunked prefill, one below
        `kv_total_share_before` sizes its KV cache as a share of total memory)."""
        if version == self.version:
            return self
        out = replace(self, version=version)
        if out.release_before(self.whole_prompts_before):
            out = replace(out, chunked_prefill=False)
        if out.release_before(self.kv_total_share_before):
            out = replace(
                out, memory_semantics="kv_of_total", gpu_memory_utilization=self.kv_total_share
            )
        return out

    def on_backend(self, backend: str) -> EngineProfile:
        """The profile for a run on executor `backend` (a launch command's `--backend`; "": the
        release's default): a release below `eager_before` on `eager_backend` runs without CUDA
        graphs (TensorRT-LLM's PyTorch backend before 1.0: PyTorchConfig's use_cuda_graph and
        enable_overlap_scheduler both off unless set in an options file)."""
        if not (
            backend and backend == self.eager_backend and self.release_before(self.eager_before)
        ):
            return self
        return replace(self, cuda_graphs=False)

    def release_before(self, bound: str) -> bool:
        """Whether this release (the family's newest where no release is named) is below
        `bound`; False where either is not set."""
        release = self.version or self.version_max
        return bool(bound and release) and version_tuple(release) < version_tuple(bound)

    def runs_triton_block_fp8(self) -> bool:
        """Whether this release runs block-scaled FP8 GEMMs as Triton kernels: a release below
        `block_fp8_triton_before`."""
        return self.release_before(self.block_fp8_triton_before)

    @property
    def versions(self) -> str:
        """The family's version range, e.g. '>=0.8' or '0.5-0.6'."""
        if not self.version_max:
            return f">={self.version_min}"
        return f"{self.version_min}-{self.version_max}"

    @property
    def family_label(self) -> str:
        """The family for outputs: 'vLLM V1 (vllm >=0.8, released 2025-03)'."""
        name = self.family or self.name
        when = f", released {self.released}" if self.released else ""
        return f"{name} ({self.engine or self.id} {self.versions}{when})"

    def covers(self, version: str) -> bool:
        """Whether `version` (e.g. '0.6.3') falls in this family's range (prefix match at the
        top: a range ending at 0.6 holds 0.6.x)."""
        v = version_tuple(version)
        if v < version_tuple(self.version_min):
            return False
        if not self.version_max:
            return True
        top = version_tuple(self.version_max)
        return v[: len(top)] <= top

    def borrow_generations(self, reference: EngineProfile) -> EngineProfile:
        """The profile with `reference`'s scales for the generations it has neither a scale
        nor validation rows of (`generation_scales_from`); called along a chain of references,
        each adds the generations the nearer ones lacked. A borrowed scale stops where this
        profile's factor meets its ceiling (as a fold's: accuracy.folds.borrow_generations)."""
        own = {k: dict(v) for k, v in self.architecture_scale.items()}
        taken = tuple(
            g
            for g in sorted(reference.architecture_scale)
            if g not in own and g not in self.calibrated_architectures
        )
        for g in taken:
            own[g] = under_ceilings(reference.architecture_scale[g], lambda n: getattr(self, n))
        lent = (*self.borrowed_from, *((g, reference.id) for g in taken))
        return replace(self, architecture_scale=own, borrowed_from=lent)

    @property
    def borrowed_generations(self) -> tuple[str, ...]:
        return tuple(g for g, _ in self.borrowed_from)

    def with_measured_generations(self) -> EngineProfile:
        """The profile with a prefill GEMM scale for every generation of
        `catalog.generations.GEMM_PEAK_SHARE` it has no scale or rows of: the ratio of that
        generation's measured best-GEMM share of spec to its base generation's (the first it
        is calibrated on), under the ceiling. Without it an MI300X runs at a Hopper-calibrated
        family's Hopper share of its larger spec peak (60.1 % of it measured, 80.1 % on an H100)."""
        base = next((g for g in self.calibrated_architectures if g in GEMM_PEAK_SHARE), "")
        scales = ratio_scales(
            {"mfu_prefill": self.mfu_prefill},
            base,
            {g: {"mfu_prefill": s["mfu_prefill"]} for g, s in PEAK_SHARE.items()},
            {"mfu_prefill": FACTOR_CEILINGS["mfu_prefill"]},
            skip={*self.architecture_scale, *self.calibrated_architectures},
        )
        if not scales:
            return self
        arch = {k: dict(v) for k, v in self.architecture_scale.items()} | scales
        added = tuple(scales)
        return replace(self, architecture_scale=arch, measured_generations=added)

    def without_borrowed(self) -> EngineProfile:
        """The profile with only its own generation scales (none borrowed from another family
        or taken from the measured generation ratios)."""
        taken = set(self.borrowed_generations) | set(self.measured_generations)
        own = {k: dict(v) for k, v in self.architecture_scale.items() if k not in taken}
        return replace(self, architecture_scale=own, borrowed_from=(), measured_generations=())

    def factor(self, name: str, architecture: str, precision: str = "") -> float:
        """An efficiency factor, scaled for a GPU architecture and a weight format where the
        profile says so."""
        base = float(getattr(self, name))
        base *= self.architecture_scale.get(architecture, {}).get(name, 1.0)
        return base * self.format_scale.get(precision, {}).get(name, 1.0)
