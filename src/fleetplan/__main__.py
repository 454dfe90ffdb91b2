"""`python -m fleetplan` runs the CLI."""

from fleetplan.cli import run

run()
