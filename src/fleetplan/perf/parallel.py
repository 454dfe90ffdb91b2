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


# All-reduce over PCIe (no NVLink) reaches a fraction of the link's one-way bandwidth: the ring's
# traffic goes through PCIe switches and, past one socket's GPUs, the CPUs' inter-socket link.
# nccl-tests all_reduce_perf on 8 PCIe Gen5 x16 GPUs (64 GB/s each way) in a dual-socket host:
# bus bandwidth 28 GB/s with 8 GPUs, 35 GB/s with 4 ("on PCI systems, the performance you get is
# usually determined by the bandwidth your CPU and memory can deliver", NCCL maintainer,
# https://github.com/NVIDIA/nccl/issues/1639): 0.44 and 0.55 of the link.
PCIE_ALLREDUCE_SHARE = {4: 0.55, 8: 0.44}


# NCCL's collectives over NVLink reach ~0.82 of the line rate as bus bandwidth: "450GB/s is the
# line rate. With the protocol overhead (~20%) NCCL can get an effective NVLink bandwidth of
# 370GB/s, which you can observe as BusBw when running non-allreduce operations, or when running
# with NCCL_ALGO=RING" (NCCL maintainer on 8x H100, https://github.com/NVIDIA/nccl-tests/issues/212;
# NVLink SHARP reaches more only on NVSwitch systems at large sizes, "256M is too small to reach
# peak bandwidth", well above a step's activations). NCCL's own topology model holds the same
# share for every NVLink generation: 20.0, 20.6 and 40.1 GB/s a link for Ampere, Hopper and
# Blackwell (SM80/SM90/SM100_NVLINK_BW in src/graph/topo.h,
# https://github.com/NVIDIA/nccl/blob/f3d51667838f7542df8ea32ea4e144d812b3ed7c/src/graph/topo.h),
# 0.80, 0.82 and 0.80 of the 25, 25 and 50 GB/s line rates; one share serves them all
NVLINK_COLLECTIVE_SHARE = 370.0 / 450.0


def allreduce_link_gb_s(interconnect: str, link_gb_s: float, tp: int) -> float:
    """The bus bandwidth a ring all-reduce over `tp` GPUs reaches on this interconnect: a share
    of the link's on NVLink (`NVLINK_COLLECTIVE_SHARE`, the protocol's overhead) and over PCIe
    (`PCIE_ALLREDUCE_SHARE`: up to 4 GPUs, one socket's; more, across sockets), the link's on
    Infinity Fabric."""
    if tp <= 1:
        return link_gb_s
    if interconnect == "nvlink":
        return link_gb_s * NVLINK_COLLECTIVE_SHARE
    if interconnect != "pcie":
        return link_gb_s
    return link_gb_s * PCIE_ALLREDUCE_SHARE[4 if tp <= 4 else 8]
