"""The house rule on module size: no source module over ~400 lines (a larger one is two ideas)."""

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "fleetplan"
MAX_LINES = 400


def test_no_module_over_the_limit():
    over = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not over, f"modules over {MAX_LINES} lines (split them by idea): {over}"
