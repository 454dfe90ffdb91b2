"""`fleetplan docs [TOPIC]`: the documentation shipped inside the package."""

from __future__ import annotations

import sys

import click

from fleetplan.cli import app
from fleetplan.cli.common import print_json, table
from fleetplan.cli.options import json_opt
from fleetplan.docs import HERE, TOPICS, path, text

COLUMNS = [("topic", "left"), ("about", "left")]


@app.command("docs")
@click.argument("topic", required=False, metavar="[TOPIC]", type=click.Choice(list(TOPICS)))
@click.option(
    "--path",
    "show_path",
    is_flag=True,
    help="Print where the topic's file is (the folder without TOPIC).",
)
@json_opt("as_json")
def docs(topic: str | None, show_path: bool, as_json: bool) -> None:
    """The documentation the tool's output points at: without TOPIC the topics, with one its
    Markdown text (`fleetplan docs sizing | less`)."""
    if topic is None and show_path and not as_json:
        print(HERE)
        return
    if topic is None:
        if as_json:
            print_json([{"topic": t, "about": a, "path": str(path(t))} for t, a in TOPICS.items()])
            return
        rows = [[t, a] for t, a in TOPICS.items()]
        print(table("Documentation: fleetplan docs TOPIC prints one", COLUMNS, rows))
        return
    if as_json:
        print_json({"topic": topic, "about": TOPICS[topic], "path": str(path(topic)),
                    "text": text(topic)})  # fmt: skip
    elif show_path:
        print(path(topic))
    else:
        sys.stdout.write(text(topic))
