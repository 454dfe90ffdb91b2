"""Plain-dict records of results: the JSON contract scripts depend on (tests/cli/test_json_output.py
holds it)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.specs import GpuSpec, ModelSpec, Offer
from fleetplan.estimate import PerfEstimate
from fleetplan.perf.memory import Fit


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


def fit_record(f: Fit) -> dict[str, Any]:
    return {
        "model": f.model,
        "gpu": f.gpu,
        "precision": f.precision,
        "kv_precision": f.kv_precision,
        "tp": f.tp,
        "context": f.context,
        "fits": f.fits,
        "weights_gb": _r(f.weights_bytes / 1e9),
        "weights_gb_per_gpu": _r(f.weights_bytes_per_gpu / 1e9),
        "gpu_memory_gb": _r(f.gpu_memory_bytes / 1e9),
        "gpu_memory_utilization": f.gpu_memory_utilization,
        "runtime_overhead_gb": _r(f.runtime_overhead_bytes / 1e9),
        "activation_gb": _r(f.activation_bytes / 1e9),
        "kv_budget_gb_per_gpu": _r(max(f.kv_budget_bytes_per_gpu, 0.0) / 1e9),
        "kv_bytes_per_token": int(f.kv_bytes_per_token),
        "kv_bytes_per_sequence": int(f.kv_bytes_per_sequence),
        "kv_capacity_tokens": f.kv_capacity_tokens,
        "max_concurrent_sequences": f.max_concurrent_sequences,
        "max_num_seqs": f.max_num_seqs,
        "limit": f.limit,
        "notes": list(f.notes),
        "basis": "analytic memory model (fleetplan docs memory)",
    }


def unsupported_fit_record(model: str, gpu: str, precision: str, tp: int, reason: str) -> dict:
    return {
        "model": model,
        "gpu": gpu,
        "precision": precision,
        "tp": tp,
        "fits": False,
        "weights_gb": None,
        "kv_bytes_per_token": None,
        "kv_capacity_tokens": 0,
        "max_concurrent_sequences": 0,
        "limit": reason,
    }


def perf_records(p: PerfEstimate) -> list[dict[str, Any]]:
    r = p.result
    err = p.expected_error.record() if p.expected_error else None
    rows = []
    for i, b in enumerate(r.batch):
        rows.append(
            {
                "batch": int(b),
                "fits": bool(p.fits[i]),
                "prefill_ms": _r(r.prefill_s[i] * 1e3),
                "ttft_ms": _r(r.ttft_s[i] * 1e3),
                "tpot_ms": _r(r.tpot_s[i] * 1e3),
                "output_tok_per_s": _r(r.output_tok_per_s[i], 1),
                "total_tok_per_s": _r(r.total_tok_per_s[i], 1),
                "step_ms": _r(r.step_s[i] * 1e3),
                "bound": r.binding[i],
                "model": p.setup.model.id,
                "gpu": p.setup.gpu.id,
                "precision": p.setup.precision.id,
                "tp": p.setup.tp,
                "engine": p.setup.engine.id,
                "engine_family": p.setup.engine.family_label,
                "schedule": p.schedule,
                "input_tokens": p.input_tokens,
                "output_tokens": p.output_tokens,
                "basis": "analytic roofline with engine efficiency factors "
                "(fleetplan docs performance)",
                "expected_error": err,
            }
        )
    return rows


def gpu_record(g: GpuSpec) -> dict[str, Any]:
    d = asdict(g)
    d["aliases"] = list(g.aliases)
    d["native_formats"] = list(g.native_formats)
    d["memory_gb"] = _r(g.memory_bytes / 1e9)
    return d


def model_record(m: ModelSpec) -> dict[str, Any]:
    d = asdict(m)
    d["aliases"] = list(m.aliases)
    d["native_precision"] = m.native_precision  # what precision "auto" runs
    return d


def engine_record(e: EngineProfile) -> dict[str, Any]:
    d = asdict(e)
    d["aliases"] = list(e.aliases)
    d["precisions"] = list(e.precisions)
    d["versions"] = e.versions
    d["family_label"] = e.family_label
    d["borrowed_generations"] = list(e.borrowed_generations)
    return d


def offer_record(o: Offer) -> dict[str, Any]:
    d = asdict(o)
    d["id"] = o.id
    d["usd_per_instance_hour"] = round(o.usd_per_instance_hour, 4)
    return d
