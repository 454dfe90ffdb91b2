"""`fleetplan tco`: a payback month is one the hardware lives to see, every figure of the table
agrees with the others, and options that cannot apply together are refused."""

from __future__ import annotations

import pytest

from fleetplan.economics.tco import tco


def test_payback_after_the_life_is_no_payback() -> None:
    """An H100 at $30,000 (the CLI's defaults around it) against $2.69/h rent pays back in
    month 29; on a 2-year life it is written off (and replaced) first, so it never pays back
    (was: 'month 29', beside an owned $/month above the rent)."""
    kw = {
        "rent_usd_per_gpu_hour": 2.69, "power_w": 700, "pue": 1.58, "usd_per_kwh": 0.13,
        "host_usd_per_gpu": 4000, "host_power_w_per_gpu": 575, "support_fraction_per_year": 0.2,
    }  # fmt: skip
    three = tco(30_000, 1, life_years=3, **kw)
    two = tco(30_000, 1, life_years=2, **kw)
    assert three.payback_month is not None and 24 < three.payback_month <= 36
    assert three.owned_usd_per_month < three.rent_usd_per_month
    assert two.payback_month is None and two.owned_usd_per_month > two.rent_usd_per_month
    assert f"in month {three.payback_month}" in two.payback_basis
    assert "never within the 2-year life (24 months)" in two.payback_basis


def test_payback_without_rent_says_there_is_nothing_to_compare() -> None:
    t = tco(30_000, 1)
    assert t.payback_month is None and t.payback_basis == "no rent to compare"
    cheap = tco(30_000, 1, rent_usd_per_gpu_hour=0.0)
    assert cheap.payback_basis.startswith("never: renting costs no more")


def test_cli_payback_row_agrees_with_the_monthly_costs(cli) -> None:
    r = cli("tco", "--gpu", "h100", "--price-usd", "30000", "--rent-usd-per-hour", "2.69",
            "--life-years", "2")  # fmt: skip
    assert r.code == 0, r.err
    row = next(x for x in r.out.splitlines() if x.startswith("payback"))
    assert "month" in row and "never within the 2-year life" in row
    d = cli("tco", "--gpu", "h100", "--price-usd", "30000", "--rent-usd-per-hour", "2.69",
            "--life-years", "2", "--json").json()  # fmt: skip
    assert d["payback_month"] is None and "never within" in d["payback_basis"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--plan", "builtin", "--rent-usd-per-hour", "2"],
         "--plan and --rent-usd-per-hour cannot be used together"),  # the rent was ignored
        (["--plan", "builtin", "--gpu", "t4"], "--gpu t4 is not the plan's GPU"),
    ],
)  # fmt: skip
def test_plan_refuses_options_it_would_ignore(cli, args, said) -> None:
    r = cli("tco", *args)
    assert r.code == 2 and said in r.err


def test_plan_cloud_rate_is_the_plans_own(cli) -> None:
    """Owning one more GPU than the plan rents: the cloud $/GPU-hour stays the plan's rate (its
    $/month over the GPUs it bills), not its $/month spread over the GPUs owned."""
    plan = cli("tco", "--plan", "builtin", "--json").json()
    more = cli("tco", "--plan", "builtin", "--gpus", str(plan["gpus"] + 1), "--json").json()
    assert more["gpus"] == plan["gpus"] + 1
    assert more["rent_usd_per_month"] == pytest.approx(plan["rent_usd_per_month"])
    assert more["rent_usd_per_gpu_hour"] == pytest.approx(plan["rent_usd_per_gpu_hour"])


def test_the_table_reads_at_100_columns(cli) -> None:
    """The GPU's price source (a URL and a quote) sat in the capex row: 252 columns."""
    r = cli("tco", "--gpu", "h100")
    assert r.code == 0, r.err
    table, notes = r.out.split("\nGPU price: ", 1)
    assert max(len(line) for line in table.splitlines()) <= 100, r.out
    assert "(catalog price, source below)" in table and notes.startswith("catalog: ")


def test_a_catalog_purchase_price_is_held_to_the_price_bound(cli, tmp_path) -> None:
    p = tmp_path / "gpus.toml"
    p.write_text("[gpus.h100-sxm]\npurchase_price_usd = 1e305\n")
    r = cli("tco", "--gpu", "h100", "--catalog", str(p))
    assert r.code == 2 and "purchase_price_usd" in r.err and "1,000,000,000,000]" in r.err
