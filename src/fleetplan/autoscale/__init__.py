"""Autoscaling you can test before going live: scaling policies replayed against a day or a
week of traffic with cold starts, billing granularity and API overflow.

- `config`: the scenario file; `traffic`: synthetic or historical traffic per tick;
- `policies`: static, reactive (HPA), queue (KEDA), predictive, warm standby, scale to zero;
- `fleet`: the tick-by-tick fleet; `run`: plan -> deployment -> every policy;
- `emit`: the chosen policy as a KEDA ScaledObject and the router's overflow threshold.
"""

from fleetplan.autoscale.config import AutoscaleScenario, load_autoscale, parse_autoscale
from fleetplan.autoscale.run import AutoscaleResult, run_autoscale

__all__ = [
    "AutoscaleResult",
    "AutoscaleScenario",
    "load_autoscale",
    "parse_autoscale",
    "run_autoscale",
]
