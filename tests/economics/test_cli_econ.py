"""Economics commands through the real entry point (fleetplan.cli.main)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetplan.catalog.api_prices import api_price

EXAMPLES = Path(__file__).parents[2] / "examples"
SEED = [
    "breakeven",
    "--gpu",
    "l40s",
    "--usd-per-hour",
    "1.60",
    "--capacity-req-per-hour",
    "1800",
    "--ops-usd-per-month",
    "500",
    "--input-tokens",
    "800",
    "--output-tokens",
    "300",
]


def test_acceptance_breakeven_json(cli) -> None:
    r = cli(*SEED, "--api", "gpt-4o-mini", "--api", "gpt-4o", "--json")
    assert r.code == 0, r.err
    mini, big = r.json()
    keys = {
        "api",
        "api_usd_per_request",
        "self_hosted_usd_per_request_at_capacity",
        "breakeven_requests_per_month",
        "breakeven_tokens_per_month",
        "gpus_at_breakeven",
        "reason",
    }
    assert keys <= set(mini) and keys <= set(big)
    assert mini["breakeven_requests_per_month"] is None and "no breakeven" in mini["reason"]
    # the figure follows the package's price: (1,168 + 500) / GPT-4o's $/request
    per_req = api_price("gpt-4o").usd_per_request(800, 300)
    assert big["api_usd_per_request"] == pytest.approx(per_req)
    assert big["breakeven_requests_per_month"] == pytest.approx(1668 / per_req, abs=1)
    assert big["api_price"]["source"].startswith("genai-prices")
    assert big["self_hosted"]["utilization"] == 1.0
    assert len(big["curve"]["requests_per_month"]) == len(big["curve"]["api_usd_per_month"])


def test_breakeven_with_user_prices_file(cli, tmp_path) -> None:
    p = tmp_path / "p.toml"
    p.write_text('[[api]]\nmodel = "seed-4o"\ninput_usd_per_mtok = 2.5\noutput_usd_per_mtok = 10\n')
    r = cli(*SEED, "--api", "seed-4o", "--api-prices", str(p), "--json")
    assert r.code == 0, r.err
    assert r.json()[0]["breakeven_requests_per_month"] == 333_600


def test_breakeven_from_model_says_so(cli) -> None:
    r = cli(
        "breakeven",
        "--gpu",
        "l40s",
        "--usd-per-hour",
        "1.6",
        "--model",
        "llama-3.1-8b",
        "--input-tokens",
        "800",
        "--output-tokens",
        "300",
        "--api",
        "gpt-4o",
    )
    assert r.code == 0, r.err
    assert "performance model" in r.out and "100% utilization" in r.out


def test_unknown_api_model_exit_2(cli) -> None:
    r = cli(*SEED, "--api", "gpt-4o-mni")
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and "gpt-4o-mini" in r.err


def test_cost_table_and_json(cli) -> None:
    r = cli(
        "cost",
        "--gpu",
        "a100-80gb",
        "--gpus",
        "4",
        "--usd-per-hour",
        "2.21",
        "--tok-per-s",
        "2400",
        "--utilization",
        "0.7",
        "--json",
    )
    assert r.code == 0 and r.json()["usd_per_mtok"] == pytest.approx(1.4616, abs=5e-5)
    r = cli("cost", "--gpu", "a100-80gb", "--tok-per-s", "2400")
    assert r.code == 0 and "catalog offer" in r.out and "100% utilization" in r.out


def test_budget_example(cli, tmp_path) -> None:
    r = cli("budget", str(EXAMPLES / "budget-monthly.yaml"), "--json")
    assert r.code == 0, r.err
    assert r.json()["total_usd_per_month"] == pytest.approx(3909.50)
    out = tmp_path / "focus.csv"
    assert cli("budget", str(EXAMPLES / "budget-monthly.yaml"), "--focus-csv", str(out)).code == 0
    head = out.read_text().splitlines()[0].split(",")
    assert {"BilledCost", "EffectiveCost", "ListCost", "PricingCategory", "ChargeCategory"} <= set(
        head
    )
    r = cli("budget", str(EXAMPLES / "budget-embedding-backfill.toml"), "--json")
    assert r.json()["total_usd_per_month"] == pytest.approx(17_600)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"category": "marketing", "gpu": "l40s", "count": 1, "hours_per_month": 1}, "category"),
        (
            {"category": "training", "gpu": "l40s", "count": 1, "hours_per_month": -5},
            "hours_per_month",
        ),
        (
            {"category": "embeddings", "api": "text-embedding-3-smal", "tokens_per_month": 1},
            "text-embedding-3-small",
        ),
        # was an AssertionError traceback: a blank gpu is no GPU line, then no API line either
        ({"category": "training", "gpu": "", "count": 1, "hours_per_month": 1},
         "field 'lines.0.gpu' = '': String should have at least 1 character"),
        ({"category": "training", "gpu": "l40s", "count": 10**9, "hours_per_month": 1},
         "field 'lines.0.count' = 1000000000: Input should be less than or equal to 1000000; "
         "accepted: an integer from 1 to 1,000,000"),
        # a field of the other kind of line was ignored: the GPU line billed the catalog rate
        ({"category": "training", "gpu": "l40s", "count": 1, "hours_per_month": 1,
          "usd_per_mtok": 2}, "a GPU line (gpu) takes no usd_per_mtok"),
        ({"category": "embeddings", "usd_per_mtok": 1, "tokens_per_month": 5, "count": 3},
         "an API line takes no count"),
    ],
)  # fmt: skip
def test_bad_budget_exit_2(cli, tmp_path, line, field) -> None:
    p = tmp_path / "b.yaml"
    p.write_text(json.dumps({"lines": [line]}))
    r = cli("budget", str(p))
    assert r.code == 2 and r.err.startswith("fleetplan: error:") and field in r.err
    assert r.err.count("\n") == 1


@pytest.mark.parametrize(
    ("command", "target", "said"),
    [
        (["budget", str(EXAMPLES / "budget-monthly.yaml")], "nodir/x.csv", "folder '{t}' does not"),
        (["budget", str(EXAMPLES / "budget-monthly.yaml")], "", "is a folder; give a file name"),
        (["keys", "usage", "--db", "{t}/k.db"], "nodir/x.csv", "folder '{t}' does not exist"),
        (["keys", "usage", "--db", "{t}/k.db"], "", "is a folder; give a file name"),
    ],
)
def test_focus_csv_target_is_checked_before_any_work(cli, tmp_path, command, target, said) -> None:
    """A missing folder or a folder as --focus-csv was a FileNotFoundError/IsADirectoryError
    traceback after the budget had been computed."""
    out = tmp_path / target
    r = cli(*[c.format(t=tmp_path) for c in command], "--focus-csv", str(out))
    folder = tmp_path / "nodir" if target else tmp_path
    assert r.code == 2 and r.err.count("\n") == 1, r.err
    assert "--focus-csv" in r.err and said.format(t=folder) in r.err, r.err


def test_negative_hours_in_cost_inputs_exit_2(cli) -> None:
    r = cli(*SEED[:-4], "--input-tokens", "0", "--output-tokens", "300", "--api", "gpt-4o")
    assert r.code == 2 and "--input-tokens" in r.err


def test_other_commands(cli, tmp_path) -> None:
    args = ["tco", "--gpu", "rtx-4090", "--price-usd", "1600", "--host-usd-per-gpu", "0"]
    r = cli(*args, "--json")
    assert r.code == 0 and r.json()["amortized_usd_per_gpu_hour"] == pytest.approx(0.0609, abs=5e-5)
    r = cli(
        "cache-roi",
        "--prefix-tokens",
        "2048",
        "--suffix-tokens",
        "256",
        "--requests-per-hour",
        "10000",
        "--hit-rate",
        "0.85",
        "--json",
    )
    assert r.json()["prefix"]["reduction"] == pytest.approx(0.7556, abs=5e-5)
    r = cli("tenancy", "--peak-gpus", ",".join(["1"] * 10), "--utilization", "0.4", "--json")
    assert r.json()["pooled_gpus"] == 8  # P99 of Binomial(10, 0.4), not the seed's 2x
    r = cli(
        "fleet-mix",
        "--gpu",
        "a100-80gb",
        "--demand-gpus",
        "3,6,10",
        "--base-usd-per-hour",
        "2.21",
        "--burst-usd-per-hour",
        "0.73",
        "--json",
    )
    assert r.code == 0 and r.json()["base_gpus"] == 6
    r = cli("api", "price", "gpt-4o", "--json")
    assert r.json()["model"] == "gpt-4o"
    csv = tmp_path / "vms.csv"
    csv.write_text(
        "InstanceType,AcceleratorName,AcceleratorCount,Region,Price,SpotPrice\n"
        "g6e.xlarge,L40S,1,us-east-1,1.861,0.9\nx,Nope,1,r,1,\n"
    )
    r = cli("import-offers", str(csv), "--provider", "aws")
    assert r.code == 0 and 'pricing = "spot"' in r.out and "Nope" in r.err


def test_skypilot_accelerator_names_map_to_the_right_a100(catalog):
    from fleetplan.economics.interchange import offers_from_skypilot

    text = (
        "InstanceType,AcceleratorName,AcceleratorCount,Region,Price,SpotPrice\n"
        "p4d.24xlarge,A100,8,us-east-1,21.96,\n"
        "p4de.24xlarge,A100-80GB,8,us-east-1,40.97,\n"
        "p5.48xlarge,H100,8,us-east-1,55.04,\n"
    )
    offers, unknown = offers_from_skypilot(text, "aws", catalog, source="test", as_of="2026-11")
    by_type = {o["instance_type"]: o["gpu"] for o in offers}
    assert by_type == {
        "p4d.24xlarge": "a100-40gb",  # SkyPilot's "A100" is the 40 GB part
        "p4de.24xlarge": "a100-80gb",
        "p5.48xlarge": "h100-sxm",
    }
    assert unknown == []


def test_fleet_mix_burst_on_an_api(cli):
    args = ["fleet-mix", "--gpu", "a100", "--demand-gpus", "2,2,4,8,4,2",
            "--base-usd-per-hour", "2.21", "--json"]  # fmt: skip
    spot = cli(*args, "--burst-usd-per-hour", "0.73").json()
    api = cli(*args, "--burst-api", "gpt-4o-mini", "--req-per-gpu-hour", "1800",
              "--input-tokens", "800", "--output-tokens", "300").json()  # fmt: skip
    # gpt-4o-mini: $0.0003/request x 1800 = $0.54 per burst GPU-hour
    assert api["burst_usd_per_month"] == pytest.approx(
        spot["burst_usd_per_month"] * 0.54 / 0.73, rel=1e-3
    )
    assert "API" in api["risk"] and api["interruption_usd_per_month"] == 0
    r = cli(*args, "--burst-api", "gpt-4o-mini")
    assert r.code == 2 and "--req-per-gpu-hour" in r.err


def test_fleet_mix_demand_is_held_to_the_gpu_count_limit(cli):
    """--peak-gpus, replicas and every other GPU count stop at MAX_COUNT; 1e9 GPUs an hour was
    priced as a fleet."""
    r = cli("fleet-mix", "--gpu", "h100", "--demand-gpus", "1,1000000000", "--json")
    said = "--demand-gpus value = 1000000000.0; accepted: a finite number in [0, 1,000,000]"
    assert r.code == 2 and said in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert cli("fleet-mix", "--gpu", "h100", "--demand-gpus", "2.5,1000000").code == 0


@pytest.mark.parametrize(
    ("peaks", "said"),
    [
        # the fuzz case that grew the test process past 20 GB: one array entry per GPU
        (
            "0,616988672.0",
            "--peak-gpus value = 616988672; accepted: an integer from 0 to 1,000,000",
        ),
        ("1e15,1e15", "--peak-gpus value = 1000000000000000; accepted: an integer from 0 to"),
        ("2.5,3", "--peak-gpus value = 2.5; accepted: an integer from 0 to 1,000,000"),
        ("600000,600000", "peak_gpus sum to 1,200,000 GPUs; accepted: at most 1,000,000"),
        (",".join(["0"] * 1001), "tenants = 1,001; accepted: 1 to 1,000"),
    ],
)
def test_tenancy_refuses_fleets_it_cannot_hold(cli, peaks: str, said: str) -> None:
    r = cli("tenancy", "--peak-gpus", peaks, "--utilization", "0.5", "--json")
    assert r.code == 2 and said in r.err and said in r.json()["error"]  # --json: the error too
    assert len(r.err.strip().splitlines()) == 1


def test_tenancy_pools_the_largest_fleet_it_accepts(cli) -> None:
    r = cli("tenancy", "--peak-gpus", "999999,1", "--utilization", "0.5", "--json")
    assert r.code == 0 and r.json()["sum_of_peaks_gpus"] == 1_000_000
    assert r.json()["pooled_gpus"] == 1_000_000  # both on at the 99th percentile (p = 0.25)


def test_tenancy_distribution_is_the_dense_convolution() -> None:
    """The two-point update equals np.convolve with each tenant's full on/off vector."""
    import numpy as np

    from fleetplan.economics.tenancy import multiplexing

    rng = np.random.default_rng(7)
    for _ in range(100):
        n = int(rng.integers(1, 10))
        peaks = [int(x) for x in rng.choice([0, 1, 2, 5, 40, 300], size=n)]
        utils = [float(x) for x in rng.random(n)]
        dist = np.array([1.0])
        for p, u in zip(peaks, utils, strict=True):
            tenant = np.zeros(p + 1)
            tenant[0] += 1 - u
            tenant[p] += u
            dist = np.convolve(dist, tenant)
        for q in (0.5, 0.9, 0.99, 1.0):
            want = int(np.searchsorted(np.cumsum(dist), q - 1e-12))
            assert multiplexing(peaks, utils, q).pooled_gpus == want


def test_tenancy_quantile_zero_is_refused_by_the_option(cli) -> None:
    """--quantile 0 passed the option check ([0, 1]) and the library refused it as '(0, 1]':
    NaN and 0 were answered with two ranges."""
    for value in ("0", "nan"):
        r = cli("tenancy", "--peak-gpus", "2,2", "--utilization", "0.5", "--quantile", value)
        assert r.code == 2 and "--quantile = " in r.err, r.err
        assert "accepted: a finite number in (0, 1]" in r.err, r.err


_SKY = "InstanceType,AcceleratorName,AcceleratorCount,Region,Price,SpotPrice\n"


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("g6e.xlarge,L40S,1,us-east-1,-1.861,", "line 2: Price = '-1.861'"),  # exit 0, empty
        ("g6e.xlarge,L40S,1,us-east-1,inf,", "line 2: Price = 'inf'"),  # written as Infinity
        ("g6e.xlarge,L40S,1,us-east-1,1.8,nan", "line 2: SpotPrice = 'nan'"),
        ("g6e.xlarge,L40S,-1,us-east-1,1.8,", "line 2: AcceleratorCount = '-1'"),
        # past the bounds every price and GPU count is held to: were written to the TOML
        ("g6e.xlarge,L40S,1,us-east-1,1e300,", "Price = '1e300'; expected a price from 0 to $1,"),
        ("p5,H100,1e9,us-east-1,10,", "AcceleratorCount = '1e9'; expected a number from 0 to 1,"),
    ],
)
def test_import_offers_refuses_a_broken_row(cli, tmp_path, row, said):
    csv = tmp_path / "vms.csv"
    csv.write_text(_SKY + row + "\n")
    r = cli("import-offers", str(csv), "--provider", "aws")
    assert r.code == 2 and r.out == "" and said in r.err, r.err


def test_import_offers_says_which_rows_it_left_out(cli, tmp_path):
    """AcceleratorCount 0 (or a fraction of a GPU) and a price of 0 were dropped without a word;
    an empty catalog was written and the command exited 0."""
    csv = tmp_path / "vms.csv"
    csv.write_text(_SKY + "a,L40S,0,r,1.8,\nb,L40S,0.5,r,1.8,\nc,L40S,1,r,0,\n")
    r = cli("import-offers", str(csv), "--provider", "aws")
    assert r.code == 0 and "skipped 3 row(s): line 2 (AcceleratorCount 0: " in r.err, r.err
    assert "line 3 (AcceleratorCount 0.5: " in r.err and "line 4 (Price 0: " in r.err
    j = cli("import-offers", str(csv), "--provider", "aws", "--json").json()
    assert j["offers"] == [] and len(j["skipped_rows"]) == 3


@pytest.mark.parametrize("as_of", ["notadate", "2026-13", "2026-02-30", "26-02", "2026-2"])
def test_import_offers_as_of_is_an_iso_date(cli, tmp_path, as_of):
    csv = tmp_path / "vms.csv"
    csv.write_text(_SKY + "g6e.xlarge,L40S,1,us-east-1,1.861,\n")
    r = cli("import-offers", str(csv), "--provider", "aws", "--as-of", as_of)
    assert r.code == 2 and f"--as-of = {as_of!r}; expected an ISO date" in r.err, r.err
    for ok in ("2026-02", "2026-02-28"):
        r = cli("import-offers", str(csv), "--provider", "aws", "--as-of", ok)
        assert r.code == 0 and f'as_of = "{ok}"' in r.out, r.err


def test_import_offers_from_a_folder_names_the_file(cli, tmp_path):
    """A catalog folder holds one vms.csv per cloud: a broken row said only 'line 2', and a
    skipped one 'line 2 (...)', without the file."""
    for cloud, rows in (("aws", "g6e.xlarge,L40S,1,us-east-1,1.861,\n"),
                        ("gcp", "a,L40S,0,r,1.8,\nb,L40S,1,r,x,\n")):  # fmt: skip
        (tmp_path / cloud).mkdir()
        (tmp_path / cloud / "vms.csv").write_text(_SKY + rows)
    r = cli("import-offers", str(tmp_path))
    gcp = str(tmp_path / "gcp" / "vms.csv")
    assert r.code == 2 and f"SkyPilot CSV {gcp!r}, line 3: Price = 'x'" in r.err, r.err
    (tmp_path / "gcp" / "vms.csv").write_text(_SKY + "a,L40S,0,r,1.8,\n")
    j = cli("import-offers", str(tmp_path), "--json").json()
    assert [o["provider"] for o in j["offers"]] == ["aws"]
    assert j["skipped_rows"] == [f"{gcp} line 2 (AcceleratorCount 0: not a whole number of "
                                 "GPUs, 1 or more)"]  # fmt: skip


def test_tenancy_names_the_count_that_does_not_match(cli) -> None:
    r = cli("tenancy", "--peak-gpus", "4,4,8", "--utilization", "0.3,0.5")
    assert r.code == 2
    assert "--utilization = '0.3,0.5' gives 2 fractions for 3 tenants (--peak-gpus)" in r.err


def test_lora_refuses_a_fleet_past_the_gpu_count_limit(cli) -> None:
    """1e9 requests/hour at 0.001 a replica printed 1,000,000,000,000 GPUs and its $/month."""
    r = cli("lora", "--loads", "1e9", "--capacity-req-per-hour", "0.001", "--usd-per-hour", "2")
    assert r.code == 2 and "accepted: at most 1,000,000 GPUs" in r.err


def test_budget_csv_and_json_on_stdout_are_refused_together(cli) -> None:
    """--focus-csv - wrote the CSV and dropped the asked-for JSON without a word."""
    r = cli("budget", str(EXAMPLES / "budget-monthly.yaml"), "--focus-csv", "-", "--json")
    assert r.code == 2 and "--focus-csv - and --json both write to stdout" in r.err


def test_budget_of_nothing_shows_no_shares(cli, tmp_path) -> None:
    p = tmp_path / "b.yaml"
    p.write_text("lines:\n  - {category: training, gpu: l40s, count: 1, hours_per_month: 0}\n")
    r = cli("budget", str(p))
    assert r.code == 0, r.err
    total = next(line for line in r.out.splitlines() if line.startswith("total"))
    assert total.split()[-1] == "-" and "100%" not in r.out and "0.0%" not in r.out


def test_import_offers_says_when_it_found_none(cli, tmp_path):
    """A CSV without a GPU row the catalog knows wrote an empty TOML without a word."""
    csv = tmp_path / "vms.csv"
    csv.write_text(_SKY + "m5.large,,,us-east-1,0.1,\n")
    r = cli("import-offers", str(csv), "--provider", "aws")
    assert r.code == 0 and r.out == "" and "no GPU offers found in" in r.err
