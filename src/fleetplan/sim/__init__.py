"""Discrete-event simulation of an LLM serving fleet (tail latencies, queues, KV pressure).

Public facade: `simulate(scenario) -> SimResult`, `load_scenario(path)`, `parse_scenario(dict)`
and `Scenario`. See docs in `fleetplan.sim.run` and the modules it names.
"""

from fleetplan.sim.config import Scenario, load_scenario, parse_scenario
from fleetplan.sim.run import SimResult, simulate

__all__ = ["Scenario", "SimResult", "load_scenario", "parse_scenario", "simulate"]
