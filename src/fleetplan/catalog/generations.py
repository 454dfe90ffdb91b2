"""What share of a GPU generation's spec peak its best kernels reach, measured the same way on
each generation: the ratio of two generations' shares carries an efficiency measured on one to
the other (`generation_gemm_ratio`), whatever the engine."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetplan.catalog.specs import GpuSpec

# What share of a GPU's dense BF16 spec peak the best large GEMM reaches on it (maximum achievable
# matmul FLOPS through torch.matmul): A100 SXM 267.9 of 312 TFLOPS (85.9 %), H100 SXM 792.1 of 989
# (80.1 %), MI300X 781.9 of 1,300 (60.1 %, ROCm 6.2), Stas Bekman's ml-engineering table
# (mamf-finder.py), https://github.com/stas00/ml-engineering/blob/master/compute/accelerator/README.md
# ("Maximum Achievable Matmul FLOPS comparison table").
GEMM_PEAK_SHARE = {"ampere": 267.9 / 312, "hopper": 792.1 / 989, "cdna3": 781.9 / 1300}
# What share of a GPU's spec HBM bandwidth the STREAM triad reaches: A100-SXM4-80GB 1.70 of
# 2.039 TB/s (83.4 %), H100 80GB HBM3 2.97 of 3.35 TB/s (88.7 %), Azure's AI benchmarking guide on
# ND A100 v4 and ND H100 v5, "HBM Bandwidth"
# (https://github.com/Azure/AI-benchmarking-guide/blob/3bb66cacc25632d8ece36bc1d5128c5ea886a60b/
# Azure_Results/ND_A100_v4_results.md; the H100 page as a fork of it holds it,
# https://github.com/yosoyjay/AI-benchmarking-guide/blob/a8263ef1e16a3b8811f8e3c59fab9045f016dee8/
# Azure_Results/ND_H100_v5_results.md). No figure measured the same way was found for the MI300X.
HBM_PEAK_SHARE = {"ampere": 1.70 / 2.039, "hopper": 2.97 / 3.35}
# both, by the efficiency factor each bounds (mfu_prefill: GEMMs; mbu: the weight stream); a
# ratio between two generations is taken only for a factor both measure (`ratio_scales`)
PEAK_SHARE = {
    gen: {"mfu_prefill": gemm, **({"mbu": HBM_PEAK_SHARE[gen]} if gen in HBM_PEAK_SHARE else {})}
    for gen, gemm in GEMM_PEAK_SHARE.items()
}
# the most of the spec dense peak large GEMMs reach, a ceiling on any GEMM share (fits:
# accuracy.calibrate.MAX_MFU; a generation's ratio: `ratio_scales`)
MFU_CEILING = 0.85
# the most of the spec memory bandwidth streaming kernels reach (STREAM-like copies on A100/H100,
# HBM_PEAK_SHARE): a ceiling on any bandwidth share (fits: accuracy.calibrate.MAX_BW)
BANDWIDTH_CEILING = 0.92
# the ceiling each efficiency factor that is a share of a spec peak stays under, whatever the
# generation and format scales (`catalog._check_ceilings` holds every profile to them)
FACTOR_CEILINGS = {
    "mbu": BANDWIDTH_CEILING,
    "attention_mbu": BANDWIDTH_CEILING,
    "mfu_prefill": MFU_CEILING,
}


def under_ceilings(scales: Mapping[str, float], base: Callable[[str], float]) -> dict[str, float]:
    """`scales` with each one of a factor in `FACTOR_CEILINGS` cut so that the factor's base
    value (`base(name)`) times it stays under the ceiling: a GPU generation's scale borrowed
    from another family whose base factor is lower (`EngineProfile.borrow_generations`, the
    folds' `accuracy.folds.borrow_generations`)."""
    return {
        n: min(x, FACTOR_CEILINGS[n] / max(base(n), 1e-9)) if n in FACTOR_CEILINGS else x
        for n, x in scales.items()
    }


def generation_gemm_ratio(architecture: str, measured_on: str = "hopper") -> float:
    """The GEMM share of spec `architecture` lets kernels reach relative to `measured_on`'s
    (`GEMM_PEAK_SHARE`); 1 where either generation has no measurement."""
    if architecture not in GEMM_PEAK_SHARE or measured_on not in GEMM_PEAK_SHARE:
        return 1.0
    return GEMM_PEAK_SHARE[architecture] / GEMM_PEAK_SHARE[measured_on]


def ratio_scales(
    values: Mapping[str, float],
    base: str,
    shares: Mapping[str, Mapping[str, float]],
    ceilings: Mapping[str, float],
    skip: Collection[str] = (),
) -> dict[str, dict[str, float]]:
    """A scale per factor for each generation of `shares` other than `base` and those in
    `skip`: the ratio of its measured share of spec to the base generation's, for the factors
    both measure, held so that the factor (`values`) times the scale stays under its ceiling.
    Generations with no factor in common are left out; {} where `base` has no measurement."""
    if base not in shares:
        return {}
    out: dict[str, dict[str, float]] = {}
    for gen in sorted(shares):
        if gen == base or gen in skip:
            continue
        scales = {
            name: min(share / shares[base][name], ceilings[name] / max(values[name], 1e-9))
            for name, share in shares[gen].items()
            if name in shares[base]
        }
        if scales:
            out[gen] = scales
    return out


def measured_scale(gpu: GpuSpec, factor: str) -> float:
    """How the user's own card compares with the reference card of its generation, for an
    efficiency factor: its GEMM share of spec (`fleetplan measure`) over `GEMM_PEAK_SHARE` for
    mfu_prefill, its copy bandwidth share over `HBM_PEAK_SHARE` for mbu and attention_mbu (both
    measured the way the reference was). 1 where the card is not measured or its generation has
    no reference: a power cap, lower clocks or a slower memory part show here, not in the spec."""
    if factor == "mfu_prefill":
        mine, ref = gpu.measured_gemm_share, GEMM_PEAK_SHARE.get(gpu.architecture, 0.0)
    elif factor in ("mbu", "attention_mbu"):
        mine, ref = gpu.measured_bandwidth_share, HBM_PEAK_SHARE.get(gpu.architecture, 0.0)
    else:
        return 1.0
    return mine / ref if mine > 0 and ref > 0 else 1.0


def on_card(gpu: GpuSpec, factor: str, value: float) -> float:
    """An engine's efficiency factor on `gpu`: `value` times `measured_scale`, held under the
    factor's ceiling (`FACTOR_CEILINGS`)."""
    scale = measured_scale(gpu, factor)
    if scale == 1.0:
        return value
    return min(value * scale, max(value, FACTOR_CEILINGS.get(factor, value * scale)))


def measured_card_note(gpu: GpuSpec) -> str:
    """What `measured_scale` does on `gpu`, in a sentence ('' where it does nothing)."""
    gemm, bw = measured_scale(gpu, "mfu_prefill"), measured_scale(gpu, "mbu")
    if gemm == 1.0 and bw == 1.0:
        return ""
    return (
        f"{gpu.id} as measured on this card ({gpu.measured}): GEMMs x{gemm:.3g} and memory "
        f"bandwidth x{bw:.3g} of the reference {gpu.architecture} card's share of spec, the "
        "engine's efficiency factors scaled by them"
    )
