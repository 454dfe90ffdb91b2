"""The plan: scenario in, recommended deployment out, with the reasons and the context.

- `types`: what a plan holds;
- `search`: every setup x batch x offer for one workload, costed;
- `build`: `make_plan`, the recommendation, alternatives, Pareto front and why-nots;
- `context`: horizons, the hand derivation beside the model's, API comparisons, the fleet mix;
- `verify`: the recommendation replayed in the simulator.
"""

from fleetplan.errors import InputError, UnsupportedError
from fleetplan.plan.build import make_plan
from fleetplan.plan.search import search
from fleetplan.plan.types import HORIZON_DAYS, ApiComparison, HandSizingCheck, Horizon, Plan
from fleetplan.sizing import hand_method_gpus

__all__ = [
    "HORIZON_DAYS",
    "ApiComparison",
    "HandSizingCheck",
    "Horizon",
    "InputError",
    "Plan",
    "UnsupportedError",
    "hand_method_gpus",
    "make_plan",
    "search",
]
