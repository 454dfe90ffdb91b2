"""A plan pauses Python's cyclic garbage collector while it runs (its allocations would set off
collections walking every object the process holds) and leaves it as it found it."""

from __future__ import annotations

import gc
from importlib import resources

import pytest
import yaml

from fleetplan.plan import make_plan
from fleetplan.scenario import parse_scenario

TEXT = resources.files("fleetplan.examples").joinpath("chat-8b.yaml").read_text("utf-8")


def test_the_collector_is_paused_during_a_plan_and_left_as_found(catalog, monkeypatch):
    spec = parse_scenario(yaml.safe_load(TEXT))
    seen = []
    import fleetplan.plan.build as build

    real = build.search

    def watching(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(build, "search", watching)
    assert gc.isenabled()
    first = make_plan(spec, catalog=catalog)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        again = make_plan(spec, catalog=catalog)
        assert not gc.isenabled()  # paused by someone else: still paused
    finally:
        gc.enable()
    assert again.recommended == first.recommended

    def failing(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(build, "search", failing)
    with pytest.raises(RuntimeError, match="boom"):
        make_plan(spec, catalog=catalog)
    assert gc.isenabled()
