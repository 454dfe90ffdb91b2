"""Scaling policies as controllers: each looks at what the fleet reports and, on its own
schedule, names the replica count it wants.

- static: a fixed count.
- reactive: the HPA rule `desired = ceil(ready x utilization / target)` on the utilization of
  the last minute, every `sync_s`, with stabilization windows (the largest recommendation in
  the window wins; scale-up 0 s and scale-down 300 s are Kubernetes' defaults).
- queue: KEDA's Prometheus scaler, `desired = ceil(metric / threshold)` where the metric is the
  requests running and waiting, polled every `polling_s`; to zero only after `cooldown_s` idle.
- predictive: replicas for the expected rate over the next `lead_s` (default: the cold start
  plus one sync) times `1 + margin`, at the target utilization; never below reactive's count.
- warm_standby: reactive's count plus `standby` replicas.
Kubernetes HPA: https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/
KEDA scaling: https://keda.sh/docs/2.16/concepts/scaling-deployments/
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleetplan.autoscale.config import Policy
from fleetplan.autoscale.traffic import TickTraffic

if TYPE_CHECKING:
    from fleetplan.autoscale.fleet import Deployment

METRIC_WINDOW_S = 60.0  # the utilization a reactive scaler sees: the last minute's
TOLERANCE = 0.1  # HPA leaves the count alone while the ratio is within 10 % of 1


@dataclass(frozen=True)
class Observation:
    t_s: float
    arrived: float  # requests that arrived this tick (overflowed ones included)
    served: float  # requests that started service this tick
    ready: int
    queued: float  # requests waiting for a slot in the fleet queue
    utilization: float


class Controller:
    """Base: remembers recent observations; subclasses decide on their schedule."""

    def __init__(self, policy: Policy, dep: Deployment, traffic: TickTraffic) -> None:
        self.p, self.dep, self.traffic = policy, dep, traffic
        self.period_s = policy.sync_s
        self.next_s = 0.0
        self.recent: deque[Observation] = deque()
        self.recs: deque[tuple[float, int]] = deque()  # (time, recommendation)

    def observe(self, o: Observation) -> None:
        self.recent.append(o)
        while self.recent and self.recent[0].t_s <= o.t_s - METRIC_WINDOW_S:
            self.recent.popleft()

    def desired(self, t_s: float, alive: int, ready: int) -> int | None:
        """The replica count wanted at `t_s`, or None to leave it as it is."""
        if t_s < self.next_s:
            return None
        self.next_s = t_s + self.period_s
        want = self.recommend(t_s, alive, ready)
        return self._clamp(self._stabilize(t_s, want, alive))

    def recommend(self, t_s: float, alive: int, ready: int) -> int:
        raise NotImplementedError

    def _clamp(self, n: int) -> int:
        return max(self.p.min_replicas, min(self.p.max_replicas, n))

    def _stabilize(self, t_s: float, want: int, alive: int) -> int:
        self.recs.append((t_s, want))
        keep = max(self.p.scale_up_window_s, self.p.scale_down_window_s)
        while self.recs and self.recs[0][0] < t_s - keep:
            self.recs.popleft()
        if want > alive:  # scale up to the smallest recommendation of the up window
            ups = [r for s, r in self.recs if s >= t_s - self.p.scale_up_window_s]
            return max(alive, min(ups))
        downs = [r for s, r in self.recs if s >= t_s - self.p.scale_down_window_s]
        return min(alive, max(downs))

    def _demand_qps(self) -> float:
        if not self.recent:
            return 0.0
        span = max(len(self.recent) * self.traffic.tick_s, 1e-9)
        return sum(o.arrived for o in self.recent) / span

    def _for_rate(self, qps: float) -> int:
        return math.ceil(qps / (self.dep.replica_req_per_s * self.p.target_utilization) - 1e-9)


def queue_threshold(policy: Policy, dep: Deployment) -> float:
    """A queue policy's requests running and waiting per replica: the scaler's threshold."""
    t = policy.target_queue_per_replica
    return t if t is not None else dep.max_batch * policy.target_utilization


class Static(Controller):
    def recommend(self, t_s: float, alive: int, ready: int) -> int:
        return self.p.replicas if self.p.replicas is not None else self.dep.planned_replicas

    def _stabilize(self, t_s: float, want: int, alive: int) -> int:
        return want


class Reactive(Controller):
    def recommend(self, t_s: float, alive: int, ready: int) -> int:
        if not self.recent:
            return alive
        if ready == 0:  # nothing to measure utilization on: size for the arrivals seen
            return self._for_rate(self._demand_qps()) if self._demand_qps() > 0 else 0
        util = sum(o.utilization for o in self.recent) / len(self.recent)
        ratio = util / self.p.target_utilization
        if abs(ratio - 1.0) <= TOLERANCE:
            return alive
        # replicas still starting count as idle (HPA's conservative rule for unready pods)
        return max(math.ceil(ready * ratio - 1e-9), alive if ratio > 1 else 0)


class Queue(Controller):
    def __init__(self, policy: Policy, dep: Deployment, traffic: TickTraffic) -> None:
        super().__init__(policy, dep, traffic)
        self.period_s = policy.polling_s
        self.last_active_s = 0.0

    def threshold(self) -> float:
        return queue_threshold(self.p, self.dep)

    def recommend(self, t_s: float, alive: int, ready: int) -> int:
        if not self.recent:
            return alive
        o = self.recent[-1]
        in_flight = o.utilization * self.dep.max_batch * o.ready  # running, roughly
        metric = in_flight + o.queued
        if metric > 0 or o.arrived > 0:
            self.last_active_s = t_s
        want = math.ceil(metric / self.threshold() - 1e-9)
        if want == 0 and t_s - self.last_active_s < self.p.cooldown_s:
            return max(alive, 1) if alive else 0
        return max(want, 1) if o.arrived > 0 else want


class Predictive(Reactive):
    def recommend(self, t_s: float, alive: int, ready: int) -> int:
        lead = self.p.lead_s if self.p.lead_s is not None else self.dep.cold_start_s + self.period_s
        dt = self.traffic.tick_s
        i0, i1 = int(t_s // dt), int((t_s + lead + self.period_s) // dt) + 1
        ahead = self.traffic.expected_qps[i0:i1]
        expected = float(ahead.max()) if len(ahead) else 0.0
        planned = self._for_rate(expected * (1 + self.p.margin))
        return max(planned, super().recommend(t_s, alive, ready))


class WarmStandby(Reactive):
    def recommend(self, t_s: float, alive: int, ready: int) -> int:
        base = super().recommend(t_s, max(alive - self.p.standby, 0), ready)
        return base + self.p.standby


KINDS: dict[str, type[Controller]] = {
    "static": Static,
    "reactive": Reactive,
    "queue": Queue,
    "predictive": Predictive,
    "warm_standby": WarmStandby,
}


def controller_for(policy: Policy, dep: Deployment, traffic: TickTraffic) -> Controller:
    return KINDS[policy.kind](policy, dep, traffic)
