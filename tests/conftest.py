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


def _import_the_whole_package() -> None:
    """Hypothesis mixes into its draws the literal constants of every first-party module
    imported so far (`1e15`, `MAX_COUNT`, …). Which modules that is depended on the tests that
    ran before, so the same derandomized test drew other cases in a full run than alone (and
    found an unbounded allocation in one and not the other). With every module imported
    first, each property test draws the same cases however the suite is selected."""
    import importlib
    import pkgutil

    import fleetplan

    for info in pkgutil.walk_packages(fleetplan.__path__, "fleetplan."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


_import_the_whole_package()

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
