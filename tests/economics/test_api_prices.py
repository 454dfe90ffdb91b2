"""The genai-prices adapter: package prices, cached tokens, tiers, batch, unknown names."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from fleetplan.catalog.api_prices import api_price, known_api_models, load_api_overrides
from fleetplan.errors import InputError, UnknownNameError


def test_prices_come_from_the_package() -> None:
    card = api_price("gpt-4o")
    ref = calc_price(Usage(input_tokens=1_000_000, output_tokens=1_000_000), "gpt-4o")
    assert card.input_usd_per_mtok + card.output_usd_per_mtok == pytest.approx(
        float(ref.total_price)
    )
    assert card.source.startswith("genai-prices ")
    assert "gpt-4o-mini" in known_api_models()


def test_cached_input_counted_once_at_cached_price() -> None:
    card = api_price("gpt-4o")
    ours = card.usd_per_request(1000, 300, cached_input_tokens=400)
    ref = calc_price(Usage(input_tokens=1000, cache_read_tokens=400, output_tokens=300), "gpt-4o")
    assert ours == pytest.approx(float(ref.total_price))
    expect = (
        600 * card.input_usd_per_mtok
        + 400 * card.cached_input_usd_per_mtok
        + 300 * card.output_usd_per_mtok
    ) / 1e6
    assert ours == pytest.approx(expect)
    with pytest.raises(InputError):
        card.usd_per_request(100, 1, cached_input_tokens=200)


def test_long_context_tier_is_a_cliff() -> None:
    card = api_price("gemini-1.5-pro")
    assert card.tiers
    start = card.tiers[0].start_input_tokens
    ref = calc_price(Usage(input_tokens=start + 1, output_tokens=100), "gemini-1.5-pro")
    assert card.usd_per_request(start + 1, 100) == pytest.approx(float(ref.total_price))
    assert card.usd_per_request(start + 1, 100) > 1.5 * card.usd_per_request(start - 1, 100)


def test_batch_price_is_cheaper_and_cited() -> None:
    std, batch = api_price("gpt-4o"), api_price("gpt-4o", batch=True)
    assert batch.pricing == "batch" and batch.input_usd_per_mtok < std.input_usd_per_mtok
    hosted = api_price("together:meta-llama/Llama-3.3-70B-Instruct-Turbo", batch=True)
    assert "https://" in hosted.source


def test_unknown_name_suggests_nearest() -> None:
    with pytest.raises(UnknownNameError) as e:
        api_price("gpt-4o-mni")
    assert "gpt-4o-mini" in e.value.suggestions


def test_user_override_file(tmp_path) -> None:
    p = tmp_path / "prices.yaml"
    p.write_text("api:\n  - {model: my-llm, input_usd_per_mtok: 1, output_usd_per_mtok: 2}\n")
    card = api_price("my-llm", overrides=load_api_overrides(p))
    assert card.usd_per_request(1e6, 1e6) == pytest.approx(3.0)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[api]]\nmodel = "x"\ninput_usd_per_mtok = -1\noutput_usd_per_mtok = 1\n')
    with pytest.raises(InputError, match="input_usd_per_mtok"):
        load_api_overrides(bad)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("inf", "= inf: Input should be a finite number"),  # was accepted: breakeven crashed
        ('"2.5"', "= '2.5': Input should be a valid number"),  # was read as 2.5
        ("1e300", "accepted: a finite number in [0, 1,000,000,000,000]"),
    ],
)
def test_override_prices_are_checked_as_every_file_is(tmp_path, value, said) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[[api]]\nmodel = "x"\ninput_usd_per_mtok = {value}\noutput_usd_per_mtok = 1\n')
    with pytest.raises(InputError) as e:
        load_api_overrides(bad)
    assert "field 'api.0.input_usd_per_mtok'" in str(e.value) and said in str(e.value)


def test_override_batch_row_does_not_replace_the_standard_one(tmp_path) -> None:
    """A model's standard and batch rows in one file: each answers for its own pricing (the
    batch row used to overwrite the standard one, so a standard breakeven got batch prices)."""
    p = tmp_path / "prices.toml"
    p.write_text(
        '[[api]]\nmodel = "m"\ninput_usd_per_mtok = 2\noutput_usd_per_mtok = 8\n'
        '[[api]]\nmodel = "m"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 4\n'
        'pricing = "batch"\n'
    )
    overrides = load_api_overrides(p)
    std = api_price("m", overrides=overrides)
    batch = api_price("M", batch=True, overrides=overrides)
    assert (std.pricing, std.input_usd_per_mtok) == ("standard", 2.0)
    assert (batch.pricing, batch.input_usd_per_mtok) == ("batch", 1.0)
    only_batch = tmp_path / "batch.toml"
    only_batch.write_text(
        '[[api]]\nmodel = "m"\ninput_usd_per_mtok = 1\noutput_usd_per_mtok = 4\npricing = "batch"\n'
    )
    with pytest.raises(InputError, match="a batch price only"):
        api_price("m", overrides=load_api_overrides(only_batch))


def test_price_table_shows_every_digit_of_a_price(cli, tmp_path) -> None:
    """$0.625/1M (a half-price batch of $1.25) printed as $0.62."""
    p = tmp_path / "prices.toml"
    p.write_text(
        '[[api]]\nmodel = "m"\ninput_usd_per_mtok = 0.625\noutput_usd_per_mtok = 1.875\n'
        "cached_input_usd_per_mtok = 0.0375\n"
    )
    r = cli("api", "price", "m", "--api-prices", str(p))
    assert r.code == 0, r.err
    assert "$0.625" in r.out and "$1.875" in r.out and "$0.0375" in r.out


def test_a_missing_file_is_named_for_what_it_is(cli, tmp_path) -> None:
    """'file ... does not exist' did not say which of a command's files it was."""
    r = cli("api", "price", "gpt-4o", "--api-prices", str(tmp_path / "none.toml"))
    assert r.code == 2 and "price file '" in r.err
    r = cli("budget", str(tmp_path))
    assert r.code == 2 and "budget file '" in r.err and "is a folder" in r.err
