"""`route simulate`: a traffic profile's behaviour for a provider the router config does not
have (a typo of its name) was ignored without a word."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_provider_in_profile_is_refused(cli, tmp_path: Path) -> None:
    prof = yaml.safe_load((ROOT / "examples" / "router-traffic.yaml").read_text())
    prof["providers"]["mistrall"] = {"ttft_ms": 400, "tpot_ms": 15}
    f = tmp_path / "traffic.yaml"
    f.write_text(yaml.safe_dump(prof))
    cfg = str(ROOT / "examples" / "router.yaml")
    r = cli("route", "simulate", "--config", cfg, "--traffic", str(f))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "providers.mistrall is not in the router config" in r.err
    assert "fleet-vllm, openai, mistral" in r.err
