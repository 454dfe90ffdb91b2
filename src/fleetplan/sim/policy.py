"""How each engine family schedules a replica, as its public documentation describes it.

The simulator's replica (`sim/batching.py`) runs one iteration-level loop; what differs between
engines is a handful of decisions, collected here and keyed on the engine profile's family
(`engine` field of the catalog entry, else its id). An unknown engine schedules like vLLM.

- **vLLM V1** (https://docs.vllm.ai/en/latest/configuration/optimization.html): chunked prefill
  mixed into decode steps under `max_num_batched_tokens`; a prompt is admitted while the KV
  pool has the blocks it needs (V0 kept a watermark free: `EngineProfile.admission_watermark`);
  when a decoding sequence finds no free block, the most recently admitted sequence is
  preempted by recompute. Blocks of 16 tokens. A profile with
  chunked prefill off (vLLM V0) runs prefill-only steps of whole prompts first.
- **TensorRT-LLM** in-flight batching
  (https://nvidia.github.io/TensorRT-LLM/performance/performance-tuning-guide/useful-runtime-flags.html):
  context and generation requests share a step packed up to `max_num_tokens`; without chunked
  context a prompt enters whole. Capacity policy GUARANTEED_NO_EVICT (default) admits a request
  only when the KV blocks of its whole prompt plus output are free and reserves them, so a
  started request is never paused; MAX_UTILIZATION admits while blocks are free (no watermark)
  and pauses the most recent request when the cache is full (its blocks freed, resumed by
  recomputing). Blocks of 32 tokens (`tokens_per_block`).
- **SGLang** (https://docs.sglang.ai/advanced_features/server_arguments.html): RadixAttention
  reuses any cached prefix at token granularity (page size 1, LRU eviction); the waiting queue
  is ordered longest-prefix-match first (`--schedule-policy lpm`) while it holds at most 128
  requests, first come first served beyond; prefill batches run on their own (mixed chunks
  off by default), chunked at `--chunked-prefill-size`; a request is admitted only if the pool
  also keeps `new_token_ratio` x the running requests' remaining output tokens free, a ratio
  that starts at 0.7 and decays to 0.098 over 600 decode steps and is reset to 0.7 when a
  decode batch runs out of memory and requests are retracted (preempted by recompute).
- **LMDeploy TurboMind** (2.x, v0.1.0: `SequenceManager::Materialize` and
  `LlamaBatch::ContextDecode` in https://github.com/InternLM/lmdeploy/tree/v0.1.0/src/turbomind/models/llama):
  blocks of `cache_block_seq_len` = 128 tokens are allocated as a sequence grows (its context
  plus the next step), nothing reserved for its output; sequences take blocks in arrival order
  and, when the pool runs short, the most recent are preempted (their blocks released, the
  context recomputed on resumption) and new requests wait. Releases before split-and-fuse
  (`EngineProfile.whole_prompts_before`) prefill the admitted prompts whole, in passes of their
  own before the iteration's decode step; later ones fuse prompt chunks into decode steps.

What a preempted request keeps depends on prefix caching (the replica's `prefix_caching`):
vLLM hashes every full block it computes, prompt or generated, and a freed block keeps its hash
on the free queue until it is reused (https://docs.vllm.ai/en/latest/design/prefix_caching.html),
so a request preempted by recompute finds its computed blocks again when it is readmitted,
unless others took them in between (on by default in V1: "we now enable prefix caching by
default in V1", https://blog.vllm.ai/2025/01/27/v1-alpha-release.html). SGLang's radix tree holds
a request's prompt once it is prefilled; a retracted request's generated tokens are freed
without entering the tree (`ScheduleBatch.retract_decode`, `release_kv_cache(...,
is_insert=False)`), so it keeps its prompt only. Without prefix caching, or in TurboMind and
TensorRT-LLM, a preempted request computes everything again.

The simulator knows each request's true output length, so a reservation "through the maximum
output" reserves the output it will generate (as benchmarks that set max_tokens to the output
length with ignore_eos do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetplan.errors import InputError

if TYPE_CHECKING:
    from fleetplan.catalog.engine_profile import EngineProfile

LPM_MAX_QUEUE = 128  # SGLang falls back to first come first served above this queue length
RATIO_INIT = 0.7  # SGLang --init-new-token-ratio default
RATIO_MIN = 0.7 * 0.14  # --min-new-token-ratio-factor 0.14 of the initial ratio
RATIO_DECAY = (RATIO_INIT - RATIO_MIN) / 600  # --new-token-ratio-decay-steps 600
CAPACITY_POLICIES = ("guaranteed_no_evict", "max_utilization")


@dataclass(frozen=True)
class Policy:
    """The scheduling decisions of one engine family (see the module docstring)."""

    family: str  # "vllm", "tensorrt-llm", "sglang" or "turbomind": whose scheduler this is
    admission: str  # "watermark" | "reserve_full" | "greedy" | "token_ratio"
    chunked: bool  # prompts enter in chunks; False: a prompt enters whole in one step
    mixed: bool  # prefill chunks share a step with decodes; False: prefill-only steps
    lpm: bool  # waiting queue ordered by longest cached prefix (SGLang)
    block_size: int  # engine default KV block (page) size in tokens
    # what a preempted request keeps in the prefix cache, when the replica caches prefixes:
    # "all" its computed full blocks (vLLM), "prompt" those of its prompt (SGLang), "" nothing
    keeps_on_preemption: str = ""

    def describe(self, prefix_caching: bool = False, watermark: float = 0.0) -> str:
        parts = [
            {
                "vllm": "vLLM",
                "tensorrt-llm": "TensorRT-LLM",
                "sglang": "SGLang",
                "turbomind": "LMDeploy TurboMind",
            }[self.family],
            {
                "watermark": (
                    f"admission keeping {watermark:.0%} of the KV blocks free"
                    if watermark
                    else "admission while KV blocks are free"
                )
                + ", recompute preemption",
                "reserve_full": "guaranteed no evict (prompt + output reserved)",
                "greedy": "max utilization (pauses on a full cache)",
                "token_ratio": "new-token-ratio admission, retraction by recompute",
            }[self.admission],
            ("chunked" if self.chunked else "whole-prompt")
            + (" prefill mixed with decodes" if self.mixed else " prefill-only steps"),
        ]
        if self.lpm:
            parts.append("longest-prefix-match queue")
        if prefix_caching and self.keeps_on_preemption:
            kept = {"all": "computed blocks", "prompt": "prompt"}[self.keeps_on_preemption]
            parts.append(f"a preempted request's {kept} kept in the prefix cache")
        return "; ".join(parts)


def profile_policy(engine: EngineProfile) -> Policy:
    """The policy an engine profile schedules by with its own defaults."""
    return policy_for(engine.id, engine.engine, profile_chunked=engine.chunked_prefill)


def family_of(engine_id: str, engine_field: str = "") -> str:
    name = (engine_field or engine_id).lower()
    if name.startswith(("tensorrt-llm", "trt")):
        return "tensorrt-llm"
    if name.startswith("sglang"):
        return "sglang"
    if name.startswith(("lmdeploy", "turbomind")):
        return "turbomind"
    return "vllm"


def policy_for(
    engine_id: str,
    engine_field: str = "",
    *,
    profile_chunked: bool = True,
    chunked_prefill: bool | None = None,
    capacity_scheduler_policy: str | None = None,
    schedule_policy: str | None = None,
) -> Policy:
    """The policy of an engine profile, with the scenario's overrides."""
    family = family_of(engine_id, engine_field)
    chunked = profile_chunked if chunked_prefill is None else chunked_prefill
    if capacity_scheduler_policy is not None and family != "tensorrt-llm":
        raise InputError(
            f"capacity_scheduler_policy = {capacity_scheduler_policy!r} is a TensorRT-LLM "
            f"setting; engine {engine_id!r} schedules as {family}"
        )
    if schedule_policy is not None and family != "sglang":
        raise InputError(
            f"schedule_policy = {schedule_policy!r} is an SGLang setting; engine "
            f"{engine_id!r} schedules as {family}"
        )
    if family == "tensorrt-llm":
        cap = capacity_scheduler_policy or "guaranteed_no_evict"
        admission = "reserve_full" if cap == "guaranteed_no_evict" else "greedy"
        return Policy(family, admission, chunked, True, False, 32)
    if family == "sglang":
        lpm = (schedule_policy or "lpm") == "lpm"
        return Policy(family, "token_ratio", chunked, False, lpm, 1, "prompt")
    if family == "turbomind":
        return Policy(family, "greedy", chunked, chunked, False, 128)
    return Policy(family, "watermark", chunked, chunked, False, 16, "all")
