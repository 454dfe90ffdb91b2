"""`fleetplan api models|price`: API model prices (genai-prices, offline, with --api-prices
overrides), each with its source and date."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from fleetplan.cli import app
from fleetplan.cli.common import api_overrides, print_json, table
from fleetplan.cli.options import json_opt, prices_opt, update_prices_opt
from fleetplan.render.terminal import price_text

api_app = click.Group(
    "api", help="API model prices (from genai-prices, offline).", no_args_is_help=True
)
app.add_command(api_app)


@api_app.command("models")
@click.argument("query", default="", required=False)
@json_opt("as_json")
def api_models(
    query: str,
    as_json: bool,
) -> None:
    """API model names genai-prices knows (name a host's model as provider:model).

    QUERY: Substring to filter on."""
    from fleetplan.catalog.api_prices import known_api_models

    names = [n for n in known_api_models() if query.lower() in n.lower()]
    if as_json:
        print_json(names)
    else:
        for n in names:
            print(n)


@api_app.command("price")
@click.argument("model")
@click.option("--batch/--no-batch", is_flag=True, help="Batch-API prices.")
@prices_opt()
@update_prices_opt()
@json_opt("as_json")
def api_price_cmd(
    model: str,
    batch: bool,
    api_prices: list[Path] | None,
    update_prices: bool,
    as_json: bool,
) -> None:
    """One API model's $/1M input, output and cached-input tokens, tiers and source.

    MODEL: API model, or provider:model."""
    from fleetplan.catalog.api_prices import api_price

    card = api_price(model, batch=batch, overrides=api_overrides(api_prices, update_prices))
    if as_json:
        print_json(asdict(card))
        return

    def rate(x: float | None) -> str:  # every digit of the price: $0.625, not $0.62
        return "not offered" if x is None else f"${price_text(x)}"

    rows = [
        ["input", rate(card.input_usd_per_mtok), card.pricing],
        ["output", rate(card.output_usd_per_mtok), card.pricing],
        ["cached input", rate(card.cached_input_usd_per_mtok), card.pricing],
    ]
    for t in card.tiers:
        start = f"from {t.start_input_tokens:,} input tokens"
        rows += [
            ["input", rate(t.input_usd_per_mtok), start],
            ["output", rate(t.output_usd_per_mtok), start],
        ]
    cols = [("tokens", "left"), ("$/1M tokens", "right"), ("pricing", "left")]
    print(table(f"{card.provider}:{card.model}", cols, rows))
    print(
        f"source: {card.source}, {card.as_of}"
        + (f"; provider's page: {card.pricing_url}" if card.pricing_url else "")
    )
