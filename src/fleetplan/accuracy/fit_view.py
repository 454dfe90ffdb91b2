"""A validation row's metric as a least-squares fit sees it (`fit_value`): the simulator
costs 0.03-0.3 s a row, too slow inside a fit, so the rows it predicts enter by their analytic
steady state — a closed loop of equal requests in waves (`wave_value`), as the simulator runs
it. Tests hold the two views to each other (tests/accuracy/test_wave_fit.py,
test_published.py)."""

from __future__ import annotations

import numpy as np

from fleetplan.accuracy.predict import (
    burst_throughput,
    burst_ttft_row,
    concurrency_cap,
    perf_metric,
    predict_value,
)
from fleetplan.accuracy.rows import ValidationRow
from fleetplan.accuracy.server_view import (
    burst_ttft_s,
    completing_steps,
    server_s,
    through_server,
    with_server,
)
from fleetplan.catalog import Catalog
from fleetplan.perf.dp_prefill import first_token_steps, ranked, wave_prefill
from fleetplan.perf.roofline import Setup
from fleetplan.perf.schedule import continuous, run


def fit_value(row: ValidationRow, s: Setup, catalog: Catalog | None = None) -> float:
    """The row's metric as a fit sees it: `predict_value`, except that a run at a fixed
    concurrency is predicted by the analytic closed loop (`schedule.continuous` at the users
    the KV cache holds: the steady state the simulator settles into, without its start and
    drain) — the simulator costs 0.03-0.3 s a row, too slow inside a least-squares fit; an
    offline burst that preempts (`preempts_in_burst`) enters as waves of what the KV cache
    holds. Reported errors come from `predict_value` (the simulator)."""
    if burst_ttft_row(row) and through_server(row, s):
        return burst_ttft_s(row, s) * 1e3
    if row.schedule != "concurrency":
        return predict_value(row, s, catalog, analytic=True)
    b = min(row.batch, concurrency_cap(row, s))
    r = continuous(s, np.array([float(b)]), row.input_len, row.output_len)
    value = wave_value(row, s, b) if row.lengths == "fixed" else perf_metric(row, r, b)
    if not through_server(row, s):
        return value
    # through the API server: a request's intake, its hop to the engine and the sending of
    # its first token add to its TTFT and to each user's cycle; the server's serial work per
    # request bounds the loop's request rate, and its streaming of the b streams' tokens their
    # gaps (the simulator's API-server stage, as a closed loop's steady state)
    eng, o, m = s.engine, row.output_len, row.metric
    tok_s = eng.api_server_us_per_output_token * 1e-6
    extra_s = (eng.server_ms_per_request(s.model) + eng.server_latency_ms(s.model)) * 1e-3 + tok_s
    if m == "ttft_ms":
        return value + extra_s * 1e3
    if m in ("tpot_ms", "itl_ms"):
        return with_server(value * 1e-3, b * tok_s) * 1e3
    if m in ("output_tok_per_s", "total_tok_per_s", "output_tok_per_s_per_gpu"):
        cycle_s = b * o / float(r.output_tok_per_s[0])  # a user's request, the engine alone
        return value * cycle_s / with_server(cycle_s + extra_s, b * server_s(row, s))
    return value


def wave_value(row: ValidationRow, s: Setup, b: int) -> float:
    """A closed loop of equal requests as the simulator runs it: the users start together and
    stay in step, so the run is waves of `b` prompts prefilled together, then decoded together
    (`burst_throughput`; dstack's DeepSeek-R1 runs: mean TTFT grows with the concurrency).
    A wave's prompts fill prefill steps of at most `max_num_batched_tokens` tokens in turn
    (whole prompts where the engine does not chunk), and each one's first token comes with
    the step that completes it: TTFT is the mean (or median) of those completion times; where
    prefill steps run ahead of the decodes, a request's TPOT also holds its wait from then to
    the wave's first decode (`first_token_wait_s`)."""
    i, o, m = row.input_len, row.output_len, row.metric
    if m in ("output_tok_per_s", "total_tok_per_s", "output_tok_per_s_per_gpu"):
        tps = burst_throughput(s, max(row.requests, row.batch), b, i, o, m == "total_tok_per_s")
        return tps / row.gpu_count if m == "output_tok_per_s_per_gpu" else tps
    r = run(s, np.array([float(b)]), i, o, "static")
    if m in ("tpot_ms", "itl_ms") and o > 1:
        # a gap that holds the wait between a prompt's first token and the wave's first decode
        # (`first_token_wait_s`) is one of a request's o - 1: it weighs in the mean of either
        # metric and the median TPOT, not the median gap
        wait = first_token_wait_s(s, b, i, float(r.ttft_s[0]))
        step_s = float(r.tpot_s[0])
        if wait is None or (m == "itl_ms" and row.stat == "median"):
            return step_s * 1e3
        tpot = step_s + wait / (o - 1)
        return float(np.median(tpot) if row.stat == "median" else np.mean(tpot)) * 1e3
    if m != "ttft_ms":
        return perf_metric(row, r, b)
    t, _ = first_tokens_s(s, b, i, float(r.ttft_s[0]))
    return float(np.median(t) if row.stat == "median" else np.mean(t)) * 1e3


def first_token_wait_s(s: Setup, b: int, i: int, prefill_s: float) -> np.ndarray | None:
    """For a wave of `b` prompts of `i` tokens on an engine whose prefill steps run on their
    own, ahead of the decodes (SGLang; vLLM V0 and LMDeploy before split-and-fuse: the
    simulator's `Policy.mixed` False), each request's wait from its first token, which comes
    with the step that completes its prompt, to the wave's first decode step, after the last
    prompt's (`prefill_s`: the wave's whole prefill); None where prefill chunks share steps
    with the decodes, which then run from each first token on."""
    from fleetplan.sim.policy import profile_policy

    if profile_policy(s.engine).mixed:
        return None
    t, end = first_tokens_s(s, b, i, prefill_s)
    return end - t


def first_tokens_s(s: Setup, b: int, i: int, prefill_s: float) -> tuple[np.ndarray, float]:
    """When each first token of a wave of `b` prompts of `i` tokens comes, from the wave's
    start, and when its prefill ends: each with the step that completes its prompt, the steps
    at one mean step time (`prefill_s`: the static run's whole prefill); with data-parallel
    attention, each rank prefilling its own (perf.dp_prefill)."""
    if ranked(s):
        done_at = np.cumsum(wave_prefill(s, np.array([float(b)]), i)[0][0])
        return done_at[first_token_steps(s, b, i).astype(int) - 1], float(done_at[-1])
    step = completing_steps(s, b, i)
    return prefill_s * step / step[-1], prefill_s
