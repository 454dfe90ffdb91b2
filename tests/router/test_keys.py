"""Virtual keys: create → use → over budget → 429 budget_exceeded → revoke → 401; spend per key
held to the request log; FOCUS export per team."""

from __future__ import annotations

import csv
import io
import sqlite3

import openai
import pytest

from conftest import MSG, client, create_key, provider, use_until_refused
from fleetplan.cli import main
from fleetplan.router.keys import KeyStore


def test_key_lifecycle_budget_and_revoke(upstream, gateway, tmp_path, capsys):
    up, srv = upstream("a")
    db = tmp_path / "keys.sqlite"
    # a request here costs (~20 input + 5 output tokens) at $1/$2 per 1M: ~$0.00003
    secret = create_key(
        capsys, db, "--name", "alice", "--team", "search", "--budget-usd-per-month", "0.00005"
    )
    assert secret.startswith("fpk-")
    assert secret not in db.read_bytes().decode("latin-1")  # stored hashed
    _, gs = gateway([provider("a", srv.url)], keys_db=str(db))
    c = client(gs.url, key=secret)
    served, refused = use_until_refused(c)
    assert served >= 1
    assert refused.response.json()["error"]["type"] == "budget_exceeded"
    assert refused.response.headers.get("retry-after")
    assert up.requests == served  # the refused request never reached the upstream
    assert main(["keys", "revoke", "--db", str(db), "alice"]) == 0
    with pytest.raises(openai.AuthenticationError):
        c.chat.completions.create(model="m", messages=MSG)
    assert main(["keys", "usage", "--db", str(db), "--json"]) == 0


def test_key_limits_and_models(upstream, gateway, tmp_path, capsys):
    _, srv = upstream("a")
    db = tmp_path / "keys.sqlite"
    slow = create_key(capsys, db, "--name", "bob", "--rpm", "2")
    narrow = create_key(capsys, db, "--name", "carol", "--models", "n")
    _, gs = gateway([provider("a", srv.url, models={"m": "x", "n": "y"})], keys_db=str(db))
    c = client(gs.url, key=slow)
    c.chat.completions.create(model="m", messages=MSG)
    c.chat.completions.create(model="m", messages=MSG)
    with pytest.raises(openai.RateLimitError) as e:
        c.chat.completions.create(model="m", messages=MSG)
    assert "requests/min" in e.value.message and e.value.response.headers["retry-after"]
    with pytest.raises(openai.PermissionDeniedError):
        client(gs.url, key=narrow).chat.completions.create(model="m", messages=MSG)
    assert client(gs.url, key=narrow).chat.completions.create(model="n", messages=MSG).choices


def test_spend_matches_the_log_and_focus_per_team(upstream, gateway, tmp_path, capsys):
    _, srv = upstream("a")
    db = tmp_path / "keys.sqlite"
    keys = {
        "k1": create_key(capsys, db, "--name", "k1", "--team", "red"),
        "k2": create_key(capsys, db, "--name", "k2", "--team", "red"),
        "k3": create_key(capsys, db, "--name", "k3", "--team", "blue"),
    }
    g, gs = gateway([provider("a", srv.url)], keys_db=str(db))
    for i, (_, secret) in enumerate(sorted(keys.items())):
        c = client(gs.url, key=secret)
        for j in range(3 + i):
            msgs = [{"role": "user", "content": "x" * (10 + 40 * j)}]
            if j % 2:
                list(c.chat.completions.create(model="m", messages=msgs, stream=True))
            else:
                c.chat.completions.create(model="m", messages=msgs)
    g.log.flush()
    g.keys.flush()
    logged = dict(
        sqlite3.connect(g.log.path)
        .execute("SELECT key_id, SUM(cost_usd) FROM requests GROUP BY key_id")
        .fetchall()
    )
    usage = KeyStore(db).usage()
    assert len(usage) == 3
    for row in usage:
        assert row["cost_usd"] == pytest.approx(logged[row["id"]], rel=1e-3)
    out = tmp_path / "focus.csv"
    assert main(["keys", "usage", "--db", str(db), "--focus-csv", str(out), "--by", "team"]) == 0
    lines = list(csv.DictReader(io.StringIO(out.read_text())))
    by_team = {ln["x_LineName"].split()[1]: float(ln["BilledCost"]) for ln in lines}
    red = sum(r["cost_usd"] for r in usage if r["team"] == "red")
    blue = sum(r["cost_usd"] for r in usage if r["team"] == "blue")
    assert by_team == {"red": pytest.approx(red, rel=1e-6), "blue": pytest.approx(blue, rel=1e-6)}
    assert all(ln["ChargeCategory"] == "Usage" and ln["BillingCurrency"] == "USD" for ln in lines)


@pytest.mark.parametrize("where", ["folder", "missing", "not_sqlite"])
def test_an_unusable_keys_db_is_one_line(tmp_path, capsys, where):
    """A folder, a missing folder or a non-SQLite file as --db was a sqlite3 traceback."""
    db = {"folder": tmp_path, "missing": tmp_path / "nodir" / "k.db",
          "not_sqlite": tmp_path / "x.yaml"}[where]  # fmt: skip
    if where == "not_sqlite":
        db.write_text("a: b\n" * 100)
    assert main(["keys", "list", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"keys database {str(db)!r}: " in err, err


@pytest.mark.parametrize("flag", ["--rpm", "--tpm", "--budget-usd-per-month"])
def test_a_key_limit_has_one_accepted_range(tmp_path, capsys, flag):
    """--rpm nan was refused with the generic [-1e15, 1e15] bound and -1 with 'give a number
    above 0' (the budget: nan with [0, 1e12], 0 with 'above 0'): one question, two answers."""
    said = set()
    for value in ("nan", "-1", "0", "inf"):
        rc = main(["keys", "create", "--db", str(tmp_path / "k.db"), "--name", "a", flag, value])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and f"{flag} = " in err, err
        said.add(err.split("accepted: ")[1])
    assert len(said) == 1 and "(0, " in said.pop()


def test_a_blank_key_name_is_refused(tmp_path, capsys):
    """The limits' loop once reused `name` as its variable, so the name checked after it was
    'tpm' and a blank --name was stored."""
    db = tmp_path / "k.db"
    assert main(["keys", "create", "--db", str(db), "--name", "  "]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--name: give a non-empty name" in err, err


@pytest.mark.parametrize("command", [["list"], ["usage"], ["revoke", "key_x"]])
def test_a_read_only_command_never_creates_the_store(tmp_path, capsys, command):
    """`keys list --db nope.db` created an empty database and listed no keys (exit 0)."""
    db = tmp_path / "nope.db"
    assert main(["keys", command[0], "--db", str(db), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--db: keys database {str(db)!r}: no such file" in err, err
    assert not db.exists()


def test_usage_by_names_what_it_accepts(tmp_path, capsys):
    """--by nope exited 0: it was only looked at with --focus-csv."""
    db = str(tmp_path / "k.db")
    assert main(["keys", "create", "--db", db, "--name", "a"]) == 0
    capsys.readouterr()
    assert main(["keys", "usage", "--db", db, "--by", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'nope' is not one of 'key', 'team'" in err, err


def test_usage_by_team_sums_each_teams_keys_in_the_table_and_json(tmp_path, capsys):
    """`keys usage --by team` once changed only the FOCUS export; the table and JSON went on
    listing keys. Each team's keys are summed per month; keys without a team are one line."""
    import json
    import time

    db = tmp_path / "keys.sqlite"
    store = KeyStore(db)
    made = {n: store.create(n, team)[0] for n, team in
            (("k1", "red"), ("k2", "red"), ("k3", "blue"), ("k4", ""))}  # fmt: skip
    store.start()
    now = time.time()
    for name, usd, tin, tout in (("k1", 0.5, 10, 2), ("k2", 0.25, 30, 4), ("k3", 1.0, 5, 1),
                                 ("k1", 0.125, 1, 1), ("k4", 2.0, 7, 3)):  # fmt: skip
        store.charge(made[name].id, now, usd, tin, tout)
    store.flush()
    store.close()
    assert main(["keys", "usage", "--db", str(db), "--by", "team", "--json"]) == 0
    lines = {g["team"]: g for g in json.loads(capsys.readouterr().out)}
    assert set(lines) == {"red", "blue", "(no team)"}
    assert lines["red"]["keys"] == 2 and lines["red"]["requests"] == 3
    assert lines["red"]["cost_usd"] == pytest.approx(0.875)
    assert (lines["red"]["input_tokens"], lines["red"]["output_tokens"]) == (41, 7)
    assert lines["(no team)"]["cost_usd"] == pytest.approx(2.0)
    assert main(["keys", "usage", "--db", str(db), "--by", "team"]) == 0
    table = capsys.readouterr().out
    assert "per team" in table and "$0.875000" in table and "k1" not in table
    assert main(["keys", "usage", "--db", str(db)]) == 0  # per key, as before
    assert "k1" in capsys.readouterr().out
