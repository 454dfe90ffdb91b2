"""Tensor-parallel communication: two all-reduces of the step's activations per layer."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def allreduce_s(
    tokens: ArrayLike,
    hidden_size: int,
    tp: ArrayLike,
    link_gb_s: ArrayLike,
    latency_s: ArrayLike,
    act_bytes: float = 2.0,
) -> NDArray[np.float64]:
    """Time of one ring all-reduce of `tokens` × `hidden_size` activations across `tp` GPUs.

    A ring all-reduce sends 2·(tp−1)/tp of the buffer over each GPU's link (reduce-scatter then
    all-gather) and pays a fixed latency per call.
    """
    t = np.asarray(tokens, dtype=np.float64)
    if np.ndim(tp) == 0:
        if tp <= 1:
            return np.zeros_like(t)
        volume = 2.0 * (tp - 1) / tp * t * hidden_size * act_bytes
        return latency_s + volume / (link_gb_s * 1e9)
    # stacked setups (an array of degrees): none where tp is 1
    n = np.asarray(tp, dtype=np.float64)
    per_token = np.where(n > 1, 2.0 * (n - 1) / n * hidden_size * act_bytes / (link_gb_s * 1e9), 0)
    return np.where(n > 1, latency_s, 0.0) + per_token * t


def allreduce_latency_s(engine_latency_us: float, link_latency_us: float, tp: int) -> float:
    """Fixed cost of one all-reduce: the engine's call cost plus one link hop per ring step."""
    if tp <= 1:
        return 0.0
    return (engine_latency_us + 2 * (tp - 1) * link_latency_us) * 1e-6
