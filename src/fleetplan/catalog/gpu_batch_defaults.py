"""Scheduler limits an engine picks by itself on some GPUs (an engine profile's
`gpu_batch_defaults`, built by `engine_schema.py` from engines.toml)."""

from __future__ import annotations

from dataclasses import dataclass

from fleetplan.catalog.specs import GpuSpec


@dataclass(frozen=True)
class GpuBatchDefaults:
    """Scheduler limits an engine picks by itself on some GPUs (vLLM V1 from 0.9: by the GPU's
    total memory, with A100 kept on the small values); the profile's own max_num_seqs and
    max_num_batched_tokens hold on every other GPU."""

    min_memory_gib: float
    max_num_seqs: int
    max_num_batched_tokens: int
    exclude: tuple[str, ...] = ()  # GPUs whose id or name holds one of these keep the base
    # > 0: memory the engine keeps out of its static pool on such GPUs, GiB (SGLang sets
    # mem_fraction_static = 1 - reserved / GPU memory); 0: the profile's gpu_memory_utilization
    reserved_memory_gib: float = 0.0

    def applies(self, gpu: GpuSpec) -> bool:
        name = f"{gpu.id} {gpu.name}".lower()
        return gpu.memory_gib >= self.min_memory_gib and not any(x in name for x in self.exclude)
