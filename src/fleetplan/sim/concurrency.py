"""A fixed-concurrency benchmark, simulated: how `vllm bench serve --max-concurrency N`,
GuideLLM's concurrent mode and many published serving tables measure a server.

    from fleetplan.sim.concurrency import simulate_concurrency
    r = simulate_concurrency("llama-3.1-8b", "h100", 64, input_tokens=1024, output_tokens=128)
    r.output_tok_per_s, r.ttft_ms.mean, r.tpot_ms.p50, r.itl_ms.p99

`concurrency` users each send a request of exactly `input_tokens` prompt tokens and
`output_tokens` generated tokens, and the next one as soon as (or `think_s` after) the last one
ends, until `requests` have been sent (default ten per user, at least 200).
"""

from __future__ import annotations

from typing import Any

from fleetplan.catalog import Catalog
from fleetplan.sim.result import SimResult
from fleetplan.sim.run import simulate


def simulate_concurrency(
    model: str,
    gpu: str,
    concurrency: int,
    *,
    input_tokens: int,
    output_tokens: int,
    requests: int | None = None,
    engine: str = "vllm",
    precision: str = "auto",
    tp: int = 1,
    think_s: float = 0.0,
    catalog: Catalog | None = None,
    seed: int = 0,
    **scenario: Any,
) -> SimResult:
    """Simulate one replica (or `replicas=`) under a closed loop of `concurrency` users with
    fixed lengths; any other scenario field (max_num_seqs, prefix, ...) goes in `scenario`."""
    sc: dict[str, Any] = {
        "model": model,
        "gpu": gpu,
        "engine": engine,
        "precision": precision,
        "tp": tp,
        "arrivals": {
            "kind": "concurrency",
            "users": concurrency,
            "think_s": think_s,
            "requests": requests or max(10 * concurrency, 200),
        },
        "lengths": {"input": {"mean": input_tokens}, "output": {"mean": output_tokens}},
        "seed": seed,
    }
    sc.update(scenario)
    return simulate(sc, catalog=catalog)
