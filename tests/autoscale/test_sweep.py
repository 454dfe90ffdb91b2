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


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"policies": ["nope"]}, "policies = ['nope']: none is in scenario 'autoscale-week.yaml'"),
        ({"policies": ["reactive", "nope"]}, "policies: 'nope' is in no scenario; accepted: "),
        ({"scenarios": [""]}, "field 'scenarios.0' = '': String should have at least 1"),
        ({"scenarios": ["."]}, "is a folder; expected an autoscaling scenario file"),
    ],
)
def test_sweep_refuses_what_would_run_nothing(cli, sweep_file: Path, change, said) -> None:
    """An unknown policy ran no policy and printed an empty table (exit 0); a folder named as a
    scenario 'did not exist'."""
    spec = {**yaml.safe_load(sweep_file.read_text()), **change}
    sweep_file.write_text(yaml.safe_dump(spec))
    r = cli("sweep", str(sweep_file))
    assert r.code == 2 and said in r.err and len(r.err.strip().splitlines()) == 1, r.err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["sweep", "{f}", "--workers", "-1"], "--workers = -1; accepted: an integer from 1 to 256"),
        (["sweep", "{f}", "--workers", "0"], "--workers = 0; accepted: an integer from 1 to 256"),
        (["gateway", "--config", "{f}", "--workers", "0"], "--workers = 0; accepted: an integer"),
        (["gateway", "--config", "{f}", "--header-timeout-s", "nan"],
         "--header-timeout-s = nan; accepted: a finite number in (0, "),
    ],
)  # fmt: skip
def test_worker_counts_have_one_answer(cli, sweep_file: Path, args, said) -> None:
    """--workers -1 was "accepted: an integer from 0 to 1e15" and 0 then "1 to 256"."""
    r = cli(*[a.format(f=sweep_file) for a in args])
    assert r.code == 2 and said in r.err, r.err


def test_a_sweep_files_bound_says_the_whole_range(cli, tmp_path: Path) -> None:
    """A list item past its bound named that bound alone ('less than or equal to 1000')."""
    path = tmp_path / "sweep.yaml"
    path.write_text("scenarios: [x.yaml]\ntraffic_scale: [2000]\n")
    r = cli("sweep", str(path))
    assert (
        r.code == 2
        and "field 'traffic_scale.0' = 2000: Input should be less than or equal "
        "to 1000; accepted: a finite number in (0, 1000]"
        in r.err
    ), r.err
