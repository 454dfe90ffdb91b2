"""The rest of the inputs measured in the "every bad input gets a one-line answer" review, each
with the answer it must now give (tests/input/test_bad_input.py and test_model_config.py hold
the others; the simulator's runaway inputs are in tests/sim/test_bounds.py)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from fleetplan.cli import EXIT_BAD_INPUT, EXIT_NO_CANDIDATE
from fleetplan.errors import InputError
from fleetplan.scenario import parse_scenario

BASE = {
    "model": "llama-3.1-8b",
    "traffic": {"avg_qps": 20, "peak_qps": 50},
    "input_tokens": {"mean": 900},
    "output_tokens": {"mean": 300},
}
LATIN1 = "a,b\ncaf\xe9,1\n".encode("latin-1")


def bad(r, needle: str) -> str:
    assert r.code == EXIT_BAD_INPUT, (r.code, r.err)
    assert "Traceback" not in r.err + r.out
    lines = [x for x in r.err.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], r.err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["budget", "{f}"], "is not UTF-8"),
        (["simulate", "{f}"], "is not UTF-8"),
        (["route", "simulate", "--config", "{f}", "--traffic", "{f}"], "is not UTF-8"),
        (["import-offers", "{f}", "--provider", "aws"], "is not UTF-8"),
        (["calibrate", "{f}"], "is not UTF-8"),
        (["api", "price", "gpt-4o", "--api-prices", "{f}"], "is not UTF-8"),
        (["plan", "{lengths}"], "is not UTF-8"),  # a lengths CSV named by the scenario
    ],
)
def test_non_utf8_files_are_refused_by_every_reader(cli, tmp_path: Path, args, needle) -> None:
    f = tmp_path / "latin1.csv"
    f.write_bytes(LATIN1)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "model: llama-3.1-8b\ntraffic: {avg_qps: 2}\noutput_tokens: {mean: 300}\n"
        f"input_tokens: {{csv: {f.name}, column: a}}\n"
    )
    argv = [a.format(f=f, lengths=scenario) for a in args]
    bad(cli(*argv), needle)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[engines.vllm]\narchitecture_scale = { ada = { mbu = -1.0 } }\n",
         "field 'architecture_scale.ada.mbu' = -1.0"),
        ("[engines.vllm]\nmbu = nan\n", "field 'mbu' = nan"),
        ("[gpus.h100-sxm]\nmemory_bandwidth_gb_s = -3350.0\n", "memory_bandwidth_gb_s"),
    ],
)  # fmt: skip
def test_catalog_overrides_with_negative_or_nan_factors(cli, tmp_path, text, needle) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    bad(cli("gpus", "--catalog", str(f)), needle)


def test_calibration_input_with_nan_is_refused(cli, tmp_path: Path) -> None:
    f = tmp_path / "runs.csv"
    f.write_text(
        "row_id,engine,model,precision,gpu,input_len,output_len,batch,metric,value\n"
        "r1,vllm,llama-3.1-8b,bf16,h100,512,256,8,output_tok_per_s,nan\n"
    )
    bad(cli("calibrate", str(f)), "value nan")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["tenancy", "--peak-gpus", "2,3", "--utilization", "nan,0.5"], "--utilization value"),
        (["fleet-mix", "--demand-gpus", "2,4", "--gpu", "h100", "--base-percentile", "inf"],
         "--base-percentile = inf"),
        (["perf", "llama-3.1-8b", "--gpu", "h100", "--input-tokens", "2.5"], "--input-tokens"),
    ],
)  # fmt: skip
def test_more_options_are_refused(cli, args, needle) -> None:
    bad(cli(*args), needle)


def test_simulate_refuses_a_tp_that_does_not_divide_the_heads(cli, tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "model: llama-3.1-8b\ngpu: h100\ntp: 3\n"
        "arrivals: {kind: poisson, rate_per_s: 5, duration_s: 10}\n"
        "lengths: {input: {mean: 300}, output: {mean: 50}}\n"
    )
    bad(cli("simulate", str(f)), "tp 3 does not divide the 32 attention heads")


def test_verify_at_1e5_requests_per_second_is_refused_before_the_search(cli, tmp_path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text(
        "model: llama-3.1-8b\ntraffic: {avg_qps: 100000}\n"
        "input_tokens: {mean: 900}\noutput_tokens: {mean: 300}\n"
    )
    line = bad(cli("plan", str(f), "--verify"), "plan --verify: estimated 9,000,000 simulated")
    assert "--verify-max-requests" in line
    bad(cli("plan", str(f), "--verify", "--verify-max-requests", "0"), "--verify-max-requests")


def test_verify_cap_counts_peak_time_and_seeds() -> None:
    from fleetplan.plan.verify import MIN_DURATION_S, SEEDS, check_verify_work

    spec = parse_scenario({**BASE, "traffic": {"avg_qps": 20, "peak_qps": 1000}})
    work = 1000 * MIN_DURATION_S * len(SEEDS)  # 8,000 requests take 8 s: the 30 s floor holds
    check_verify_work(spec, max_requests=int(work))
    with pytest.raises(InputError, match="above the cap"):
        check_verify_work(spec, max_requests=int(work) - 1)


def test_impossible_slo_exits_3_with_the_report(cli) -> None:
    r = cli("plan", "--model", "llama-3.1-8b", "--qps", "5", "--input-tokens", "900",
            "--output-tokens", "300", "--ttft-p95-ms", "1500", "--tpot-p95-ms", "0.5",
            "--gpu", "l40s", "--provider", "aws", "--json")  # fmt: skip
    assert r.code == EXIT_NO_CANDIDATE, r.err
    assert r.json()["recommended"] is None


def test_budget_with_emit_writes_every_file(cli, tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text(
        "model: llama-3.1-8b\ntraffic: {avg_qps: 5}\ninput_tokens: {mean: 900}\n"
        "output_tokens: {mean: 300}\nslo: {ttft_p95_ms: 1500, tpot_p95_ms: 50}\n"
        "constraints: {providers: [runpod], max_usd_per_month: 1000000}\n"
    )
    out = tmp_path / "deploy"
    r = cli("plan", str(f), "--json", "--emit", str(out))
    assert r.code == 0, r.err
    assert r.json()["recommended"]["within_budget"] is True
    assert (out / "README.md").is_file() and any(out.rglob("*.yaml"))


# -------------------------------------------------------------------------- empty lists

SELECTING = {
    "precisions": ("precisions", []),
    "engines": ("engines", []),
    "constraints.gpus": ("constraints", {"gpus": []}),
    "constraints.providers": ("constraints", {"providers": []}),
    "constraints.pricing": ("constraints", {"pricing": []}),
    "constraints.tp": ("constraints", {"tp": []}),
}


@pytest.mark.parametrize("field", sorted(SELECTING))
def test_an_empty_selecting_list_is_refused_naming_the_field(field: str) -> None:
    key, value = SELECTING[field]
    with pytest.raises(InputError, match=f"field '{field}': List should have at least 1 item"):
        parse_scenario({**BASE, key: value}, "scenario")


def test_an_empty_daily_profile_is_refused() -> None:
    with pytest.raises(InputError, match="hourly_qps has 0 values; expected 24"):
        parse_scenario({**BASE, "traffic": {"avg_qps": 20, "hourly_qps": []}}, "scenario")


@pytest.mark.parametrize(
    ("key", "value"),
    [("compare_apis", []), ("classes", []), ("constraints", {"allow": []})],
)
def test_an_empty_adding_list_is_the_same_as_leaving_it_out(key: str, value: object) -> None:
    assert parse_scenario({**BASE, key: value}) == parse_scenario(BASE)


def test_the_scenario_doc_states_the_empty_list_rule() -> None:
    from fleetplan.docs import text

    doc = text("scenario")
    section = doc.split("## Empty lists", 1)[1]
    for field in [*SELECTING, "traffic.hourly_qps", "constraints.allow", "compare_apis"]:
        assert f"`{field}`" in section, field


# ------------------------------------------------------------------------------ measure


def _fake_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetplan.cli import measure as measure_cmd

    cuda = types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda: "Fake GPU")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    results = {
        "gemm_tflops": {"8192x8192x8192": 700.0},
        "bandwidth_gb_s": 3000.0,
        "layer_bytes": 4e8,
        "decode_s_per_layer": {1: 2e-4, 8: 2.1e-4},
        "attention": {1024: (1e-4, 2e8)},
    }
    monkeypatch.setattr(measure_cmd, "run_microbenchmarks", lambda *a: results)


def test_measure_writes_to_the_user_data_folder_not_the_current_one(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_torch(monkeypatch)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    r = cli("measure", "--gpu", "h100", "--json")
    assert r.code == 0, r.err
    written = Path(r.json()["profile"])
    assert written.parent == tmp_path / "data" / "fleetplan" / "profiles"
    assert written.name.startswith("measured-h100-sxm-") and written.is_file()
    assert list(work.iterdir()) == []
    assert '[gpus."h100-sxm"]' in written.read_text()


def test_measure_out_is_checked_before_measuring(cli, tmp_path: Path, monkeypatch) -> None:
    _fake_torch(monkeypatch)
    bad(cli("measure", "--gpu", "h100", "--out", str(tmp_path / "no" / "p.toml")), "--out")


def test_measure_help_says_where_it_writes(cli) -> None:
    r = cli("measure", "--help")
    text = " ".join(r.out.split())
    assert "never the current folder" in text and "fleetplan/profiles" in text


def test_deep_toml_is_refused(cli, tmp_path: Path) -> None:
    f = tmp_path / "deep.toml"
    f.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    bad(cli("plan", str(f)), "nested too deeply")
    bad(cli("gpus", "--catalog", str(f)), "nested too deeply")


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetplan", "offers", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes anything (it takes a while to start)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_the_installed_command_is_the_one_that_handles_a_reader_leaving() -> None:
    # `fleetplan` (the console script) must go through run(), as `python -m fleetplan` does:
    # main() alone lets a closed pipe end in a traceback at the interpreter's final flush
    from importlib.metadata import entry_points

    from fleetplan import cli

    (script,) = entry_points(group="console_scripts", name="fleetplan")
    assert script.load() is cli.run
