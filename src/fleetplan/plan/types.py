"""What a plan is: the recommendation, alternatives, Pareto front, why-nots and the context
around them (horizons, the hand derivation beside the model's, API comparisons, the mix)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleetplan.catalog.error_bands import ExpectedError
from fleetplan.catalog.specs import ModelSpec
from fleetplan.scenario import ScenarioSpec
from fleetplan.search.candidates import Candidate, Rejection
from fleetplan.workload import Arrivals, Lengths

HORIZON_DAYS = (30, 90, 365)
# The work cap of `plan --verify` (plan.verify): simulated requests per fleet size (all seeds
# together). A bisection runs at most about 2 x log2(16 x planned replicas) fleet sizes, so this
# bounds the whole check too. 500,000 is ~8 s per fleet size at the simulator's measured ~65,000
# requests/s (benchmarks/sim_speed.py), and 60 times verify.TARGET_REQUESTS: room for many seeds
# and classes. Defined here, not in plan.verify, so the CLI shows it as --verify-max-requests's
# default without importing the simulator bridge on every `plan`.
MAX_REQUESTS_PER_SIZE = 500_000


@dataclass(frozen=True)
class Horizon:
    days: int
    peak_qps: float
    candidate: Candidate | None
    reason: str = ""


@dataclass(frozen=True)
class HandSizingCheck:
    """A hand derivation (fixed step time, decode only) next to what the model derives."""

    given_t_step_ms: float
    batch: int
    context: int
    lam_req_s: float
    usable_req_s: float
    gpus: int
    derived_t_step_ms: float
    derived_gpus_decode_only: int
    derived_prefill_ms: float
    derived_gpus_with_prefill: int
    explanation: str


@dataclass(frozen=True)
class ApiComparison:
    api: str
    api_usd_per_request: float
    api_usd_per_month: float
    self_hosted_usd_per_month: float
    breakeven_requests_per_month: int | None
    reason: str
    price_basis: str
    curve: object = None


@dataclass(frozen=True)
class Plan:
    scenario: ScenarioSpec
    model: ModelSpec
    input: Lengths
    output: Lengths
    recommended: Candidate | None
    alternatives: list[Candidate]
    pareto: list[Candidate]
    rejected: list[Rejection]
    candidates_evaluated: int
    search_s: float
    horizons: list[Horizon] = field(default_factory=list)
    hand_sizing_check: HandSizingCheck | None = None
    apis: list[ApiComparison] = field(default_factory=list)
    mix: object = None
    notes: list[str] = field(default_factory=list)
    verification: object = None
    arrivals: Arrivals = field(default_factory=Arrivals)  # sized for; --verify replays it
    # the cheapest SLO-meeting deployment per (provider, pricing): one run answers "which
    # provider, which pricing"
    by_provider: list[Candidate] = field(default_factory=list)
    # how far the performance model was from published measurements of setups like the
    # recommendation's, out of sample (catalog.error_bands); None without a recommendation or
    # where a calibration or catalog file changed its engine's profile
    expected_error: ExpectedError | None = None
