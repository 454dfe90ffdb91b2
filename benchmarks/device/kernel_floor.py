"""Kernel-level floors of one GPU, measured with PyTorch under CUDA graphs: what a decode step's
small kernels cost whatever their bytes. Prints a table and writes JSON (--out).

  python benchmarks/device/kernel_floor.py --out kernel_floor.json

Needs torch with a CUDA GPU (not a fleetplan dependency). Measures:
- the time of one small dependent kernel node in a replayed CUDA graph (the launch floor);
- 16-bit GEMMs at decode token counts over weight slices the size of tensor-parallel experts
  and projections, each weight distinct so none is served from L2: time = floor + bytes / rate;
- grouped expert GEMMs (torch._grouped_mm, where this torch has it): the cost of one more expert
  slice at a fixed token count;
- a large device-to-device copy: the memory bandwidth kernels reach.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time


def graph_time_s(torch, fn, reps: int = 20) -> float:
    """Median seconds of one replay of a CUDA graph capturing `fn` (warmed first)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    g.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    del g
    return statistics.median(times)


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return my - slope * mx, slope


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    import torch

    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    out: dict = {
        "gpu": props.name,
        "sms": props.multi_processor_count,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "host": platform.node(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    print(f"{out['gpu']} ({out['sms']} SMs, {out['memory_gib']} GiB), torch {out['torch']}")
    bf16 = torch.bfloat16

    # 1. launch floor: n dependent tiny kernels in one graph
    x = torch.zeros(4096, device=dev, dtype=bf16)
    floors = {}
    for n in (100, 400):
        t = graph_time_s(torch, lambda n=n: [x.add_(1) for _ in range(n)])
        floors[n] = t
    per_node_us = (floors[400] - floors[100]) / 300 * 1e6
    out["graph_node_us"] = per_node_us
    print(f"tiny kernel in a CUDA graph: {per_node_us:.2f} us a node")

    # 2. memory bandwidth: a 4 GiB copy
    src = torch.empty(2**31, device=dev, dtype=bf16)
    dst = torch.empty_like(src)
    t = graph_time_s(torch, lambda s=src, d=dst: d.copy_(s), reps=10)
    bw = 2 * src.numel() * 2 / t
    out["copy_bytes_per_s"] = bw
    print(f"device copy: {bw / 1e12:.2f} TB/s (read + write)")
    del src, dst
    torch.cuda.empty_cache()

    # 3. GEMMs at decode token counts over distinct weights (a pool well past L2)
    shapes = {  # (K, N): a tensor-parallel slice (16-bit)
        "qwen3-235b expert w13 tp8 (4096x384)": (4096, 384),
        "qwen3-235b expert w2 tp8 (192x4096)": (192, 4096),
        "qwen3-235b expert w13 tp4 (4096x768)": (4096, 768),
        "deepseek expert w13 tp8 (7168x512)": (7168, 512),
        "llama-8b qkv tp1 (4096x6144)": (4096, 6144),
        "llama-70b down tp8 (3584x8192)": (3584, 8192),
    }
    gemm_rows = []
    for label, (k, n) in shapes.items():
        per = k * n * 2
        count = max(8, min(256, int(512e6 // per)))
        ws = [torch.randn(k, n, device=dev, dtype=bf16) for _ in range(count)]
        for m in (1, 4, 16, 64):
            a = torch.randn(m, k, device=dev, dtype=bf16)
            t = graph_time_s(torch, lambda a=a, ws=ws: [a @ w for w in ws]) / count
            gemm_rows.append({"shape": label, "k": k, "n": n, "m": m, "bytes": per, "s": t})
            print(f"  {label:<40} M={m:<3d} {t * 1e6:7.2f} us  {per / t / 1e12:5.2f} TB/s")
        del ws
        torch.cuda.empty_cache()
    xs = [r["bytes"] for r in gemm_rows if r["m"] == 4]
    ys = [r["s"] for r in gemm_rows if r["m"] == 4]
    a0, b0 = fit_line(xs, ys)
    out["gemm_m4_floor_us"] = a0 * 1e6
    out["gemm_m4_bytes_per_s"] = 1 / b0
    print(f"GEMM at 4 tokens: {a0 * 1e6:.2f} us + bytes at {1 / b0 / 1e12:.2f} TB/s")
    out["gemm"] = gemm_rows

    # 4. grouped expert GEMMs: cost of one more expert slice
    grouped = []
    if hasattr(torch, "_grouped_mm"):
        for label, (k, n) in (("4096x384", (4096, 384)), ("7168x512", (7168, 512))):
            for tok_per_expert in (1, 4, 16):
                pts = []
                for e in (8, 32, 64, 128):
                    layers = max(2, int(1.2e9 // (e * k * n * 2)))
                    w = [  # column-major experts, the layout CUTLASS's grouped GEMM reads
                        torch.randn(e, n, k, device=dev, dtype=bf16).transpose(-2, -1)
                        for _ in range(layers)
                    ]
                    xa = torch.randn(e * 16, k, device=dev, dtype=bf16)[: e * tok_per_expert]
                    offs = torch.arange(
                        tok_per_expert,
                        e * tok_per_expert + 1,
                        tok_per_expert,
                        device=dev,
                        dtype=torch.int32,
                    )
                    try:
                        t = (
                            graph_time_s(
                                torch,
                                lambda w=w, xa=xa, offs=offs: [
                                    torch._grouped_mm(xa, wi, offs=offs) for wi in w
                                ],
                            )
                            / layers
                        )
                    except Exception as exc:
                        print(f"  grouped_mm {label}: {type(exc).__name__}: {exc}"[:200])
                        break
                    pts.append((e, t))
                    grouped.append(
                        {
                            "shape": label,
                            "tokens_per_expert": tok_per_expert,
                            "experts": e,
                            "s": t,
                            "bytes": e * k * n * 2,
                        }
                    )
                    del w
                    torch.cuda.empty_cache()
                if len(pts) >= 2:
                    a1, b1 = fit_line([p[0] for p in pts], [p[1] for p in pts])
                    stream_us = k * n * 2 * b0 * 1e6  # the slice at the GEMMs' byte rate
                    print(
                        f"  grouped {label} {tok_per_expert:>2} tok/expert: {a1 * 1e6:6.1f} us"
                        f" + {b1 * 1e6:5.2f} us an expert (its bytes at the GEMM rate:"
                        f" {stream_us:.2f} us)"
                    )
    out["grouped"] = grouped

    # 5. attention decode kernel (scaled_dot_product_attention, one query token a sequence)
    attn_rows = []
    for heads, kv_heads, ctx in ((8, 1, 512), (8, 1, 4096), (32, 8, 512), (32, 8, 4096)):
        for batch in (1, 4, 32):
            q = torch.randn(batch, heads, 1, 128, device=dev, dtype=bf16)
            kk = torch.randn(batch, kv_heads, ctx, 128, device=dev, dtype=bf16)
            vv = torch.randn_like(kk)
            fn = torch.nn.functional.scaled_dot_product_attention
            t = (
                graph_time_s(
                    torch,
                    lambda q=q, kk=kk, vv=vv, fn=fn: [
                        fn(q, kk, vv, enable_gqa=True) for _ in range(20)
                    ],
                )
                / 20
            )
            kv_bytes = 2 * kk.numel() * 2
            attn_rows.append(
                {
                    "heads": heads,
                    "kv_heads": kv_heads,
                    "ctx": ctx,
                    "batch": batch,
                    "s": t,
                    "kv_bytes": kv_bytes,
                }
            )
            print(
                f"  attention {heads}/{kv_heads} heads ctx {ctx:>5} batch {batch:>2}:"
                f" {t * 1e6:6.2f} us ({kv_bytes / t / 1e12:.2f} TB/s of KV)"
            )
    out["attention"] = attn_rows

    # 6. a dense decoder layer at 4 tokens (8B-sized, PyTorch ops): measured against the sum of
    # its kernels' floors and bytes, to see whether the floors add
    h, ffn, m = 4096, 14336, 4
    wq = torch.randn(h, 6144, device=dev, dtype=bf16)
    wo = torch.randn(4096, h, device=dev, dtype=bf16)
    wgu = torch.randn(h, 2 * ffn, device=dev, dtype=bf16)
    wd = torch.randn(ffn, h, device=dev, dtype=bf16)
    kc = torch.randn(m, 8, 512, 128, device=dev, dtype=bf16)
    vc = torch.randn_like(kc)
    xin = torch.randn(m, h, device=dev, dtype=bf16)
    norm = torch.nn.functional.rms_norm

    def layer(x=xin):
        y = norm(x, (h,))
        qkv = y @ wq
        q = qkv[:, :4096].view(m, 32, 1, 128)
        a = torch.nn.functional.scaled_dot_product_attention(q, kc, vc, enable_gqa=True).reshape(
            m, 4096
        )
        x = x + a @ wo
        y = norm(x, (h,))
        gu = y @ wgu
        act = torch.nn.functional.silu(gu[:, :ffn]) * gu[:, ffn:]
        return x + act @ wd

    n_layers = 32
    t_layer = graph_time_s(torch, lambda: [layer() for _ in range(n_layers)]) / n_layers
    weight_bytes = 2 * (wq.numel() + wo.numel() + wgu.numel() + wd.numel())
    out["dense_layer"] = {"s": t_layer, "weight_bytes": weight_bytes}
    print(
        f"dense 8B-sized layer at 4 tokens: {t_layer * 1e6:.1f} us"
        f" (weights {weight_bytes / 1e6:.0f} MB, {weight_bytes / t_layer / 1e12:.2f} TB/s;"
        f" weights at the GEMM slope {weight_bytes * b0 * 1e6:.1f} us)"
    )
    # 7. MAC rate against tokens: a dense GEMM by tokens, a grouped expert GEMM by tokens an expert
    # dense 16-bit spec peaks (NVIDIA's datasheets, as fleetplan's gpus.toml holds them): only
    # for the "of spec" column; another GPU prints without it
    peak = {"H100": 989e12, "H200": 989e12, "B200": 2250e12, "A100": 312e12}
    spec = next((v for k, v in peak.items() if k in props.name), 0.0)
    ramp = []
    w = torch.randn(4096, 6144, device=dev, dtype=bf16)
    for m in (16, 64, 256, 1024, 4096, 16384):
        a = torch.randn(m, 4096, device=dev, dtype=bf16)
        t = graph_time_s(torch, lambda a=a, w=w: [a @ w for _ in range(10)]) / 10
        rate = 2 * m * 4096 * 6144 / t
        ramp.append({"kind": "dense 4096x6144", "tokens": m, "s": t, "flops_per_s": rate})
        print(
            f"  dense GEMM 4096x6144 at {m:>5} tokens: {t * 1e6:8.1f} us, {rate / 1e12:6.1f} TFLOPS"
            + (f" ({rate / spec:.2f} of spec)" if spec else "")
        )
    del w
    if hasattr(torch, "_grouped_mm"):
        for k, n in ((4096, 384), (192, 4096), (4096, 3072)):
            e = 128
            wg = torch.randn(e, n, k, device=dev, dtype=bf16).transpose(-2, -1)
            for tpe in (1, 4, 16, 32, 64, 128, 256, 512):
                xa = torch.randn(e * tpe, k, device=dev, dtype=bf16)
                offs = torch.arange(tpe, e * tpe + 1, tpe, device=dev, dtype=torch.int32)
                t = graph_time_s(
                    torch, lambda xa=xa, offs=offs, wg=wg: torch._grouped_mm(xa, wg, offs=offs)
                )
                rate = 2 * e * tpe * k * n / t
                ramp.append(
                    {
                        "kind": f"grouped {e}x{k}x{n}",
                        "tokens_per_expert": tpe,
                        "s": t,
                        "flops_per_s": rate,
                        "bytes": e * k * n * 2,
                    }
                )
                print(
                    f"  grouped {e}x{k}x{n} at {tpe:>3} tokens an expert: {t * 1e6:8.1f} us,"
                    f" {rate / 1e12:6.1f} TFLOPS, weights at {e * k * n * 2 / t / 1e12:.2f} TB/s"
                )
                del xa
            del wg
            torch.cuda.empty_cache()
    out["mac_ramp"] = ramp
    # 8. prefill attention: a chunk of queries over its context (a long prompt's later chunks)
    prefill = []
    sdpa = torch.nn.functional.scaled_dot_product_attention
    for lq, lk, causal in ((8192, 8192, True), (8192, 16384, False), (2048, 32768, False)):
        q = torch.randn(1, 64, lq, 128, device=dev, dtype=bf16)
        kk = torch.randn(1, 8, lk, 128, device=dev, dtype=bf16)
        vv = torch.randn_like(kk)
        t = graph_time_s(
            torch,
            lambda q=q, kk=kk, vv=vv, c=causal: sdpa(q, kk, vv, is_causal=c, enable_gqa=True),
            reps=5,
        )
        flops = 4 * 64 * lq * lk * 128 * (0.5 if causal else 1.0)
        prefill.append({"q": lq, "kv": lk, "causal": causal, "s": t, "flops_per_s": flops / t})
        print(
            f"  prefill attention 64/8 heads, {lq} queries over {lk}{' causal' if causal else ''}:"
            f" {t * 1e3:7.2f} ms, {flops / t / 1e12:6.1f} TFLOPS"
            + (f" ({flops / t / spec:.2f} of spec)" if spec else "")
        )
        del q, kk, vv
    out["prefill_attention"] = prefill
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
