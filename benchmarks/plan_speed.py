"""Speed of `fleetplan plan`: the built-in example and the widest search.

Prints, for the built-in example (warm, in-process) and for the widest search (every precision
x every engine x every offer of every provider and pricing), the candidates (GPU x precision x
tp x engine x max batch x offer) evaluated, the search time and the whole plan (search,
horizons, APIs, report data), medians of several runs after one warm-up; then the CLI end to
end in a new process from compiled bytecode, as installed (median wall and CPU seconds, the
imports alone, a first run with the user cache off, and runs with PYTHONDONTWRITEBYTECODE=1).
Targets: built-in plan <= 100 ms warm in-process and widest search (~140 K candidates) <= 1 s
for the whole plan (issue 11); `fleetplan plan` on the built-in example <= 0.5 s as a whole
process on a quiet 2-core machine (issue 13).

    python benchmarks/plan_speed.py [runs]      # --process: the whole-process figures only
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from typing import get_args

import yaml

from fleetplan.catalog import Catalog, load_catalog
from fleetplan.plan import make_plan
from fleetplan.scenario import ALLOW, PRICING, parse_scenario


def _widest(data: dict, cat: Catalog) -> dict:
    """Every precision, engine, provider, pricing and tier the catalog and scenario know."""
    cons = dict(data.get("constraints", {}))
    cons.pop("providers", None)
    cons["pricing"] = list(get_args(PRICING))
    cons["allow"] = list(get_args(ALLOW))
    return dict(
        data, precisions=sorted(cat.precisions), engines=sorted(cat.engines), constraints=cons
    )


def main(runs: int = 3) -> None:
    cat = load_catalog()
    text = resources.files("fleetplan.examples").joinpath("chat-8b.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    for label, scenario in (("built-in example", data), ("widest search", _widest(data, cat))):
        spec = parse_scenario(scenario)
        make_plan(spec, catalog=cat)  # warm-up: imports, catalog caches
        searches, totals, cpus, n = [], [], [], 0
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            p = make_plan(spec, catalog=cat)
            totals.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            searches.append(p.search_s)
            n = p.candidates_evaluated
        print(
            f"{label}: {n:,} candidates; search {statistics.median(searches) * 1e3:.0f} ms; "
            f"whole plan (horizons, APIs, report data) {statistics.median(totals) * 1e3:.0f} ms "
            f"warm in-process, {statistics.median(cpus) * 1e3:.0f} ms CPU (median of {runs}; "
            f"load average {os.getloadavg()[0]:.1f})"
        )
    print(whole_process(runs=max(runs, 5)))


def _child(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one new process running `python args`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env, timeout=600
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


# `fleetplan plan --json` in this interpreter with the plan computation (make_plan) timed: the
# rest of the process is the interpreter, imports, option parsing, catalog and rendering
_TIMED_PLAN = """
import sys, time
import fleetplan.plan as fp
real, spent = fp.make_plan, []
def timed(*a, **k):
    c = time.process_time()
    out = real(*a, **k)
    spent.append(time.process_time() - c)
    return out
fp.make_plan = timed
from fleetplan.cli import main
main(["plan", "--json"])
print(sum(spent), file=sys.stderr)
"""


def whole_process(runs: int) -> str:
    """`fleetplan plan --json` in a new process, end to end, and the imports alone; medians.

    The user cache (parsed catalog, API price cards) is warmed by one run first, as it is for
    every run after a user's first; the cold figure (cache off) is printed too, and the CPU the
    process spends outside the plan computation (make_plan timed inside the process).

    The modules run from compiled bytecode, as they do once installed (pip compiles it at
    install time, and a checkout's first run writes it): the runs keep it in a temporary
    PYTHONPYCACHEPREFIX, so PYTHONDONTWRITEBYTECODE in the calling environment does not make
    every run compile the package from source. Runs with PYTHONDONTWRITEBYTECODE=1 are printed
    too (a checkout whose bytecode was never written then compiles its modules every run)."""
    pycache = tempfile.mkdtemp(prefix="fleetplan-bytecode-")
    try:
        return _whole_process(runs, pycache)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)


def _whole_process(runs: int, pycache: str) -> str:
    source = dict(os.environ)
    env = {k: v for k, v in source.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    cmd = ["-m", "fleetplan", "plan", "--json"]
    imports = ["-c", "import fleetplan.cli.plan, fleetplan.plan, fleetplan.render.plan_records"]
    _child(cmd, env)  # warm the cache and the OS file cache
    whole = [_child(cmd, env) for _ in range(runs)]
    only = [_child(imports, env) for _ in range(runs)]
    cold = _child(cmd, {**env, "FLEETPLAN_CACHE_DIR": "off"})
    no_bytecode = [_child(cmd, {**source, "PYTHONDONTWRITEBYTECODE": "1"}) for _ in range(runs)]
    rest = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [sys.executable, "-c", _TIMED_PLAN],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        rest.append(cpu - float(done.stderr.split()[-1]))

    def med(xs: list[tuple[float, float]], i: int) -> float:
        return statistics.median(x[i] for x in xs)

    return (
        f"`fleetplan plan --json` whole process (new interpreter, warm user cache): "
        f"{med(whole, 0):.2f} s wall, {med(whole, 1):.2f} s CPU (median of {runs}); imports "
        f"alone {med(only, 0):.2f} s wall, {med(only, 1):.2f} s CPU; cache off (a first run) "
        f"{cold[0]:.2f} s wall, {cold[1]:.2f} s CPU; with PYTHONDONTWRITEBYTECODE=1 "
        f"{med(no_bytecode, 0):.2f} s wall, {med(no_bytecode, 1):.2f} s CPU; "
        f"load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs (target <= 0.5 s on a quiet 2-core machine)"
        f"; outside the plan computation (interpreter, imports, options, catalog, rendering) "
        f"{statistics.median(rest):.2f} s CPU"
    )


if __name__ == "__main__":
    if "--process" in sys.argv:
        print(whole_process(runs=5))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
