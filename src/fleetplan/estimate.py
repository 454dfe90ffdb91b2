"""Library entry points for fit and perf: names in, results out (no printing, no files).

`estimate_fit` and `estimate_perf` resolve catalog names (or a config.json path), check the
combination and run the memory and performance models.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fleetplan.catalog import AUTO_PRECISION, Catalog, is_auto, load_catalog, resolve_model
from fleetplan.catalog.error_bands import ExpectedError, for_configuration
from fleetplan.catalog.specs import GpuSpec, ModelSpec
from fleetplan.errors import FleetplanError, InputError, UnsupportedError
from fleetplan.perf import schedule
from fleetplan.perf.formats import compute_format_for
from fleetplan.perf.memory import Fit, fit
from fleetplan.perf.roofline import Setup, check_tp, setup

DEFAULT_CONTEXT = 8192


def default_context(model: ModelSpec) -> int:
    """The context `fit` assumes when none is given: 8,192 tokens or the model's maximum."""
    return min(model.max_context, DEFAULT_CONTEXT)


def estimate_fit(
    model: str | ModelSpec,
    gpu: str | GpuSpec,
    *,
    precision: str = AUTO_PRECISION,
    kv_precision: str = "auto",
    tp: int = 1,
    context: int | None = None,
    engine: str = "vllm",
    gpu_memory_utilization: float | None = None,
    catalog: Catalog | None = None,
    attention_dp: int = 1,
) -> Fit:
    """Fit of one model on one GPU type (raises UnsupportedError if it cannot run there)."""
    s = resolve_setup(model, gpu, precision, engine, tp, kv_precision, catalog, attention_dp)
    m = s.model
    ctx = default_context(m) if context is None else context
    return fit(
        m,
        s.gpu,
        s.precision,
        s.engine,
        kv_precision=kv_precision,
        tp=tp,
        context=ctx,
        gpu_memory_utilization=gpu_memory_utilization,
        notes=s.notes,
        attention_dp=attention_dp,
    )


def resolve_setup(
    model: str | ModelSpec,
    gpu: str | GpuSpec,
    precision: str = AUTO_PRECISION,
    engine: str = "vllm",
    tp: int = 1,
    kv_precision: str = "auto",
    catalog: Catalog | None = None,
    attention_dp: int = 1,
) -> Setup:
    """Resolve names (or a config.json path) and check the combination can run."""
    cat = catalog or load_catalog()
    m = model if isinstance(model, ModelSpec) else resolve_model(cat, model)
    g = gpu if isinstance(gpu, GpuSpec) else cat.gpu(gpu)
    s = setup(
        m,
        g,
        cat.precision_for(m, precision),
        cat.engine(engine),
        tp=_tp(tp),
        kv_precision=kv_precision,
        attention_dp=attention_dp,
    )
    notes = notes_with_auto_precision(s.notes, m, precision)
    return s if notes == s.notes else dataclasses.replace(s, notes=notes)


def notes_with_auto_precision(
    notes: tuple[str, ...], model: ModelSpec, precision: str
) -> tuple[str, ...]:
    """`notes` with what precision "auto" chose for `model` first, where it says something
    (`auto_precision_note`)."""
    note = auto_precision_note(model, precision)
    return (note, *notes) if note else notes


# tensor-parallel degrees one replica is tried at (the smallest that fits, the cheapest): the
# GPUs of one 8-GPU node, as a scenario's `constraints.tp` searches by default
TP_CHOICES = (1, 2, 4, 8)


def fitting_tp(
    s: Setup, f: Fit, kv_precision: str = "auto", gpu_memory_utilization: float | None = None
) -> int | None:
    """The smallest tensor-parallel degree above the setup's (of TP_CHOICES, one that splits
    the model's heads) at which the same GPU holds one sequence of `f.context` tokens; None
    when none up to TP_CHOICES[-1] does."""
    m, g, p, e = s.model, s.gpu, s.precision, s.engine
    for t in (t for t in TP_CHOICES if t > s.tp):
        try:
            check_tp(m, t)  # the degree must split the model's heads
            bigger = fit(
                m, g, p, e, kv_precision=kv_precision, tp=t, context=f.context,
                gpu_memory_utilization=gpu_memory_utilization,
            )  # fmt: skip
        except FleetplanError:
            continue
        if bigger.max_concurrent_sequences >= 1:
            return t
    return None


def does_not_fit(s: Setup, f: Fit, kv_precision: str = "auto") -> str:
    """Why a setup holds not one sequence of `f.context` tokens, and the smallest
    tensor-parallel degree of the same GPU that would."""
    m, g, p = s.model, s.gpu, s.precision
    where = (
        f"--tp {s.tp}: {m.id} at {p.id} on {g.id}"
        if s.tp > 1
        else f"{m.id} at {p.id} on one {g.id}"
    )
    t = fitting_tp(s, f, kv_precision)
    if t is not None:
        return f"{where} does not fit ({f.limit}); --tp {t} fits"
    return (
        f"{where} does not fit ({f.limit}), nor on up to {TP_CHOICES[-1]} of them; "
        f"`fleetplan fit {m.id}` lists the GPUs it fits"
    )


def auto_precision_note(model: ModelSpec, precision: str) -> str:
    """What precision "auto" chose for `model`, where it is not plain bf16 ('' otherwise)."""
    if not is_auto(precision):
        return ""
    if model.unmodelled_quantization:
        return (
            f"precision bf16: {model.id}'s quantization_config quant_method "
            f"{model.unmodelled_quantization!r} is not one fleetplan models (precision auto; "
            "--precision names its format)"
        )
    if not model.checkpoint_precision:
        return ""
    return (
        f"precision {model.checkpoint_precision}: the format {model.id}'s published weights "
        "ship in (precision auto; --precision picks another)"
    )


def _tp(tp: int) -> int:
    if tp < 1 or tp > 64:
        raise InputError(f"--tp = {tp}; expected a tensor-parallel degree from 1 to 64")
    return tp


@dataclass(frozen=True)
class PerfEstimate:
    setup: Setup
    fit: Fit
    schedule: str
    input_tokens: int
    output_tokens: int
    result: schedule.PerfResult
    fits: list[bool]  # per batch: KV room for `batch` sequences of input+output tokens
    # how far the packaged model was from published measurements of configurations like this
    # one, out of sample (catalog.error_bands); None where a calibration or catalog file
    # changed the engine's profile, which the bands do not describe
    expected_error: ExpectedError | None = None


def parse_batches(text: str) -> list[int | str]:
    """'1,8,32,max' -> [1, 8, 32, 'max'] with clear errors."""
    out: list[int | str] = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if part == "max":
            out.append("max")
            continue
        try:
            value = int(part)
        except ValueError:
            raise InputError(
                f"--batch = {text!r}: {part!r} is not a whole number; "
                "expected a comma-separated list such as 1,8,32,max"
            ) from None
        if value < 1:
            raise InputError(f"--batch = {text!r}: {value} is not a positive batch size")
        out.append(value)
    if not out:
        raise InputError("--batch is empty; expected e.g. 1,8,32,max")
    return out


def check_request(m: ModelSpec, input_tokens: int, output_tokens: int) -> int:
    """The context one request needs (input + output tokens), or an InputError naming the
    options (`--input-tokens`, `--output-tokens`) when either is not positive or the sum
    exceeds the model's maximum context."""
    if input_tokens < 1 or output_tokens < 1:
        bad = "--input-tokens" if input_tokens < 1 else "--output-tokens"
        value = input_tokens if input_tokens < 1 else output_tokens
        raise InputError(f"{bad} = {value}; expected a positive number of tokens")
    ctx = input_tokens + output_tokens
    if ctx > m.max_context:
        raise InputError(
            f"--input-tokens + --output-tokens = {ctx} exceeds {m.id}'s maximum context of "
            f"{m.max_context} tokens"
        )
    return ctx


def estimate_perf(
    model: str | ModelSpec,
    gpu: str | GpuSpec,
    *,
    precision: str = AUTO_PRECISION,
    kv_precision: str = "auto",
    tp: int = 1,
    input_tokens: int = 512,
    output_tokens: int = 256,
    batches: list[int | str] | None = None,
    engine: str = "vllm",
    schedule_name: str = "continuous",
    catalog: Catalog | None = None,
) -> PerfEstimate:
    """Prefill, TTFT, TPOT and tokens/s per batch size for one replica."""
    s = resolve_setup(model, gpu, precision, engine, tp, kv_precision, catalog)
    m, g, p, e = s.model, s.gpu, s.precision, s.engine
    ctx = check_request(m, input_tokens, output_tokens)
    f = fit(m, g, p, e, kv_precision=kv_precision, tp=tp, context=ctx, notes=s.notes)
    if f.max_concurrent_sequences < 1:  # not one sequence: no figure of this setup means anything
        raise UnsupportedError(does_not_fit(s, f, kv_precision))
    wanted = batches or [1, 8, 32, 64, "max"]
    sizes = [max(f.concurrency, 1) if b == "max" else int(b) for b in wanted]
    sizes = sorted(set(sizes))
    result = schedule.run(
        s, np.array(sizes, dtype=float), input_tokens, output_tokens, schedule_name
    )
    fits = [f.fits and b <= f.max_concurrent_sequences for b in sizes]
    return PerfEstimate(
        setup=s,
        fit=f,
        schedule=schedule_name,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        result=result,
        fits=fits,
        expected_error=for_configuration(catalog or load_catalog(), e.id, g.id, m),
    )


__all__ = [
    "DEFAULT_CONTEXT",
    "PerfEstimate",
    "compute_format_for",
    "default_context",
    "estimate_fit",
    "estimate_perf",
    "parse_batches",
    "resolve_setup",
]
