"""Every `$ fleetplan ...` command shown in the README runs and prints what the README shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCKS = re.findall(r"```text\n\$ (fleetplan [^\n]+)\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize(("command", "shown"), BLOCKS, ids=[c for c, _ in BLOCKS])
def test_readme_command_output_is_current(cli, command, shown):
    r = cli(*shlex.split(command)[1:])
    assert r.code == 0, r.err
    # tables are laid out for the README's width; compare the figures, not the borders
    numbers = re.findall(r"\d[\d,]*\.?\d*", shown)
    got = re.findall(r"\d[\d,]*\.?\d*", r.out)
    assert numbers and numbers == got[: len(numbers)]


def test_readme_has_the_two_commands():
    text = README.read_text()
    assert "pip install -e . && fleetplan plan" in text
    assert "pip install -e '.[test]' && python -m pytest" in text
