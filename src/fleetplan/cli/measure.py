"""`fleetplan measure`: microbenchmarks of this machine's GPU, written as a catalog file that says
how this card compares with the reference card of its generation.

Needs PyTorch with a CUDA (or ROCm) GPU. It times (1) 16-bit matrix multiplies of a few large
shapes, the best of them as the card's GEMM rate (as the reference figures were read: the most
a torch.matmul reaches), (2) a device-to-device copy of 1 GiB (memory bandwidth, read plus
write), and, as diagnostics printed beside them, (3) batch-1 decode steps of a model's linear
layers with random weights (the weight stream a decode step reads) and (4) decode attention over a
KV cache. The GEMM and copy rates as shares of the catalog's spec for --gpu are written into a
`[gpus."<id>"]` entry (measured_gemm_share, measured_bandwidth_share); with the file given as
--catalog, every engine's efficiency factors on that GPU are scaled by the card's share over
the reference card's (`catalog.generations.measured_scale`): a power-capped, down-clocked or
slower-memory card is predicted slower, a reference-like one as calibrated. An engine's own
overheads are not properties of the GPU and stay as they are (fit them with `fleetplan
calibrate` on a serving benchmark of your own).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json
from fleetplan.cli.options import catalog_opt, gpu_opt, json_opt

# the GEMM shapes (m, n, k) whose best rate is the card's: square and the long-K / long-N
# shapes of LLM layers, each large enough to fill the GPU
GEMM_SHAPES = ((8192, 8192, 8192), (4096, 4096, 16384), (16384, 8192, 4096), (8192, 28672, 4096))


def _timed(torch: Any, fn: Any, repeat: int = 10) -> float:
    """Median seconds of `fn()` on the GPU (CUDA events, after a warm-up)."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return times[len(times) // 2]


def run_microbenchmarks(
    torch: Any, model: Any, batches: list[int], contexts: list[int], fmt16: str = "bf16"
) -> dict:
    """Times of the GEMMs, the copy and the decode diagnostics, in 16-bit `fmt16`."""
    dev, dt = "cuda", (torch.bfloat16 if fmt16 == "bf16" else torch.float16)
    gemm_tflops = {}
    for m, n, k in GEMM_SHAPES:
        a = torch.randn(m, k, device=dev, dtype=dt)
        b = torch.randn(k, n, device=dev, dtype=dt)
        gemm_tflops[f"{m}x{n}x{k}"] = 2 * m * n * k / _timed(torch, lambda a=a, b=b: a @ b) / 1e12
        del a, b
    src = torch.empty(2**30 // 2, device=dev, dtype=dt)
    dst = torch.empty_like(src)
    copy_s = _timed(torch, lambda s=src, d=dst: d.copy_(s))
    bandwidth_gb_s = 2 * src.numel() * 2 / copy_s / 1e9  # read + write
    del src, dst
    h, inter = model.hidden_size, model.intermediate_size
    q = model.attention_heads * model.head_dim
    kv = model.kv_heads * model.head_dim
    shapes = [(h, q + 2 * kv), (q, h), (h, 2 * inter), (inter, h)]
    # 8 layers' distinct weights (past any L2), each read once a step
    layers = min(model.layers, 8)
    weights = [[torch.randn(k, m, device=dev, dtype=dt) for k, m in shapes] for _ in range(layers)]
    layer_bytes = sum(k * m for k, m in shapes) * 2

    def step(x: Any) -> None:
        for w in weights:
            for (k, _m), mat in zip(shapes, w, strict=True):
                x[:, :k] @ mat

    decode = {}
    for bsz in batches:
        x = torch.randn(bsz, max(h, q, inter), device=dev, dtype=dt)
        decode[bsz] = _timed(torch, lambda x=x: step(x)) / layers  # seconds per layer
    weights.clear()  # free the layers before the attention buffers
    attention = {}
    sdpa = torch.nn.functional.scaled_dot_product_attention
    for ctx in contexts:
        qt = torch.randn(8, model.attention_heads, 1, model.head_dim, device=dev, dtype=dt)
        kt = torch.randn(8, model.attention_heads, ctx, model.head_dim, device=dev, dtype=dt)
        vt = torch.randn_like(kt)
        secs = _timed(torch, lambda q=qt, k=kt, v=vt: sdpa(q, k, v))
        attention[ctx] = (secs, 2 * kt.numel() * 2)  # K and V bytes read
    return {
        "gemm_tflops": gemm_tflops,
        "bandwidth_gb_s": bandwidth_gb_s,
        "layer_bytes": layer_bytes,
        "decode_s_per_layer": decode,
        "attention": attention,
    }


def profiles_dir() -> Path:
    """Where `measure` writes profiles without --out: the user's data folder, never the
    current one."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "fleetplan" / "profiles"


def default_profile_path(gpu_id: str) -> Path:
    """A new file in `profiles_dir()` named by the GPU and the time (the folder is created)."""
    import datetime as dt

    folder = profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"measured-{gpu_id}-{dt.datetime.now():%Y%m%d-%H%M%S}.toml"


@app.command("measure")
@gpu_opt()
@click.option(
    "--model",
    default="llama-3.1-8b",
    help="Model whose layer shapes the decode-step diagnostic uses.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Catalog file to write (default: measured-<gpu>-<date>.toml in the user data "
    "folder, $XDG_DATA_HOME/fleetplan/profiles or ~/.local/share/fleetplan/profiles; "
    "never the current folder).",
)
@catalog_opt()
@json_opt("json_out")
def measure(
    gpu: str,
    model: str,
    out: Path | None,
    catalog: list[Path] | None,
    json_out: bool,
) -> None:
    """Measure this GPU (PyTorch) against its catalog spec and write a catalog file (--catalog)
    that scales every engine's efficiency on it by how it compares with the reference card."""
    import datetime as dt
    import json

    from fleetplan.catalog.generations import GEMM_PEAK_SHARE, HBM_PEAK_SHARE
    from fleetplan.errors import InputError, UnsupportedError
    from fleetplan.files import check_output_file, write_text_atomic

    if out is not None:  # before any work, so a bad path costs nothing
        check_output_file(out, "--out")
    try:
        import torch
    except ImportError:
        raise UnsupportedError(
            "fleetplan measure needs PyTorch with a GPU build (pip install torch) and the GPU"
        ) from None
    if not torch.cuda.is_available():
        raise UnsupportedError("fleetplan measure needs a GPU; torch sees none")
    cat = catalog_from(catalog)
    spec, m = cat.gpu(gpu), cat.model(model)
    fmt16 = "bf16" if spec.runs_natively("bf16") else "fp16"  # the card's 16-bit GEMM format
    name = torch.cuda.get_device_name()
    click.echo(
        f"measuring {name} as {spec.id}: {len(GEMM_SHAPES)} GEMM shapes, a 1 GiB copy, "
        f"{m.id}'s decode layers and attention",
        err=True,
    )
    r = run_microbenchmarks(torch, m, [1, 8, 32, 64], [1024, 4096, 16384], fmt16)
    best_tflops = max(r["gemm_tflops"].values())
    gemm_share = best_tflops * 1e12 / spec.peak_flops(fmt16)
    bandwidth_share = r["bandwidth_gb_s"] * 1e9 / spec.memory_bandwidth_bytes_s
    for what, share in (("16-bit GEMM rate", gemm_share), ("copy bandwidth", bandwidth_share)):
        if share > 1.0:  # beyond the spec: --gpu names another card than this one
            raise InputError(
                f"--gpu = {gpu!r}: this card's {what} is {share:.2f}x the {spec.id} spec; "
                f"torch sees {name!r}: give the catalog GPU it is (fleetplan gpus)"
            )
    if out is None:
        out = default_profile_path(spec.id)
    today = dt.date.today().isoformat()
    basis = f"fleetplan measure on {name}, {today}"
    arch = spec.architecture
    refs = {"gemm": GEMM_PEAK_SHARE.get(arch, 0.0), "bandwidth": HBM_PEAK_SHARE.get(arch, 0.0)}
    lines = [
        f"# {basis}: best 16-bit GEMM {best_tflops:.0f} TFLOPS, "
        f"copy {r['bandwidth_gb_s']:.0f} GB/s",
        f"# use: --catalog {out}",
        "",
        f'[gpus."{spec.id}"]',
        f"measured_gemm_share = {gemm_share:.4f}",
        f"measured_bandwidth_share = {bandwidth_share:.4f}",
        f"measured = {json.dumps(basis)}",
    ]
    write_text_atomic(out, "\n".join(lines) + "\n")
    shares = {"gemm": gemm_share, "bandwidth": bandwidth_share}
    scales = {k: shares[k] / refs[k] if refs[k] else None for k in shares}
    per_layer = r["decode_s_per_layer"]
    result = {
        "device": name,
        "gpu": spec.id,
        "gemm_tflops": r["gemm_tflops"],
        "copy_gb_s": r["bandwidth_gb_s"],
        "gemm_share_of_spec": gemm_share,
        "bandwidth_share_of_spec": bandwidth_share,
        "reference_share_of_spec": {k: (v or None) for k, v in refs.items()},
        "factor_scale": scales,
        "decode_weight_stream_share_of_spec": {
            b: r["layer_bytes"] / s / spec.memory_bandwidth_bytes_s for b, s in per_layer.items()
        },
        "decode_attention_share_of_spec": {
            ctx: nbytes / secs / spec.memory_bandwidth_bytes_s
            for ctx, (secs, nbytes) in r["attention"].items()
        },
        "profile": str(out),
    }
    if json_out:
        print_json(result)
        return
    click.echo(f"{name} as {spec.id} ({arch}):")
    click.echo(
        f"  16-bit GEMM: best {best_tflops:,.0f} TFLOPS = {gemm_share:.1%} of the "
        f"{spec.peak_flops(fmt16) / 1e12:,.0f} TFLOPS {fmt16} spec"
        + (f" (reference {arch} card: {refs['gemm']:.1%})" if refs["gemm"] else "")
    )
    click.echo(
        f"  copy: {r['bandwidth_gb_s']:,.0f} GB/s = {bandwidth_share:.1%} of the "
        f"{spec.memory_bandwidth_gb_s:,.0f} GB/s spec"
        + (f" (reference {arch} card: {refs['bandwidth']:.1%})" if refs["bandwidth"] else "")
    )
    for key, label in (
        ("gemm", "GEMM-bound factors (mfu_prefill)"),
        ("bandwidth", "bandwidth-bound factors (mbu, attention_mbu)"),
    ):
        x = scales[key]
        click.echo(
            f"  {label}: x{x:.3f} on this card"
            if x is not None
            else f"  {label}: as calibrated (no reference {arch} card measured the same way)"
        )
    click.echo(f"wrote {out}; use it with --catalog {out}")
