"""`--explain`: the calculation step by step, with every number and where it came from."""

from __future__ import annotations

from fleetplan.catalog.generations import measured_scale
from fleetplan.catalog.params import count_params
from fleetplan.estimate import PerfEstimate
from fleetplan.perf.expert_parallel import expert_overhead_reference_us
from fleetplan.perf.layer_floors import layer_kernel_scale
from fleetplan.perf.memory import Fit, kv_bytes_per_token_per_layer, weights
from fleetplan.perf.roofline import Setup, step_s
from fleetplan.perf.schedule import steady_mixed_step

GB = 1e9


def explain_fit(f: Fit, s: Setup) -> list[str]:
    m, g, p, e = s.model, s.gpu, s.precision, s.engine
    w = weights(m, p)
    c = count_params(m)
    per_layer = kv_bytes_per_token_per_layer(m, s.kv_bytes)
    lines = [
        f"Fit of {m.id} on {f.tp} x {g.id}, {p.id} weights, {f.kv_precision} KV cache, "
        f"context {f.context:,} tokens ({e.name} defaults)",
        "",
        "1. Weights",
        f"   parameters: {m.params_total_b:.2f} B total ({m.source})",
        f"   embeddings + lm_head: {(c.embedding + c.lm_head) / 1e9:.2f} B params "
        + ("(quantized with the rest)" if p.quantizes_embeddings else "(kept 16-bit)"),
        f"   {p.id}: {p.weight_bits:g} bits/param effective ({p.source})",
        f"   weights = {w.total_bytes / GB:.2f} GB; per GPU (/ tp {f.tp}) = "
        f"{f.weights_bytes_per_gpu / GB:.2f} GB",
        "",
        "2. KV cache per token",
    ]
    if m.is_mla:
        lines.append(
            f"   MLA: (kv_lora_rank {m.kv_lora_rank} + rope {m.qk_rope_head_dim}) x "
            f"{s.kv_bytes:g} B = {per_layer:,.0f} B per layer"
        )
    else:
        lines.append(
            f"   2 (K,V) x {m.kv_heads} KV heads x {m.head_dim} head dim x {s.kv_bytes:g} B "
            f"= {per_layer:,.0f} B per layer"
        )
    lines.append(
        f"   x {m.layers} layers = {f.kv_bytes_per_token:,.0f} B/token "
        f"({f.kv_bytes_per_token / 1024:.1f} KiB); per GPU {f.kv_bytes_per_token_per_gpu:,.0f} B"
    )
    if m.sliding_window_layers:
        lines.append(
            f"   {m.sliding_window_layers} of {m.layers} layers use a {m.sliding_window:,}-token "
            "sliding window and hold at most that many tokens"
        )
    lines.append(
        f"   one {f.context:,}-token sequence: {f.kv_bytes_per_sequence / GB:.3f} GB "
        f"({f.kv_bytes_per_sequence / 2**30:.3f} GiB)"
    )
    lines += [
        "",
        "3. Memory budget per GPU",
        f"   {g.id}: {g.memory_gib:g} GiB = {f.gpu_memory_bytes / GB:.2f} GB ({g.source})",
        f"   x gpu_memory_utilization {f.gpu_memory_utilization:g} = "
        f"{f.gpu_memory_bytes * f.gpu_memory_utilization / GB:.2f} GB usable",
        f"   - weights {f.weights_bytes_per_gpu / GB:.2f} GB",
        f"   - runtime overhead {f.runtime_overhead_bytes / GB:.2f} GB "
        f"({e.sources.get('runtime_overhead_gib', '')})",
        f"   - activation workspace {f.activation_bytes / GB:.2f} GB "
        f"(largest step: {e.max_num_batched_tokens} tokens, logits of {e.max_num_seqs} sequences)",
        f"   = {f.kv_budget_bytes_per_gpu / GB:.2f} GB for KV cache",
        "",
        "4. Capacity",
        f"   KV capacity = {max(f.kv_budget_bytes_per_gpu, 0) / GB:.2f} GB / "
        f"{f.kv_bytes_per_token_per_gpu:,.0f} B = {f.kv_capacity_tokens:,} tokens",
        f"   sequences of {f.context:,} tokens: {f.max_concurrent_sequences:,} "
        f"(engine cap max_num_seqs = {f.max_num_seqs})",
        f"   fits: {'yes' if f.fits else 'no'} — limit: {f.limit}",
    ]
    lines += [f"   note: {n}" for n in f.notes]
    return lines


def _scaled(s: Setup, name: str) -> str:
    """' = base x scale' where the profile scales factor `name` on this GPU's generation or
    this weight format (what the scale stands on: the profile's architecture_scale and
    format_scale sources) or `fleetplan measure` read this card against its generation's
    reference (`catalog.generations.measured_scale`), '' where none does."""
    e, arch, prec = s.engine, s.gpu.architecture, s.precision.id
    parts = [
        f"{table}{' ' + key if key else ''} x{scale:.3g}"
        for table, key, scale in (
            ("architecture_scale", arch, e.architecture_scale.get(arch, {}).get(name, 1.0)),
            ("format_scale", prec, e.format_scale.get(prec, {}).get(name, 1.0)),
            ("this card as measured", "", measured_scale(s.gpu, name)),
        )
        if scale != 1.0
    ]
    return f" = {getattr(e, name):.3g} x {' x '.join(parts)}" if parts else ""


def explain_perf(pe: PerfEstimate) -> list[str]:
    s = pe.setup
    m, g, e = s.model, s.gpu, s.engine
    i, o = pe.input_tokens, pe.output_tokens
    layer_scale = layer_kernel_scale(m, s.precision)
    lines = [
        f"Performance of {s.label}, {pe.schedule} batching, {i} input + {o} output tokens",
        "",
        "Hardware and efficiency (per GPU)",
        f"   peak {s.compute_format}: {s.peak_flops / 1e12:,.1f} TFLOPS dense; "
        f"bandwidth {s.bandwidth / 1e9:,.0f} GB/s ({g.source})",
        f"   mbu {s.mbu:.2f}{_scaled(s, 'mbu')} ({e.sources.get('mbu', '')})",
        f"   attention mbu {s.attention_mbu:.2f}{_scaled(s, 'attention_mbu')} "
        f"({e.sources.get('attention_mbu', '')})",
        f"   mfu {s.mfu:.2f}{_scaled(s, 'mfu_prefill')} ({e.sources.get('mfu_prefill', '')})"
        + (
            f"; GEMM efficiency n/(n + {s.gemm_half_tokens:g}) with n tokens in the step"
            if s.gemm_half_tokens
            else ""
        ),
        f"   step overhead {s.step_overhead_s * 1e3:.2f} ms "
        f"({e.sources.get('step_overhead_ms', '')})",
        f"   layer overhead {s.layer_overhead_s * 1e6:.1f} us a layer x {m.layers} layers "
        f"({s.layer_overhead_s / layer_scale * 1e6:.1f} us for a 16-bit dense GQA layer x "
        f"{layer_scale:.2f}, this layer's kernel floors over that one's, measured on an H200)",
        "",
        "Per step (per GPU)",
        f"   weights streamed: {s.dense_bytes_gpu / GB:.3f} GB"
        + (
            f" + {s.expert_bytes_gpu / 1e6:.1f} MB per routed expert per layer "
            "(expected distinct experts E(1-(1-k/E)^n))"
            + (
                f", each run costing {s.moe_expert_overhead_s * 1e6:.2g} us a layer "
                f"({expert_overhead_reference_us(s.moe_expert_overhead_s, s.bandwidth):.2g} us at "
                "an H100 SXM's memory bandwidth, scaled by this GPU's)"
                if s.moe_expert_overhead_s
                else ""
            )
            if m.is_moe
            else ""
        )
        + (
            f"; a decode step {s.mla_decode_bytes_gpu / GB:.3f} GB more (the absorbed MLA "
            "matrices this release keeps, less the raw projections they stand in for)"
            if s.mla_decode_bytes_gpu
            else ""
        ),
        f"   linear FLOPs per token: {s.linear_flops_per_token_gpu / 1e9:.2f} GFLOP "
        f"(2 x {m.params_active_b:.2f} B active params, less the embedding lookup, / tp)",
        f"   attention: {s.kv_layer_bytes_gpu * m.layers:,.0f} B of KV read and "
        f"{s.attn_flops_per_ctx_token_gpu / 1e6:.2f} MFLOP per token of context",
    ]
    if s.tp > 1:
        lines.append(
            f"   tensor parallel {s.tp}: 2 all-reduces per layer over {g.interconnect} "
            f"{g.interconnect_gb_s:g} GB/s"
            + (
                f" (all-reduce bus bandwidth {s.link_gb_s:.3g})"
                if s.link_gb_s != g.interconnect_gb_s
                else ""
            )
            + f" + {s.allreduce_latency_s * 1e6:.0f} us each"
        )
    lines += ["", "Per batch size"]
    ctx = i + o / 2
    for k, b in enumerate(pe.result.batch):
        if pe.schedule == "continuous":
            st = steady_mixed_step(s, b, i, o, ctx)
            what = f"{b:g} decodes at context {ctx:g} + {b * i / o:,.1f} prefill tokens"
        else:
            st = step_s(s, b, ctx)
            what = f"{b:g} decodes at mean context {ctx:g}"
        lines += [
            f"  batch {b:g}: step = {what}",
            f"     linear: compute {float(st.linear_compute_s) * 1e3:.3f} ms + "
            f"weight stream {float(st.linear_memory_s) * 1e3:.3f} ms",
            f"     attention: max(compute {float(st.attention_compute_s) * 1e3:.3f} ms, "
            f"KV reads {float(st.kv_bytes) / GB:.3f} GB = "
            f"{float(st.attention_memory_s) * 1e3:.3f} ms)",
            f"     + comm {float(st.comm_s) * 1e3:.3f} ms + overhead "
            f"{float(st.overhead_s) * 1e3:.3f} ms = {float(st.total_s) * 1e3:.3f} ms "
            f"(bound: {pe.result.binding[k]})",
            f"     -> TPOT {pe.result.tpot_s[k] * 1e3:.2f} ms, "
            f"TTFT {pe.result.ttft_s[k] * 1e3:.1f} ms, "
            f"{pe.result.output_tok_per_s[k]:,.0f} output tok/s"
            + ("" if pe.fits[k] else "  [does NOT fit in KV memory]"),
        ]
    bound = g.memory_bandwidth_bytes_s / (s.dense_bytes_gpu * s.tp) * s.tp
    lines += [
        "",
        f"Roofline reference: batch-1 ceiling bandwidth / weights = {bound:,.0f} tok/s "
        f"at 100 % bandwidth (the usual rule of thumb); the model adds efficiency, KV reads, "
        "attention and overhead.",
    ]
    lines += [f"Note: {n}" for n in s.notes]
    return lines
