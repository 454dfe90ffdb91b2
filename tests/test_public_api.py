"""The package's public names are pinned: sorted, importable, and nothing else is implied."""

from __future__ import annotations

import fleetplan


def test_all_is_sorted_and_importable():
    assert fleetplan.__all__ == sorted(fleetplan.__all__)
    for name in fleetplan.__all__:
        assert hasattr(fleetplan, name), name


def test_public_surface():
    assert set(fleetplan.__all__) == {
        "Catalog", "FleetplanError", "InputError", "UnknownNameError", "UnsupportedError",
        "__version__", "estimate_fit", "estimate_perf", "load_catalog", "load_scenario",
        "make_plan", "parse_scenario", "resolve_model",
    }  # fmt: skip


def test_documented_python_api_plans_a_scenario():
    """The README's Python example: a scenario mapping in, a plan with a recommendation out."""
    spec = fleetplan.parse_scenario(
        {
            "model": "llama-3.1-8b",
            "traffic": {"avg_qps": 5},
            "input_tokens": {"mean": 500},
            "output_tokens": {"mean": 200},
            "constraints": {"providers": ["runpod"]},
        }
    )
    plan = fleetplan.make_plan(spec)
    assert plan.recommended is not None and plan.recommended.gpus_total >= 1
    fit = fleetplan.estimate_fit("llama-3.1-8b", "h100")
    assert fit.fits
