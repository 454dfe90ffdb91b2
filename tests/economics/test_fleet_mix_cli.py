"""`fleetplan fleet-mix`: an option that prices one kind of burst is refused with the other
rather than silently unused, and a pricing model is one the catalog knows."""

from __future__ import annotations

import pytest

BASE = ["fleet-mix", "--demand-gpus", "2,2,3,5,8,12,8,4", "--gpu", "h100",
        "--base-usd-per-hour", "2.5"]  # fmt: skip
API = ["--burst-api", "gpt-4o-mini", "--req-per-gpu-hour", "20000", "--input-tokens", "1000",
       "--output-tokens", "300"]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ([*API, "--burst-usd-per-hour", "1"], "--burst-api and --burst-usd-per-hour cannot"),
        ([*API, "--spot-interruption", "0.2"], "--burst-api and --spot-interruption cannot"),
        (["--req-per-gpu-hour", "20000"], "--req-per-gpu-hour = 20000 applies with --burst-api"),
        (["--output-tokens", "300"], "--output-tokens = 300 applies with --burst-api only"),
        (["--base-pricing", "foo"], "--base-pricing = 'foo'; accepted: on-demand, spot"),
    ],
)
def test_options_of_the_other_burst_are_refused(cli, extra, said) -> None:
    r = cli(*BASE, *extra)
    assert r.code == 2 and said in r.err


def test_a_missing_offer_names_the_commands_own_price_option(cli) -> None:
    """It said 'give --usd-per-hour', an option fleet-mix does not have."""
    r = cli("fleet-mix", "--demand-gpus", "1,2", "--gpu", "t4", "--base-pricing", "reserved-3y")
    assert r.code == 2 and "give --base-usd-per-hour" in r.err


def test_cost_pricing_is_a_pricing_model(cli) -> None:
    r = cli("cost", "--gpu", "h100", "--tok-per-s", "100", "--pricing", "on_demand")
    assert r.code == 2 and "--pricing = 'on_demand'; accepted: on-demand, spot" in r.err


def test_json_holds_the_prices_the_table_shows(cli) -> None:
    """The table's notes named the base and burst prices; the JSON had the figures alone."""
    args = ["fleet-mix", "--demand-gpus", "2,2,3,5,8,12,8,4", "--gpu", "h100",
            "--base-usd-per-hour", "2.5", "--burst-usd-per-hour", "1.25"]  # fmt: skip
    d = cli(*args, "--json").json()
    assert d["base_usd_per_gpu_hour"] == 2.5 and d["burst_usd_per_gpu_hour"] == 1.25
    assert d["base_price_basis"] == d["burst_price_basis"] == "user-given"
    assert d["base_usd_per_month"] == pytest.approx(d["base_gpus"] * 730 * 2.5)
    assert d["burst_usd_per_month"] == pytest.approx(d["burst_gpu_hours_per_month"] * 1.25)
    r = cli(*args)
    assert f"{d['base_gpus']} GPUs x 730 h x $2.50 (on-demand)" in r.out
    assert "not priced: give --spot-interruption" in r.out
