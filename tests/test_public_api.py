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
        "__version__", "estimate_fit", "estimate_perf", "load_catalog", "resolve_model",
    }  # fmt: skip
