"""Shared fixtures: the packaged catalog and a CLI runner through the real entry point."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

from fleetplan.catalog import Catalog, load_catalog
from fleetplan.cli import main

# Property tests draw the same examples on every run (a seed from each test's source), with no
# example database and no per-example deadline: CI gives the same verdict on a busy machine as
# on a quiet one, and a counterexample found once is reproduced by the next run.
settings.register_profile("fleetplan", derandomize=True, database=None, deadline=None)
settings.load_profile("fleetplan")


ROOT = Path(__file__).resolve().parents[1]
# Modules outside the package that tests import in-process (by name, from their folder).
FIRST_PARTY_SCRIPTS = {ROOT / "benchmarks" / "accuracy": ["derive_validation_rows"]}


def _import_all_first_party_code() -> None:
    """Hypothesis mixes into its draws the literal constants of every first-party module
    imported so far (`1e15`, `MAX_COUNT`, …). Which modules those are depended on the tests that
    ran before, so the same derandomized test drew other cases in a full run than alone (and
    found an unbounded allocation in one and not in the other). With all of it imported first,
    each property test draws the same cases however the suite is selected or ordered."""
    import importlib
    import pkgutil
    import sys

    import fleetplan

    for info in pkgutil.walk_packages(fleetplan.__path__, "fleetplan."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # an optional extra not installed: its tests skip
            if (exc.name or "").split(".")[0] == "fleetplan":
                raise
    for folder, names in FIRST_PARTY_SCRIPTS.items():
        sys.path.insert(0, str(folder))
        try:
            for name in names:
                importlib.import_module(name)
        finally:
            sys.path.remove(str(folder))


def _first_party_modules() -> set[str]:
    """Modules loaded from this repository's files, tests and installed packages aside."""
    import sys

    found = set()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and "site-packages" not in file:
            path = Path(file).resolve()
            if path.is_relative_to(ROOT) and not path.is_relative_to(ROOT / "tests"):
                found.add(name)
    return found


_import_all_first_party_code()
_PREIMPORTED = _first_party_modules()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A first-party module a test imported that the list above lacks changes what the
    property tests draw depending on which tests ran: the run fails and names it."""
    late = sorted(_first_party_modules() - _PREIMPORTED)
    if late:
        print(f"\nconftest: add to FIRST_PARTY_SCRIPTS (imported by a test): {late}")
        session.exitstatus = 1


DATA = Path(__file__).parent / "data"


def pytest_configure(config: pytest.Config) -> None:
    """The user cache (parsed catalogs, API price cards) in a folder of this run's own, never
    the developer's ~/.cache; commands run in child processes inherit it."""
    os.environ["FLEETPLAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="fleetplan-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.get("FLEETPLAN_CACHE_DIR", ""), ignore_errors=True)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    def run(*args: str) -> CliResult:
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
