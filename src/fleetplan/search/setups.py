"""The setups a search weighs: every engine x precision x GPU x tp that runs the model and
fits it, with its fit, or the reason it is left out.

They depend on the catalog's entries, the KV precision and the context sized for, never on
the traffic, the SLOs or the offers: each outcome is remembered with the catalog (while it
lives, for its last four (model, KV precision, context) keys), so the plans a process makes
with one catalog (the web API's, the classes of a mix, a benchmark's repeats) work each one
out once."""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from typing import Any

from fleetplan.catalog import Catalog
from fleetplan.catalog.engine_profile import EngineProfile
from fleetplan.catalog.specs import GpuSpec, ModelSpec, Precision
from fleetplan.errors import UnsupportedError
from fleetplan.perf.memory import Fit, fit
from fleetplan.perf.roofline import Setup, setup
from fleetplan.search.candidates import Rejection, Workload

# a key holds ~9 MB for the widest search (6,912 combinations, 3,987 that run and fit)
KEYS_PER_CATALOG = 4
_MEMO: dict[int, tuple[weakref.ref, OrderedDict[tuple, dict[tuple, Any]]]] = {}
_LOCK = threading.Lock()


def outcomes(cat: Catalog, key: tuple) -> dict[tuple, Any]:
    """The outcomes remembered for `key` with `cat` (empty at first; the caller fills it)."""
    with _LOCK:  # plans may run in threads (the web API's jobs)
        held = _MEMO.get(id(cat))
        if held is None or held[0]() is not cat:
            ident = id(cat)
            held = (weakref.ref(cat, lambda _: _MEMO.pop(ident, None)), OrderedDict())
            _MEMO[ident] = held
        keys = held[1]
        if key in keys:
            keys.move_to_end(key)
            return keys[key]
        keys[key] = {}
        while len(keys) > KEYS_PER_CATALOG:
            keys.popitem(last=False)
        return keys[key]


def enumerate_setups(
    model: ModelSpec,
    cat: Catalog,
    gpus: list[str],
    precisions: list[str],
    engines: list[str],
    tps: list[int],
    work: Workload,
    kv_precision: str = "auto",
) -> tuple[list[tuple[Setup, Fit]], list[Rejection]]:
    ok: list[tuple[Setup, Fit]] = []
    rejected: list[Rejection] = []
    max_len = int(min(math.ceil(work.max_len), model.max_context))
    # (setup, fit) or the reason it is left out, per combination: remembered with the catalog
    known = outcomes(cat, (model, kv_precision, max_len))
    formats = cat.precisions_for(model, precisions)
    for engine_name in engines:
        e = cat.engine(engine_name)
        for p in formats:
            for gpu_name in gpus:
                g = cat.gpu(gpu_name)
                for tp in tps:
                    held = known.get((e.id, p.id, g.id, tp))
                    if held is None or held[0] is not e or held[1] is not p or held[2] is not g:
                        got = _setup_and_fit(model, g, p, e, tp, kv_precision, max_len)
                        known[(e.id, p.id, g.id, tp)] = held = (e, p, g, got)
                    got = held[3]
                    if isinstance(got, str):
                        rejected.append(Rejection(g.id, p.id, tp, e.id, got))
                    else:
                        ok.append(got)
    if work.max_len > model.max_context:
        reason = (
            f"p99 request ({work.max_len:,.0f} tokens) exceeds the model's "
            f"{model.max_context:,}-token context; sized at the maximum context"
        )
        rejected.append(Rejection("*", "*", 0, "*", reason))
    return ok, rejected


def _setup_and_fit(
    model: ModelSpec,
    g: GpuSpec,
    p: Precision,
    e: EngineProfile,
    tp: int,
    kv_precision: str,
    max_len: int,
) -> tuple[Setup, Fit] | str:
    """The setup and its fit at `max_len`, or why the combination is left out."""
    if model.attention_heads % tp:
        return f"tp {tp} does not divide {model.attention_heads} attention heads"
    try:
        s = setup(model, g, p, e, tp=tp, kv_precision=kv_precision)
    except UnsupportedError as exc:
        return f"unsupported: {exc}"
    f = fit(model, g, p, e, kv_precision=kv_precision, tp=tp, context=max_len)
    if not f.fits:
        return f"does not fit: {f.limit}"
    return s, f
