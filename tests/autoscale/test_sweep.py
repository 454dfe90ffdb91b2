"""Sweeps give the same rows on a local process pool and on a local Ray instance."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    f = tmp_path / "sweep.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "scenarios": [str(ROOT / "examples" / "autoscale-week.yaml")],
                "policies": ["reactive", "predictive"],
                "seeds": [1, 2],
                "traffic_scale": [0.5, 1.5],
                "days": 0.5,
            }
        )
    )
    return f


def test_local_pool_and_ray_agree(cli, sweep_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    local = cli("sweep", str(sweep_file), "--workers", "2", "--json")
    assert local.code == 0, local.err
    on_ray = cli("sweep", str(sweep_file), "--ray", "--json")
    assert on_ray.code == 0, on_ray.err
    a, b = local.json(), on_ray.json()
    assert len(a["runs"]) == 2 * 2 * 2 and a["runs"] == b["runs"] and a["best"] == b["best"]
    assert {r["policy"] for r in a["runs"]} == {"reactive", "predictive"}
    out = tmp_path / "runs.csv"
    assert cli("sweep", str(sweep_file), "--workers", "1", "-o", str(out)).code == 0
    assert out.read_text().count("\n") == 1 + 8


def test_sweep_bad_input(cli, sweep_file: Path, tmp_path: Path) -> None:
    r = cli("sweep", str(sweep_file), "-o", str(tmp_path / "x.txt"))
    assert r.code == 2 and ".csv or .parquet" in r.err
    r2 = cli("sweep", str(sweep_file), "--ray-address", "auto")
    assert r2.code == 2 and "--ray" in r2.err
    f = tmp_path / "bad.yaml"
    f.write_text("scenarios: []\n")
    r3 = cli("sweep", str(f))
    assert r3.code == 2 and "scenarios" in r3.err
