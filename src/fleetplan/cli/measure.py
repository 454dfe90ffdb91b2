"""`fleetplan measure`: microbenchmarks of this machine's GPU, written as a calibration profile.

Needs PyTorch with a CUDA GPU. It times (1) a bf16 matrix multiply, (2) a device-to-device
copy (memory bandwidth), (3) decode steps of a model's shape with random weights (every linear
layer of every layer at batch sizes 1..64) and (4) decode attention over a KV cache at several
contexts, and turns them into the engine-profile factors mfu_prefill, mbu and attention_mbu
relative to the catalog's spec of the GPU given with --gpu. The engine's per-step overhead is
not a property of the GPU and is left as it is (fit it with `fleetplan calibrate` on a real
serving benchmark).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from fleetplan.cli import app
from fleetplan.cli.common import catalog_from, print_json
from fleetplan.cli.options import catalog_opt, engine_opt, gpu_opt, json_opt


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


def run_microbenchmarks(torch: Any, model: Any, batches: list[int], contexts: list[int]) -> dict:
    dev, dt = "cuda", torch.bfloat16
    n = 8192
    a = torch.randn(n, n, device=dev, dtype=dt)
    b = torch.randn(n, n, device=dev, dtype=dt)
    mm_s = _timed(torch, lambda a=a, b=b: a @ b)
    matmul_tflops = 2 * n**3 / mm_s / 1e12
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
    # one layer's weights, reused for every layer (the step streams them once per layer)
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
    attention = {}
    sdpa = torch.nn.functional.scaled_dot_product_attention
    for ctx in contexts:
        qt = torch.randn(8, model.attention_heads, 1, model.head_dim, device=dev, dtype=dt)
        kt = torch.randn(8, model.attention_heads, ctx, model.head_dim, device=dev, dtype=dt)
        vt = torch.randn_like(kt)
        secs = _timed(torch, lambda q=qt, k=kt, v=vt: sdpa(q, k, v))
        attention[ctx] = (secs, 2 * kt.numel() * 2)  # K and V bytes read
    return {
        "matmul_tflops": matmul_tflops,
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
    "--model", default="llama-3.1-8b", help="Model whose layer shapes the decode steps use."
)
@engine_opt(default="vllm")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Profile file to write (default: measured-<gpu>-<date>.toml in the user data "
    "folder, $XDG_DATA_HOME/fleetplan/profiles or ~/.local/share/fleetplan/profiles; "
    "never the current folder).",
)
@catalog_opt()
@json_opt("json_out")
def measure(
    gpu: str,
    model: str,
    engine: str,
    out: Path | None,
    catalog: list[Path] | None,
    json_out: bool,
) -> None:
    """Measure this GPU (PyTorch + CUDA) and write a calibration profile (--catalog file)."""
    import datetime as dt
    import json

    from fleetplan.errors import UnsupportedError
    from fleetplan.files import check_output_file, write_text_atomic

    if out is not None:  # before any work, so a bad path costs nothing
        check_output_file(out, "--out")
    try:
        import torch
    except ImportError:
        raise UnsupportedError(
            "fleetplan measure needs PyTorch with CUDA (pip install torch) and an NVIDIA GPU"
        ) from None
    if not torch.cuda.is_available():
        raise UnsupportedError("fleetplan measure needs a CUDA GPU; torch sees none")
    cat = catalog_from(catalog)
    spec, m, eng = cat.gpu(gpu), cat.model(model), cat.engine(engine)
    if out is None:
        out = default_profile_path(spec.id)
    r = run_microbenchmarks(torch, m, [1, 8, 32, 64], [1024, 4096, 16384])
    per_layer = r["decode_s_per_layer"]
    mbu = min(r["layer_bytes"] / per_layer[1] / spec.memory_bandwidth_bytes_s, 1.0)
    mfu = min(r["matmul_tflops"] / (spec.peak_flops("bf16") / 1e12), 1.0)
    att = [b / s / spec.memory_bandwidth_bytes_s for s, b in r["attention"].values()]
    attention_mbu = min(max(att), 1.0)
    name = torch.cuda.get_device_name()
    basis = f"fleetplan measure on {name} ({spec.id} spec), {m.id} layer shapes"
    today = dt.date.today().isoformat()
    factors = {"mbu": mbu, "mfu_prefill": mfu, "attention_mbu": attention_mbu}
    lines = [
        f"# {basis}, {today}",
        f"# bf16 matmul {r['matmul_tflops']:.0f} TFLOPS; copy {r['bandwidth_gb_s']:.0f} GB/s",
        f"# use: --catalog {out}",
        "",
        f'[engines."{eng.id}"]',
        *(f"{k} = {v:.4f}" for k, v in factors.items()),
        "",
        f'[engines."{eng.id}".sources]',
    ]
    sources = dict(eng.sources) | {k: f"measured: {basis}, {today}" for k in factors}
    lines += [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in sources.items()]
    write_text_atomic(out, "\n".join(lines) + "\n")
    result = {
        "device": name,
        "matmul_tflops": r["matmul_tflops"],
        "copy_gb_s": r["bandwidth_gb_s"],
        "decode_ms_per_layer": {b: s * 1e3 for b, s in per_layer.items()},
        "factors": factors,
        "profile": str(out),
    }
    if json_out:
        print_json(result)
    else:
        for k, v in result.items():
            click.echo(f"{k}: {v}")
