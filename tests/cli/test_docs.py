"""`fleetplan docs`: the documents the tool's output points at ship inside the package, and
every `fleetplan docs TOPIC` the package mentions is one of them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import fleetplan
from fleetplan.docs import HERE, TOPICS

PACKAGE = Path(fleetplan.__file__).parent
MENTION = re.compile(r"fleetplan docs ([a-z][\w-]*)")


def test_every_topic_has_its_file_and_every_file_is_a_topic():
    assert {p.stem for p in HERE.glob("*.md")} == set(TOPICS)
    assert HERE.parent == PACKAGE  # inside the package, so a wheel carries it


def test_the_list_names_every_topic(cli):
    r = cli("docs")
    assert r.code == 0, r.err
    for topic, about in TOPICS.items():
        assert re.search(rf"^{topic}\s+{re.escape(about[:30])}", r.out, re.M), topic
    listed = json.loads(cli("docs", "--json").out)
    assert [d["topic"] for d in listed] == list(TOPICS)
    assert all(Path(d["path"]).is_file() for d in listed)


def test_a_topic_prints_its_text_and_path(cli):
    r = cli("docs", "sizing")
    assert r.code == 0, r.err
    assert r.out == (HERE / "sizing.md").read_text(encoding="utf-8")
    assert r.out.startswith("# Sizing and search")
    assert Path(cli("docs", "memory", "--path").out.strip()) == HERE / "memory.md"
    assert Path(cli("docs", "--path").out.strip()) == HERE
    one = json.loads(cli("docs", "simulate", "--json").out)
    assert one["topic"] == "simulate" and one["text"].startswith("# Simulation scenarios")


def test_an_unknown_topic_is_one_line_naming_it_and_the_topics(cli):
    r = cli("docs", "sizng")
    assert r.code == 2 and r.out == ""
    line = r.err.strip()
    assert "\n" not in line and "'sizng'" in line
    assert all(t in line for t in TOPICS)


def test_every_mention_in_the_package_names_a_topic():
    seen = set()
    for path in PACKAGE.rglob("*"):
        if (
            path.suffix not in {".py", ".toml", ".md", ".yaml", ".json"}
            or "__pycache__" in path.parts
        ):
            continue
        for topic in MENTION.findall(path.read_text(encoding="utf-8")):
            assert topic in TOPICS, f"{path.relative_to(PACKAGE)}: `fleetplan docs {topic}`"
            seen.add(topic)
    assert {"memory", "performance", "sizing", "scenario", "simulate"} <= seen


def test_the_outputs_point_at_the_packaged_documents(cli):
    assert "(fleetplan docs memory)" in cli("fit", "llama-3.1-8b", "--gpu", "l4").out
    assert "fleetplan docs performance" in cli("perf", "llama-3.1-8b", "--gpu", "h100").out
    plan = json.loads(cli("plan", "--json").out)
    assert "fleetplan docs sizing" in json.dumps(plan)
