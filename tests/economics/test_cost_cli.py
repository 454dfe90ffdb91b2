"""`fleetplan cost`: every figure says what it counts, a $/request keeps its digits, and a
volume the deployment cannot serve gets no $/request."""

from __future__ import annotations

import pytest

from fleetplan.render.terminal import small_usd_text

MODEL = ["cost", "--gpu", "h100", "--usd-per-hour", "2", "--model", "llama-3.1-8b"]


def _row(out: str, label: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(label + " "))


@pytest.mark.parametrize(
    ("usd", "text"),
    [(0.0000405, "0.0000405"), (0.0646, "0.0646"), (5.2e-7, "0.000000520"), (2.5, "2.50")],
)
def test_small_dollars_keep_three_significant_digits(usd, text) -> None:
    assert small_usd_text(usd) == text


def test_volume_past_capacity_has_no_per_request_price(cli) -> None:
    """1e9 requests/day on one GPU read '$/request at volume 0.0000', below the $/request at
    full load beside it; the deployment cannot serve that volume at all."""
    r = cli(*MODEL, "--requests-per-day", "1e9")
    assert r.code == 0, r.err
    row = _row(r.out, "$/request at volume")
    assert " - " in row and "exceed the deployment's" in row and "add GPUs" in row
    d = cli(*MODEL, "--requests-per-day", "1e9", "--json").json()
    assert d["usd_per_request_at_volume"] is None
    assert any("exceed the deployment's" in n for n in d["notes"])
    ok = cli(*MODEL, "--requests-per-day", "1e5", "--json").json()
    assert ok["usd_per_request_at_volume"] == pytest.approx(2 * 24 / 1e5)
    assert ok["usd_per_request_at_volume"] > ok["usd_per_request"]


def test_small_per_request_figures_keep_their_digits(cli) -> None:
    r = cli(*MODEL, "--requests-per-day", "1e5")
    d = cli(*MODEL, "--requests-per-day", "1e5", "--json").json()
    assert small_usd_text(d["usd_per_request"]) in _row(r.out, "$/request")
    assert "0.000480" in _row(r.out, "$/request at volume")  # 48 / 100,000


def test_per_million_tokens_says_which_tokens(cli) -> None:
    r = cli(*MODEL)
    assert "input + output tokens, at 100% utilization" in _row(r.out, "$/1M tokens")
    r = cli("cost", "--gpu", "h100", "--usd-per-hour", "2", "--tok-per-s", "100")
    assert "the tokens of --tok-per-s" in _row(r.out, "$/1M tokens")


def test_requests_per_day_is_checked_by_its_flag(cli) -> None:
    """0 was refused as 'requests_per_day = 0', a name the command line does not have."""
    r = cli("cost", "--gpu", "h100", "--requests-per-day", "0")
    assert r.code == 2 and "--requests-per-day = 0.0; accepted: a finite number in (0, " in r.err
