"""How much work a simulation is, estimated before it runs, and the cap it must stay under.

The simulator's cost is its events: each request arrives, is admitted, gets its prompt
prefilled in chunks of at most `max_num_batched_tokens` and finishes; decode steps between two
events are advanced together in closed form. So the work is about

    events = requests x (3 + ceil(mean input tokens / max_num_batched_tokens))

and requests come from the arrival spec before anything is drawn (rate x duration; a gamma
process adds (cv^2 - 1)/2, see `arrivals.expected_requests`). Above the cap (`max_events` in
the scenario, `--max-events` on the command line) the run is refused with one line naming the
estimate; a run whose events outgrow the cap anyway (preemption storms) stops with the same
message instead of running on.
"""

from __future__ import annotations

import math

from fleetplan.errors import InputError

FIXED_EVENTS_PER_REQUEST = 3  # arrival, admission or a decode run cut short, completion


class WorkCapError(InputError):
    """A simulation would do (or did) more work than its cap allows."""


def events_per_request(mean_input_tokens: float, max_num_batched_tokens: int) -> float:
    """Expected events one request causes (see the module docstring)."""
    return FIXED_EVENTS_PER_REQUEST + math.ceil(mean_input_tokens / max_num_batched_tokens)


def _raise_hint() -> str:
    return "raise the cap with max_events in the scenario or --max-events"


def check_work(requests: float, per_request: float, cap: int) -> None:
    """Raise WorkCapError if `requests` x `per_request` events exceed `cap`."""
    events = requests * per_request
    if not math.isfinite(events) or events > cap:
        raise WorkCapError(
            f"estimated work {events:.3g} events ({requests:.3g} requests x {per_request:g} "
            f"events each) is above the cap of max_events = {cap:,}; {_raise_hint()}"
        )


def over_cap(events: int, cap: int) -> WorkCapError:
    """The error of a run that outgrew its cap while running."""
    return WorkCapError(
        f"simulation stopped after {events:,} events, above the cap of max_events = {cap:,} "
        f"(KV-cache preemptions or tiny prefill chunks multiply the work); {_raise_hint()}"
    )
