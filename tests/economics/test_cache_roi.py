"""`fleetplan cache-roi`: the semantic cache's figures say what they are, and its options are
never silently unused."""

from __future__ import annotations

import pytest

BASE = ["cache-roi", "--prefix-tokens", "2000", "--suffix-tokens", "200",
        "--requests-per-hour", "1000", "--hit-rate", "0.8"]  # fmt: skip
SEMANTIC = [*BASE, "--api", "gpt-4o", "--output-tokens", "300", "--embedding-usd-per-mtok",
            "0.02", "--vector-store-usd-per-month", "100"]  # fmt: skip


def _row(out: str, label: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(label))


def test_a_positive_saving_is_not_called_negative(cli) -> None:
    """Its basis said 'negative: it costs more than it saves' beside every saving."""
    r = cli(*SEMANTIC, "--semantic-hit-rate", "0.1")
    assert r.code == 0, r.err
    row = _row(r.out, "semantic cache saves $/month")
    assert "negative" not in row and "-$" not in row
    r = cli(*SEMANTIC, "--semantic-hit-rate", "0.001")
    row = _row(r.out, "semantic cache saves $/month")
    assert "negative: it costs more than it saves" in row and "-$" in row and "$-" not in row


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--output-tokens", "300"], "--output-tokens = 300 applies with --semantic-hit-rate only"),
        (["--embedding-usd-per-mtok", "0.5"], "--embedding-usd-per-mtok = 0.5 applies with"),
        (["--vector-store-usd-per-month", "50"], "--vector-store-usd-per-month = 50 applies with"),
        (["--api", "gpt-4o", "--semantic-hit-rate", "0.1"], "needs --output-tokens"),
    ],
)
def test_semantic_options_are_never_silently_unused(cli, extra, said) -> None:
    """Without --semantic-hit-rate these priced nothing and were dropped without a word; with it
    and no --output-tokens, a hit was priced as a prompt with no answer."""
    r = cli(*BASE, *extra)
    assert r.code == 2 and said in r.err


def test_the_table_reads_at_100_columns(cli) -> None:
    """The API price's source was repeated in three rows' basis (123 columns); the rates stay
    in the rows, the source goes under the table."""
    r = cli(*SEMANTIC, "--semantic-hit-rate", "0.1")
    assert r.code == 0, r.err
    table = r.out.split("\nAPI price: ")[0]
    assert max(len(line) for line in table.splitlines()) <= 100, r.out
    assert "openai:gpt-4o input $2.5/1M, cached $1.25/1M" in _row(r.out, "input $/month, cached")
    assert "genai-prices" in r.out.split("\nAPI price: ")[1]
