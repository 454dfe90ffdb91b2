"""Simulation jobs for the web API: run in a worker thread, report progress, bounded work.

A job is refused up front (422 naming the field) when its expected number of requests is above
`MAX_REQUESTS`, and at most `max_jobs` run at once; finished jobs are kept for polling until
`KEEP` newer ones have finished.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException

MAX_REQUESTS = 200_000
KEEP = 32


def expected_requests(arrivals: Any) -> float:
    """Requests a simulator arrival process will generate: the simulator's own estimate for
    open-loop kinds; a closed loop's `requests`, or its users x duration (an upper bound of
    one request per user-second). Traces never reach here: the web API reads no server file."""
    from fleetplan.sim.arrivals import expected_requests as open_loop

    if arrivals.kind == "concurrency":
        n = getattr(arrivals, "requests", None)
        if n:
            return float(n)
        return float(arrivals.users) * max(float(arrivals.duration_s or 0.0), 1.0)
    return open_loop(arrivals)


@dataclass
class Job:
    id: str
    state: str = "queued"  # queued, running, done, failed
    progress: float = 0.0
    result: dict[str, Any] | None = None
    error: str | None = None
    expected_requests: float = 0.0
    _thread: threading.Thread | None = field(default=None, repr=False)

    def status(self) -> dict[str, Any]:
        return {
            "job_id": self.id,
            "state": self.state,
            "progress": round(self.progress, 4),
            "expected_requests": round(self.expected_requests),
            "result": self.result,
            "error": self.error,
        }


class Jobs:
    def __init__(self, max_jobs: int = 4) -> None:
        self.max_jobs = max_jobs
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def submit(self, body: dict[str, Any]) -> Job:
        from fleetplan.errors import FleetplanError
        from fleetplan.sim import parse_scenario

        try:
            sc = parse_scenario(body, "body")
            _resolve_names(sc)
            n = expected_requests(sc.arrivals)
        except FleetplanError as exc:
            raise HTTPException(422, [_detail(_field(str(exc), body), str(exc))]) from None
        if n > MAX_REQUESTS:
            msg = (
                f"arrivals: about {n:,.0f} requests expected; the web API simulates at most "
                f"{MAX_REQUESTS:,} per job (use `fleetplan simulate` for longer runs)"
            )
            raise HTTPException(422, [_detail("arrivals", msg)])
        with self._lock:
            running = sum(j.state in ("queued", "running") for j in self._jobs.values())
            if running >= self.max_jobs:
                raise HTTPException(429, f"{running} simulations are running; try again later")
            job = Job(uuid.uuid4().hex[:12], expected_requests=n)
            self._jobs[job.id] = job
            self._trim()
        job._thread = threading.Thread(target=self._run, args=(job, sc), daemon=True)
        job._thread.start()
        return job

    def _run(self, job: Job, sc: Any) -> None:
        from fleetplan.sim import simulate

        job.state = "running"

        def progress(share: float) -> None:
            job.progress = share

        try:
            result = simulate(sc, progress=progress)
            job.result = result.to_dict(timeline=True)
            job.progress, job.state = 1.0, "done"
        except Exception as exc:  # the job reports any failure to whoever polls it
            job.error, job.state = f"{type(exc).__name__}: {exc}", "failed"

    def _trim(self) -> None:
        done = [j for j in self._jobs.values() if j.state in ("done", "failed")]
        for j in done[: max(0, len(done) - KEEP)]:
            del self._jobs[j.id]


def _resolve_names(sc: Any) -> None:
    """Raise the catalog's UnknownNameError for a model, GPU or engine the simulation would
    only look up once running (a job accepted with 202, then failed)."""
    if sc.service.kind != "roofline":
        return
    from fleetplan.catalog import load_catalog, resolve_model

    cat = load_catalog()
    resolve_model(cat, sc.model)
    cat.gpu(sc.gpu)
    cat.engine(sc.engine)


def _field(message: str, body: dict[str, Any]) -> str | None:
    """The top-level body field a simulator error names (`replicas = 0: …`, `arrivals.kind`);
    None when it names none (the whole body)."""
    import re

    for key in sorted(body, key=len, reverse=True):
        if re.search(rf"(?:^|[\s'\"]){re.escape(key)}(?:[.\[ :'\"]|$)", message):
            return key
    return None


def _detail(field: str | None, msg: str) -> dict[str, Any]:
    """A 422 item at body field `field` (the whole body when None)."""
    from fleetplan.web.checks import detail

    return detail(["body", field] if field else ["body"], msg)
