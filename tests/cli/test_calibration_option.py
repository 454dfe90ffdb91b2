"""`--calibration PROFILE` applies a calibration profile to perf, fit and plan."""

from __future__ import annotations


def test_calibration_profile_changes_predictions(cli, tmp_path):
    prof = tmp_path / "profile.toml"
    # half the packaged vLLM V1 mbu (0.61)
    prof.write_text('[engines.vllm]\nmbu = 0.3\n\n[engines.vllm.sources]\nmbu = "test profile"\n')
    args = ("perf", "llama-3.1-8b", "--gpu", "h100", "--batch", "1", "--json")
    base = cli(*args).json()[0]["output_tok_per_s"]
    slow = cli(*args, "--calibration", str(prof)).json()[0]["output_tok_per_s"]
    assert slow < 0.8 * base  # batch 1 is bound by the weight stream, which mbu scales
    r = cli("plan", "--json", "--calibration", str(prof))
    assert r.code == 0, r.err
    r = cli("fit", "llama-3.1-8b", "--gpu", "h100", "--calibration", str(prof), "--json")
    assert r.code == 0, r.err


def test_bad_calibration_file_is_one_line(cli, tmp_path):
    prof = tmp_path / "bad.toml"
    prof.write_text("[engines.vllm]\nmbu = 7\n")
    r = cli("perf", "llama-3.1-8b", "--gpu", "h100", "--calibration", str(prof))
    assert r.code == 2 and "engines.vllm" in r.err and "mbu" in r.err


def test_simulate_accepts_a_calibration_profile(cli, tmp_path):
    from pathlib import Path

    prof = tmp_path / "profile.toml"
    prof.write_text('[engines.vllm]\nmbu = 0.5\n\n[engines.vllm.sources]\nmbu = "test"\n')
    scenario = Path(__file__).parents[2] / "examples" / "sim-burst.yaml"
    base = cli("simulate", str(scenario), "--json")
    slow = cli("simulate", str(scenario), "--json", "--calibration", str(prof))
    assert base.code == 0 and slow.code == 0, slow.err
    assert slow.json()["tpot_ms"]["p50"] > base.json()["tpot_ms"]["p50"]
