"""`fleetplan simulate` through the real entry point, and the example scenarios."""

import json
from pathlib import Path

import pytest

from fleetplan.cli import main
from fleetplan.sim import load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONTRACT = ("requests", "ttft_ms", "tpot_ms", "e2e_ms", "output_tok_per_s", "goodput",
            "preemptions", "wall_s")  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["simulate", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(EXAMPLES / "sim-trace.yaml"), "--json")
    assert code == 0
    d = json.loads(out)
    for key in CONTRACT:
        assert key in d, key
    for key in ("ttft_ms", "tpot_ms", "e2e_ms"):
        assert set(d[key]) >= {"p50", "p90", "p95", "p99", "mean"}
        assert 0 < d[key]["p50"] <= d[key]["p90"] <= d[key]["p95"] <= d[key]["p99"]
    assert d["requests"] == 400 and 0 <= d["goodput"] <= 1
    assert "timeline" not in d


def test_trace_replay_matches_its_golden_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """The trace scenario draws nothing at random: its figures only move when the model,
    the catalog or the simulator changes. After a deliberate change, regenerate it with
    `.venv/bin/python tests/sim/golden/regen.py` and say why in the commit."""
    code, out, _ = _run(capsys, str(EXAMPLES / "sim-trace.yaml"), "--json")
    assert code == 0
    got = json.loads(out)
    golden = json.loads((Path(__file__).parent / "golden" / "sim-trace.json").read_text())
    for key, want in golden.items():
        if isinstance(want, dict):
            for k, v in want.items():
                assert got[key][k] == pytest.approx(v, rel=1e-6), f"{key}.{k}"
        else:
            assert got[key] == pytest.approx(want, rel=1e-6), key


def test_table_and_charts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    html, svg = tmp_path / "c.html", tmp_path / "c.svg"
    code, out, err = _run(capsys, str(EXAMPLES / "sim-trace.yaml"), "--chart", str(html))
    assert code == 0 and "TTFT" in out and "goodput" in out and "basis:" in out
    assert err == ""  # no progress bar when stderr is not a terminal
    assert "<svg" in html.read_text() and "polyline" in html.read_text()
    assert _run(capsys, str(EXAMPLES / "sim-trace.yaml"), "--chart", str(svg))[0] == 0
    assert svg.read_text().startswith("<svg")
    code, _, err = _run(capsys, str(EXAMPLES / "sim-trace.yaml"), "--chart", "x.pdf")
    assert code == 2 and ".html, .svg or .png" in err


def test_seed_and_timeline(capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(EXAMPLES / "sim-burst.yaml")
    runs = [json.loads(_run(capsys, scenario, "--json", "--seed", s, "--timeline")[1])
            for s in ("1", "1", "2")]  # fmt: skip
    for r in runs:
        r.pop("wall_s")
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert len(runs[0]["timeline"]["t_s"]) == len(runs[0]["timeline"]["queue"]) > 100


def test_timeline_without_json_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """--timeline only changes the JSON; without --json it was silently ignored."""
    code, out, err = _run(capsys, str(EXAMPLES / "sim-trace.yaml"), "--timeline")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "--timeline only adds to the --json output; give --json too" in err


def test_malformed_trace_exits_2_naming_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "t.csv").write_text(
        "timestamp,input_tokens,output_tokens\n0,10,10\n1,abc,10\n2,10,10\n"
    )
    sc = tmp_path / "s.yaml"
    sc.write_text("model: llama-3.1-8b\ngpu: h100\narrivals: {kind: trace, path: t.csv}\n")
    code, out, err = _run(capsys, str(sc), "--json")
    assert code == 2 and json.loads(out)["exit_code"] == 2  # with --json: the error as JSON
    assert err.startswith("fleetplan: error:") and "line 3" in err and "input_tokens" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("yaml", "needle"),
    [
        ("model: llama-3.1-8b\ngpu: h100\narrivals: {kind: poisson, rate_per_s: -1, "
         "duration_s: 10}\n", "field 'arrivals.rate_per_s' = -1"),
        ("model: llama-3.1-8b\ngpu: h100\narrivals: {kind: gamma, rate_per_s: 1, "
         "duration_s: 10}\n", "needs cv"),
        ("model: llama-3.1-8b\ngpu: h100\nreplica: 2\narrivals: {kind: poisson, "
         "rate_per_s: 1, duration_s: 10}\n", "replica"),
        ("model: llama-3.1-8b\ngpu: h1000\narrivals: {kind: poisson, rate_per_s: 1, "
         "duration_s: 10}\n", "unknown gpu 'h1000'"),
        ("model: llama-3.1-8b\ngpu: h100\nload_balancer: random\narrivals: {kind: poisson, "
         "rate_per_s: 1, duration_s: 10}\n", "field 'load_balancer' = 'random'"),
        ("- not a mapping\n", "expected a mapping"),
        ("model: ''\ngpu: h100\narrivals: {kind: poisson, rate_per_s: 1, duration_s: 10}\n",
         # was 'config.json'
         "field 'model' = '': Value error, expected a catalog model id or alias"),
    ],
)  # fmt: skip
def test_bad_scenarios_exit_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, yaml: str, needle: str
) -> None:
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml)
    code, _, err = _run(capsys, str(sc))
    assert code == 2 and needle in err, err


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("sim-*.yaml")), ids=lambda p: p.name)
def test_examples_parse(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.model and sc.arrivals.kind


def test_concurrency_example_runs_closed_loop_without_preemption(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, str(EXAMPLES / "sim-concurrency.yaml"), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["requests"] == 2500 and d["preemptions"] == 0
    assert d["config"]["scheduler"].startswith("TensorRT-LLM; guaranteed no evict")


def test_a_plan_scenario_given_to_simulate_says_which_command_reads_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`fleetplan simulate` on a plan's scenario (the built-in example) listed every field as
    missing or not permitted, fourteen of them, instead of saying what the file is."""
    from importlib import resources

    from fleetplan.scenario import ScenarioSpec
    from fleetplan.sim.config import PLAN_ONLY_FIELDS, Scenario

    # the fields that tell a plan scenario apart are the plan's and not the simulator's
    assert set(PLAN_ONLY_FIELDS) <= set(ScenarioSpec.model_fields) - set(Scenario.model_fields)
    example = resources.files("fleetplan.examples").joinpath("chat-8b.yaml")
    assert main(["simulate", str(example)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a `fleetplan plan` scenario (traffic, " in err[0], err
    assert "`fleetplan plan FILE --verify`" in err[0] and "Extra inputs" not in err[0]


def test_simulation_file_errors_read_as_every_file_errors_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The simulator's scenarios had their own wording: an unknown field echoed its whole value
    and a bound named only itself. Now: 'unknown field ...', and the field's accepted range."""
    path = tmp_path / "s.yaml"
    path.write_text(
        "model: llama-3.1-8b\ngpu: h100\nreplicas: 0\n"
        "arrivals: {kind: poisson, rate_per_s: 1, duration_s: 10}\n"
        "bogus: {secret: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}\n"
    )
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown field 'bogus'" in err and "xxxx" not in err, err
    assert (
        "field 'replicas' = 0: Input should be greater than or equal to 1; accepted: an "
        "integer from 1 to 10000" in err
    ), err
