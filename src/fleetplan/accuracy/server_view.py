"""A fit's view of the rows measured through an engine's API server (`sim/frontend.py`): the
server's serial seconds a request, a burst's time and its TTFT through the server, in closed
form for the fits (the report simulates them)."""

from __future__ import annotations

import numpy as np

from fleetplan.accuracy.rows import ValidationRow
from fleetplan.perf.roofline import Setup
from fleetplan.perf.schedule import mixed_step, prefill_time_s


def through_server(row: ValidationRow, s: Setup) -> bool:
    """Whether the row was measured through an API server that the engine's profile gives
    serial work (`sim/frontend.py`)."""
    serial = s.engine.server_ms_per_request(s.model) + s.engine.api_server_us_per_output_token
    return row.api_server and serial > 0


def server_s(row: ValidationRow, s: Setup) -> float:
    """The API server's serial seconds for one of the row's requests: taken in, and its
    output tokens streamed."""
    eng = s.engine
    return (
        eng.server_ms_per_request(s.model) * 1e-3
        + row.output_len * eng.api_server_us_per_output_token * 1e-6
    )


def burst_server_s(row: ValidationRow, s: Setup, gpu_s: float) -> float:
    """Seconds a burst of the row's requests takes through the API server whose engine alone
    takes `gpu_s`: the slower of the engine and the server's intake and streaming sets the
    pace, or, where the server hands a request over after the work queued meanwhile
    (`api_server_queued_hand_off`), it takes every request in before the engine has the first
    (`sim/frontend.py`), then streams the tokens as the engine makes them."""
    eng, n = s.engine, row.batch
    if not eng.api_server_queued_hand_off:  # the engine has each request once it is in
        return with_server(gpu_s, n * server_s(row, s))
    stream = n * row.output_len * eng.api_server_us_per_output_token * 1e-6
    return n * eng.server_ms_per_request(s.model) * 1e-3 + with_server(gpu_s, stream)


def with_server(engine_s: float, server: float) -> float:
    """Seconds of work done by the engine and the serial API server side by side: the slower
    sets the pace (a smooth maximum, so that a fit sees both; 2^(1/4) = 1.19 x where the two
    are equal, about what the simulator shows there, where the engine gets its requests one
    by one)."""
    return float((engine_s**4 + server**4) ** 0.25)


def burst_ttft_s(row: ValidationRow, s: Setup) -> float:
    """A fit's view of the TTFT of a burst through the API server: the engine prefills the
    prompts in turn and the server, one clock for intake and streaming,
    sends no first token before it has taken all n requests in (the simulator's
    `sim/frontend.py`; the tokens made meanwhile, which it streams first, are left out): the
    slower sets the time; or, where the server hands a request over after the work queued
    meanwhile (`api_server_queued_hand_off`), the engine starts once all n are in and fills
    its prefill steps with them."""
    eng, n = s.engine, row.batch
    server = (n * eng.server_ms_per_request(s.model) + eng.server_latency_ms(s.model)) * 1e-3
    if eng.api_server_queued_hand_off:
        return server + burst_prefill_s(s, n, row.input_len, row.stat == "median")
    # the prompts one after another (the k-th waits for k prompts, (n + 1) / 2 on average)
    gpu_s = float(prefill_time_s(s, row.input_len, eng.max_num_batched_tokens)) * (n + 1) / 2
    return with_server(gpu_s, server)


def completing_steps(s: Setup, n: int, i: int) -> np.ndarray:
    """For `n` prompts of `i` tokens queued at once, the prefill step (1-based) that completes
    each: steps of at most `max_num_batched_tokens` tokens, whole prompts where the engine does
    not chunk."""
    chunk = float(s.engine.max_num_batched_tokens)
    k = np.arange(1, n + 1, dtype=np.float64)
    if s.engine.chunked_prefill:
        return np.ceil(k * i / chunk)
    return np.ceil(k / max(np.floor(chunk / i), 1.0))


def burst_prefill_s(s: Setup, n: int, i: int, median: bool = False) -> float:
    """Mean (or median) time to the first token of `n` prompts of `i` tokens queued at once
    when the engine alone runs them: they fill prefill steps of at most
    `max_num_batched_tokens` tokens in turn (whole prompts where the engine does not chunk),
    and each one's first token comes with the step that completes it. Leaves out the decodes
    of the prompts done before, which share those steps (the simulator has them)."""
    step = completing_steps(s, n, i)
    size = n * i / float(step[-1])  # prompt tokens a step
    step_s = float(mixed_step(s, 0.0, 0.0, size, i / 2).total_s)
    return step_s * float(np.median(step) if median else np.mean(step))
