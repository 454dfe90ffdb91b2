"""Bad input gets one line naming the field, the value and what is accepted, and exit 2.

Each case here is one of the inputs measured in the "every bad input gets a one-line answer"
review, with the message it must now give.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetplan.cli import EXIT_BAD_INPUT, EXIT_NO_CANDIDATE
from fleetplan.files import MAX_DEPTH

SCENARIO = """\
model: llama-3.1-8b
precisions: [bf16, fp8]
traffic: {avg_qps: 20, peak_qps: 50}
input_tokens: {mean: 900, p95: 2800}
output_tokens: {mean: 300, p95: 700}
slo: {ttft_p95_ms: 1500, tpot_p95_ms: 50}
constraints: {providers: [runpod, lambda]}
"""


def one_line(r) -> str:
    assert "Traceback" not in r.err + r.out
    lines = [x for x in r.err.splitlines() if x.strip()]
    assert len(lines) == 1, r.err
    return lines[0]


def bad(r, needle: str) -> None:
    assert r.code == EXIT_BAD_INPUT, (r.code, r.err)
    line = one_line(r)
    assert needle in line, line


def scenario(tmp_path: Path, text: str, name: str = "s.yaml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_version(cli):
    r = cli("--version")
    assert r.code == 0 and r.out.startswith("fleetplan ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["providers"], "No such command 'providers'"),
        (["fit"], "Missing argument"),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--tp", "x"], "--tp"),
        (["gateway", "--config", "x.yaml", "--port", "70000"], "--port = 70000"),
        (["plan", "--json", "--format", "md"], "cannot be used together"),
        (
            ["cost", "--gpu", "h100", "--model", "llama-3.1-8b", "--tok-per-s", "100"],
            "--tok-per-s and --model cannot be used together",
        ),
        (["plan", "--emit", ""], "--emit is empty"),
        (["plan", "--emit="], "--emit is empty"),
        (["plan", "--output="], "--output is empty"),
    ],
)
def test_usage_errors_are_one_line(cli, args, needle):
    bad(cli(*args), needle)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308"])
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["cost", "--gpu", "h100", "--tok-per-s", "100", "--usd-per-hour"], "--usd-per-hour"),
        (["cost", "--gpu", "h100", "--usd-per-hour", "2", "--tok-per-s"], "--tok-per-s"),
        (["breakeven", "--api", "gpt-4o-mini", "--gpu", "h100", "--input-tokens", "500",
          "--output-tokens", "200", "--usd-per-hour", "2", "--volume-max"], "--volume-max"),
        (["tco", "--gpu", "h100", "--pue"], "--pue"),
        (["cache-roi", "--prefix-tokens", "1000", "--suffix-tokens", "100",
          "--requests-per-hour", "100", "--hit-rate"], "--hit-rate"),
        (["lora", "--loads", "10,10", "--capacity-req-per-hour", "100", "--usd-per-hour", "2",
          "--adapter-overhead"],
         "--adapter-overhead"),
        (["quantize", "llama-3.1-8b", "--gpu", "h100", "--utilization"], "--utilization"),
        (["fit", "llama-3.1-8b", "--gpu", "h100", "--gpu-memory-utilization"],
         "--gpu-memory-utilization"),
    ],
)  # fmt: skip
def test_non_finite_options_are_refused(cli, args, flag, value):
    bad(cli(*args, value), f"{flag} = ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ("cost --gpu h100 --model llama-3.1-8b --tpot-p95-ms -5", "--tpot-p95-ms = -5.0; accepted"),
        ("quantize llama-3.1-8b --gpu h100 --ttft-p95-ms -1", "--ttft-p95-ms = -1.0; accepted"),
        ("plan --model llama-3.1-8b --qps -1 --input-tokens 9 --output-tokens 3", "--qps = -1.0; "
         "accepted: a finite number in (0, "),
        ("plan --verify --verify-max-requests -1", "--verify-max-requests = -1; accepted: an "
         "integer from 1 "),
        ("tco --gpu h100 --load 0", "--load = 0.0; accepted: a finite number in (0, 1]"),
        ("breakeven --api gpt-4o-mini --gpu h100 --input-tokens 500 --output-tokens 200 --model "
         "llama-3.1-8b --capacity-req-per-hour 100", "--capacity-req-per-hour and --model cannot "
         "be used together"),  # was an UnboundLocalError
    ],
)  # fmt: skip
def test_options_are_checked_for_what_they_mean(cli, args, needle):
    """A negative SLO, rate or work cap is refused by the option check, not run with (a TPOT
    SLO of -5 ms "missed" at every batch) nor refused later with other bounds."""
    bad(cli(*args.split()), needle)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("headroom: 1e-300", "headroom"),
        ("headroom: 1e-17", "headroom"),
        ("headroom: .nan", "headroom"),
        ("ops_usd_per_month: .inf", "ops_usd_per_month"),
        ("engines: []", "engines"),
        ("compare_apis: 3", "compare_apis"),
        ("prefix_caching: 'yes'", "prefix_caching"),
        ("hand_sizing: {t_step_ms: 18, batch: 2.5}", "hand_sizing.batch"),
        ("hand_sizing: {t_step_ms: 18, batch: 48, context: 1e300}", "hand_sizing.context"),
    ],
)
def test_scenario_values_are_refused(cli, tmp_path, edit, needle):
    bad(cli("plan", scenario(tmp_path, SCENARIO + edit + "\n")), needle)


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("precisions:", "headroom: 1.5\nprecisions:", "field 'headroom' = 1.5: Input should be "
         "less than or equal to 1; accepted: a finite number in [0.01, 1]"),
        ("ttft_p95_ms: 1500", "ttft_p95_ms: -5", "field 'slo.ttft_p95_ms' = -5: Input should be "
         "greater than 0; accepted: a finite number in (0, 86,400,000]"),
        ("precisions:", "hand_sizing: {t_step_ms: 18, batch: 0}\nprecisions:", "field "
         "'hand_sizing.batch' = 0: Input should be greater than or equal to 1; accepted: an "
         "integer from 1 to 1,000,000"),
    ],
)  # fmt: skip
def test_a_value_past_a_bound_in_a_file_gets_the_whole_accepted_range(
    cli, tmp_path, old, new, said
):
    """pydantic names only the bound a value broke ('less than or equal to 1'); the command line
    says the whole range. A file's error now says it too, from the field's type."""
    r = cli("plan", scenario(tmp_path, SCENARIO.replace(old, new, 1)))
    assert r.code == 2 and said in r.err, r.err


def test_a_blank_scenario_model_is_refused_saying_what_a_model_is(cli, tmp_path):
    text = SCENARIO.replace("model: llama-3.1-8b", "model: ''")
    bad(
        cli("plan", scenario(tmp_path, text)),
        "field 'model' = '': Value error, expected a "
        "catalog model id or alias (`fleetplan models`) or a path to a Hugging Face config.json",
    )


def test_string_numbers_are_not_coerced(cli, tmp_path):
    text = SCENARIO.replace("avg_qps: 20", 'avg_qps: "20"')
    bad(cli("plan", scenario(tmp_path, text)), "traffic.avg_qps")
    toml = tmp_path / "s.toml"
    toml.write_text(
        'model = "llama-3.1-8b"\n[traffic]\navg_qps = "20"\n[input_tokens]\nmean = 900\n'
        "[output_tokens]\nmean = 300\n",
        encoding="utf-8",
    )
    bad(cli("plan", str(toml)), "traffic.avg_qps")


def test_yaml_12_numbers_are_numbers(cli, tmp_path):
    text = SCENARIO.replace("avg_qps: 20", "avg_qps: 2e1") + "headroom: 7e-1\n"
    r = cli("plan", scenario(tmp_path, text), "--json")
    assert r.code == 0, r.err
    assert r.json()["workload"]["headroom"] == 0.7
    assert r.json()["workload"]["avg_qps"] == 20.0


def test_duplicate_keys_are_refused(cli, tmp_path):
    bad(cli("plan", scenario(tmp_path, SCENARIO + "model: llama-3.1-70b\n")), "appears twice")


def test_yaml_alias_bomb_gets_a_short_error(cli, tmp_path):
    rows = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    rows += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    r = cli("plan", scenario(tmp_path, "\n".join(rows) + "\nmodel: [*a8]\n"))
    bad(r, "more than")
    assert len(r.err) < 500


def test_non_utf8_and_deep_files_are_refused(cli, tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes(SCENARIO.replace("bf16", "bf16  # caf\xe9").encode("latin-1"))
    bad(cli("plan", str(p)), "not UTF-8")
    deep = "x: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    bad(cli("plan", scenario(tmp_path, deep)), "nested too deeply")
    js = tmp_path / "config.json"
    js.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    bad(cli("fit", str(js), "--gpu", "h100"), "nested too deeply")


def test_budget_constraint_json_and_no_candidate_exit_code(cli, tmp_path):
    def with_budget(usd: str) -> str:
        text = SCENARIO.replace(
            "[runpod, lambda]}", f"[runpod, lambda], max_usd_per_month: {usd}}}"
        )
        return scenario(tmp_path, text)

    ok = cli("plan", with_budget("1e6"), "--json")
    assert ok.code == 0, ok.err
    assert ok.json()["recommended"]["within_budget"] is True
    r = cli("plan", with_budget("50"), "--json")
    assert r.code == EXIT_NO_CANDIDATE, r.err
    data = r.json()  # the report still prints
    assert data["recommended"] is None
    assert any("above budget" in x["reason"] for x in data["rejected"])


def test_output_paths_are_checked_before_any_work(cli, tmp_path):
    missing = tmp_path / "no" / "plan.json"
    bad(cli("plan", "--json", "-o", str(missing)), "does not exist")
    bad(cli("plan", "-o", str(tmp_path)), "is a folder")
    a_file = tmp_path / "f.txt"
    a_file.write_text("x", encoding="utf-8")
    bad(cli("plan", "--emit", str(a_file)), "is a file")
    assert cli("plan", "--emit", str(a_file / "sub")).code == EXIT_BAD_INPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_output_file_is_written_whole(cli, tmp_path):
    out = tmp_path / "plan.json"
    r = cli("plan", "--json", "-o", str(out))
    assert r.code == 0, r.err
    assert json.loads(out.read_text(encoding="utf-8"))["recommended"]
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary file left


def test_unknown_provider_names_a_real_listing_command(cli, tmp_path):
    text = SCENARIO.replace("[runpod, lambda]", "[nosuchcloud]")
    r = cli("plan", scenario(tmp_path, text))
    bad(r, "unknown provider 'nosuchcloud'")
    assert "fleetplan providers" not in r.err and "`fleetplan offers`" in r.err


def test_every_listing_hint_is_a_real_command(cli):
    from fleetplan.errors import LIST_COMMANDS

    for command in set(LIST_COMMANDS.values()):
        r = cli(*command.split(), "--help")
        assert r.code == 0, command


def test_missing_solver_extra_is_named(monkeypatch):
    import sys

    from fleetplan.errors import UnsupportedError
    from fleetplan.search.mix import cheapest_mix

    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    with pytest.raises(UnsupportedError, match=r"pip install 'fleetplan\[solver\]'"):
        cheapest_mix(["a"], [1.0], ["c"], [1.0], [[1.0]])
